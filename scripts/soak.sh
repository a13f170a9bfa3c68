#!/usr/bin/env bash
# Soak test: steady load through the Caddy binary built from this checkout
# (fed_oidc + reverse_proxy) while the issuer (the real oidc-provider)
# rotates its keys and goes down and comes back, the gateway credential
# rotates by the kubelet's symlink swap, and the config is reloaded every
# 30 s. Prints progress every 30 s, a report, and PASS or FAIL (exit 1).
# Everything binds 127.0.0.1. Arguments go to the tool, e.g.:
#
#   scripts/soak.sh                    # 10 minutes
#   scripts/soak.sh -duration 90s -token-ttl 30s -outage 10s
#   scripts/soak.sh -keep              # keep the logs and configs
#
# See scripts/soak/main.go for the flags. Needs Go and Node/npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p bin
echo "soak.sh: building ./cmd/caddy -> bin/caddy" >&2
go build -o bin/caddy ./cmd/caddy
e2e/stack.sh idp
exec go run ./scripts/soak -bin bin "$@"
