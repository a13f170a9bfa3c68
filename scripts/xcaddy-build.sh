#!/usr/bin/env bash
# Builds our Caddy the way plugin users do, with xcaddy, from this
# checkout: scripts/xcaddy-build.sh [output]. GOPROXY gets an "|off"
# fallback so the local module is taken from the replace xcaddy writes
# rather than looked up on the network (where it would not be found).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=$(realpath -m "${1:-bin/caddy-xcaddy}")
caddy_version=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
proxy=$(go env GOPROXY)
(cd "$work" && GOPROXY="${proxy%%,*}|off" \
	go run github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5 build "$caddy_version" \
	--with "github.com/caddy-fedauth/caddy-fedauth=$OLDPWD" --output "$out")
"$out" list-modules | grep -qx 'http.handlers.fed_oidc' || { echo "xcaddy build lacks fed_oidc" >&2; exit 1; }
echo "xcaddy-build.sh: built $out with http.handlers.fed_oidc"
