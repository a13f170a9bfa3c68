#!/usr/bin/env bash
# run.sh [go test flags] — check the rendered manifests against a real
# kube-apiserver backed by a real etcd: build both (pinned in tools/go.mod
# and etcd/go.mod, from the Go module proxy) into <repo>/bin if missing or
# stale, then `go test ./...` here. Nothing is installed on the system.
#
# Env: MANIFESTS  the YAML to check (default ../manifests/caddy-fedauth.yaml,
#                 relative to this directory; a relative path given here is
#                 taken from the caller's directory)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
started=$(date +%s)

if [ -n "${MANIFESTS:-}" ]; then
	MANIFESTS=$(realpath -m "$MANIFESTS")
	export MANIFESTS
fi

# build_pinned NAME MODULE PACKAGE [LDFLAGS]: build <repo>/bin/NAME from
# the pin in the module at MODULE, unless the binary's stamp names that
# pin already, so a bump of go.mod rebuilds it instead of testing an old
# binary.
build_pinned() {
	local name=$1 mod=$2 pkg=$3 ldflags=${4:-}
	local out=$repo/bin/$name pin t0
	pin=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -d' ' -f1)
	if [ -x "$out" ] && [ "$(cat "$out.pin" 2>/dev/null)" = "$pin" ]; then
		return
	fi
	echo "run.sh: building $name (minutes on 2 cores from cold caches)" >&2
	t0=$(date +%s)
	mkdir -p "$repo/bin"
	(cd "$mod" && go build -mod=readonly -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg")
	mv "$out.tmp" "$out"
	echo "$pin" >"$out.pin"
	echo "run.sh: built $name in $(($(date +%s) - t0))s: $("$out" --version | head -n1)" >&2
}

# Without these, --version says v0.0.0-master like any plain go build.
v=$(cd "$here/tools" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=${v#v1.}
minor=${minor%%.*}
pkg=k8s.io/component-base/version
build_pinned kube-apiserver "$here/tools" k8s.io/kubernetes/cmd/kube-apiserver \
	"-X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
build_pinned etcd "$here/etcd" go.etcd.io/etcd/server/v3
export KUBE_APISERVER=$repo/bin/kube-apiserver ETCD=$repo/bin/etcd

# The test starts and stops the daemons itself; this trap only catches the
# case where go test kills the test binary (timeout) before it can.
workdir=$(mktemp -d "${TMPDIR:-/tmp}/kube-apiserver-harness-XXXXXX")
cleanup() {
	local rc=$?
	if [ "$rc" = 0 ]; then
		"$here/stop.sh" "$workdir"
	else
		"$here/stop.sh" "$workdir" --keep-logs
	fi
	echo "run.sh: total $(($(date +%s) - started))s" >&2
	exit "$rc"
}
trap cleanup EXIT

cd "$here"
# -count=1: the result depends on the manifests and the binary, which go
# test's cache does not fully track.
KUBE_HARNESS_DIR=$workdir go test -count=1 "$@" ./...
