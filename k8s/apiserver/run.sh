#!/usr/bin/env bash
# run.sh [go test flags] — check the rendered manifests against a real
# kube-apiserver: build it (pinned in tools/go.mod) into <repo>/bin if
# missing or stale, install etcd if missing, then `go test ./...` here.
#
# Env: MANIFESTS  the YAML to check (default ../manifests/caddy-fedauth.yaml,
#                 relative to this directory; a relative path given here is
#                 taken from the caller's directory)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=$repo/bin/kube-apiserver
started=$(date +%s)

if [ -n "${MANIFESTS:-}" ]; then
	MANIFESTS=$(realpath -m "$MANIFESTS")
	export MANIFESTS
fi

# The stamp names the pin the binary was built from, so a bump of
# tools/go.mod rebuilds it instead of testing an old apiserver.
pin=$(cat "$here/tools/go.mod" "$here/tools/go.sum" | sha256sum | cut -d' ' -f1)
if [ ! -x "$bin" ] || [ "$(cat "$bin.pin" 2>/dev/null)" != "$pin" ]; then
	echo "run.sh: building kube-apiserver (about 4 minutes on 2 cores from cold caches)" >&2
	t0=$(date +%s)
	mkdir -p "$repo/bin"
	(
		cd "$here/tools"
		v=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
		minor=${v#v1.}
		minor=${minor%%.*}
		# Without these, --version says v0.0.0-master like any plain go build.
		pkg=k8s.io/component-base/version
		go build -mod=readonly -trimpath \
			-ldflags "-s -w -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
			-o "$bin.tmp" k8s.io/kubernetes/cmd/kube-apiserver
	)
	mv "$bin.tmp" "$bin"
	echo "$pin" >"$bin.pin"
	echo "run.sh: built $("$bin" --version) in $(($(date +%s) - t0))s" >&2
fi

"$here/deps.sh" >/dev/null

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
KUBE_APISERVER=$bin KUBE_HARNESS_DIR=$workdir go test -count=1 "$@" ./...
