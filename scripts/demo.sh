#!/usr/bin/env bash
# Local end-to-end demo on 127.0.0.1: the real OpenFaaS gateway, a real
# OIDC provider, our Caddy with fed_oidc, and faas-cli. Pass --keep to
# leave it running and try commands yourself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/build.sh bin
exec go run ./e2e/demo -bin bin "$@"
