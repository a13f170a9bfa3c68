#!/usr/bin/env bash
# Builds everything the demo and the end-to-end tests run into bin/:
# our Caddy, and the pinned faas-cli, OpenFaaS gateway, in-memory
# provider and go-sdk client (e2e/stack.sh, which also installs the IdP's
# npm packages).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${1:-bin}
mkdir -p "$BIN"
echo "build.sh: building caddy (with fed_oidc)" >&2
go build -o "$BIN/caddy" ./cmd/caddy
e2e/stack.sh build "$BIN"
