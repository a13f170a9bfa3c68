#!/usr/bin/env bash
# Builds the end-to-end test stack. See e2e/README.md for how to run it.
#
#   e2e/stack.sh build <bindir>   build faas-cli, gateway, fakeprovider and
#                                 gosdk-e2e into <bindir>; npm ci in e2e/idp
#                                 if needed
#   e2e/stack.sh idp              only the npm ci in e2e/idp, if needed
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS_DIR=$E2E_DIR/tools
IDP_DIR=$E2E_DIR/idp
GOSDK_DIR=$E2E_DIR/gosdk

FAAS_CLI_VERSION=0.17.0
GATEWAY_MODULE=github.com/openfaas/faas/gateway
GO_SDK_VERSION=v0.2.18 # pinned in gosdk/go.mod; why not v0.2.19: README.md

usage() {
	echo "usage: $0 build <bindir> | idp" >&2
	exit 2
}

# Runs in a subshell so that the EXIT trap removes its temporary directory.
build_gateway() (
	bindir=$1
	cd "$TOOLS_DIR"
	go mod download "$GATEWAY_MODULE"
	moddir=$(go list -m -f '{{.Dir}}' "$GATEWAY_MODULE")
	version=$(go list -m -f '{{.Version}}' "$GATEWAY_MODULE")
	gover=$(go list -m -f '{{.GoVersion}}')
	work=$(mktemp -d)
	trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT

	# Upstream listens on ":8080" and ":8082" (every interface, fixed ports).
	# Build a copy of the pinned module source whose main.go calls
	# e2eListenAddr (gatewaypatch/e2e_listen.go.in) instead: 127.0.0.1 by
	# default, E2E_GATEWAY_ADDR / E2E_GATEWAY_METRICS_ADDR to move it. A
	# temporary go.work replaces the module by the copy, so every dependency
	# version is still the one of tools/go.mod and tools/go.sum.
	cp -R "$moddir" "$work/gateway"
	chmod -R u+w "$work/gateway"
	sed -i -e 's/fmt\.Sprintf(":%d", tcpPort)/e2eListenAddr("E2E_GATEWAY_ADDR", tcpPort)/' \
		-e 's/fmt\.Sprintf(":%d", port)/e2eListenAddr("E2E_GATEWAY_METRICS_ADDR", port)/' \
		"$work/gateway/main.go"
	n=$(grep -c 'e2eListenAddr("E2E_GATEWAY_' "$work/gateway/main.go" || true)
	if [ "$n" != 2 ]; then
		echo "stack.sh: could not patch the gateway's listen addresses (matched $n of 2)" >&2
		exit 1
	fi
	cp "$TOOLS_DIR/gatewaypatch/e2e_listen.go.in" "$work/gateway/e2e_listen.go"
	printf 'go %s\n\nuse %s\n\nreplace %s => %s\n' \
		"$gover" "$TOOLS_DIR" "$GATEWAY_MODULE" "$work/gateway" >"$work/go.work"

	GOWORK="$work/go.work" go build \
		-ldflags "-X $GATEWAY_MODULE/version.Version=$version" \
		-o "$bindir/gateway" "$GATEWAY_MODULE"
)

idp() {
	if [ ! -d "$IDP_DIR/node_modules" ]; then
		echo "stack.sh: npm ci in $IDP_DIR" >&2
		(cd "$IDP_DIR" && npm ci --no-audit --no-fund)
	fi
}

build() {
	[ $# -eq 1 ] || usage
	mkdir -p "$1"
	local bindir
	bindir=$(cd "$1" && pwd)

	echo "stack.sh: building fakeprovider" >&2
	(cd "$TOOLS_DIR" && go build -o "$bindir/fakeprovider" ./fakeprovider)

	echo "stack.sh: building faas-cli $FAAS_CLI_VERSION" >&2
	(cd "$TOOLS_DIR" && go build \
		-ldflags "-X github.com/openfaas/faas-cli/version.Version=$FAAS_CLI_VERSION" \
		-o "$bindir/faas-cli" github.com/openfaas/faas-cli)

	echo "stack.sh: building gateway" >&2
	build_gateway "$bindir"

	echo "stack.sh: building gosdk-e2e (go-sdk $GO_SDK_VERSION)" >&2
	(cd "$GOSDK_DIR" && go build -o "$bindir/gosdk-e2e" .)

	idp
	echo "stack.sh: built $bindir/faas-cli $bindir/gateway $bindir/fakeprovider $bindir/gosdk-e2e" >&2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
build) build "$@" ;;
idp) idp ;;
*) usage ;;
esac
