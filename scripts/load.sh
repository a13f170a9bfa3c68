#!/usr/bin/env bash
# Compare fed_oidc + reverse_proxy against a plain reverse_proxy under load,
# with the Caddy binary built from this checkout. All traffic stays on
# 127.0.0.1. Arguments go to the tool, e.g.:
#
#   scripts/load.sh -duration 5s -rounds 1
#   scripts/load.sh -json bin/load.json
#
# See scripts/loadcompare/main.go for the flags.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# bin/ is gitignored; a fixed path lets repeated runs reuse the build cache.
mkdir -p bin
bin="$root/bin/caddy-load"
echo "building ./cmd/caddy -> $bin" >&2
go build -o "$bin" ./cmd/caddy

exec go run ./scripts/loadcompare -caddy "$bin" "$@"
