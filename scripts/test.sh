#!/usr/bin/env bash
# Runs every test: unit and in-process Caddy tests (with the race
# detector), short fuzz runs, and the end-to-end tests against the built
# binaries (our Caddy, the real oidc-provider, OpenFaaS gateway and
# faas-cli). Needs Go and Node/npm; everything else it builds or installs.
# FUZZTIME (default 15s) sets the length of each fuzz run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build.sh bin
# The xcaddy build users make must keep working.
scripts/xcaddy-build.sh bin/caddy-xcaddy
export FEDAUTH_E2E_BIN=$PWD/bin

go test -count=1 -race ./...

for target in FuzzClassifyPath FuzzVerifyToken FuzzParseHeader; do
	go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-15s}" ./caddyfedauth/
done

# The benchmarks run once, briefly, so they keep compiling and passing;
# scripts/bench.sh runs them for real.
go test -run '^$' -bench . -benchtime 100x ./caddyfedauth/
