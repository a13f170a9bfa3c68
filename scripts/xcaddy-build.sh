#!/usr/bin/env bash
# Builds our Caddy the way plugin users do, with xcaddy, from this
# checkout: scripts/xcaddy-build.sh [output]. The Dockerfile runs it too.
# GOPROXY gets an "|off" fallback so the local module is taken from the
# replace xcaddy writes rather than looked up on the network (where it
# would not be found). $VERSION (default: git describe, else "devel") is
# stamped into the module; GOOS/GOARCH cross-compile as usual.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=$(realpath -m "${1:-bin/caddy-xcaddy}")
caddy_version=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
proxy=$(go env GOPROXY)
# xcaddy's own defaults (-w -s, -trimpath, the tags), plus the version.
flags="-trimpath -tags nobadger,nomysql,nopgx -ldflags '-w -s -X github.com/caddy-fedauth/caddy-fedauth/caddyfedauth.Version=$version'"
src=$PWD
# xcaddy runs its helper go commands for the host: build it first, then
# let GOOS/GOARCH reach only the final build.
GOOS='' GOARCH='' GOBIN="$work" go install github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5
xcaddy="$work/xcaddy"
(cd "$work" && GOPROXY="${proxy%%,*}|off" XCADDY_GO_BUILD_FLAGS="$flags" \
	"$xcaddy" build "$caddy_version" \
	--with "github.com/caddy-fedauth/caddy-fedauth=$src" --output "$out")
# Check the binary's build info, which works for any target architecture.
go version -m "$out" | grep -q 'caddy-fedauth/caddy-fedauth' || { echo "xcaddy build lacks our module" >&2; exit 1; }
# Go does not record -ldflags under -trimpath: ask the binary when it can
# run here, else look for the stamped string in it.
if [ "$(go env GOARCH)" = "$(GOARCH='' go env GOARCH)" ] && [ "$(go env GOOS)" = "$(GOOS='' go env GOOS)" ]; then
	[ "$("$out" fed-oidc version)" = "fed_oidc $version" ] || { echo "version not stamped" >&2; exit 1; }
else
	grep -qaF -- "$version" "$out" || { echo "version not stamped" >&2; exit 1; }
fi
echo "xcaddy-build.sh: built $out ($(go env GOOS)/$(go env GOARCH), fed_oidc $version)"
