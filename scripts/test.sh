#!/usr/bin/env bash
# Runs every test: the image's xcaddy build for amd64 and arm64, the Helm
# chart tests, the manifests against a real kube-apiserver, unit and in-process Caddy tests (with the race detector),
# short fuzz runs, and the end-to-end tests against the built binaries
# (our Caddy, the real oidc-provider, OpenFaaS gateway and faas-cli).
# Needs Go and Node/npm; everything else it builds or installs.
# FUZZTIME (default 15s) sets the length of each fuzz run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build.sh bin
# The image's build command (Dockerfile), for both architectures it ships.
for arch in amd64 arm64; do
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch scripts/xcaddy-build.sh "bin/caddy-linux-$arch"
done
# The Helm chart and plain manifests (helm lint, strict decoding, the
# rendered Caddyfile adapted and validated by our binary).
k8s/test.sh
# The rendered manifests against a real kube-apiserver (with etcd, no
# kubelet): strict field validation, and Pod Security "restricted" admits
# a pod from the Deployment's template with no warning.
k8s/apiserver/run.sh
export FEDAUTH_E2E_BIN=$PWD/bin

go test -count=1 -race ./...

for target in FuzzClassifyPath FuzzVerifyToken FuzzParseHeader; do
	go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-15s}" ./caddyfedauth/
done

# A short soak (about 2 min): load through the real Caddy across a key rotation, an issuer outage, credential rotations and reloads.
scripts/soak.sh -duration 90s -token-ttl 30s -outage 10s

# The benchmarks run once, briefly, so they keep compiling and passing;
# scripts/bench.sh runs them for real.
go test -run '^$' -bench . -benchtime 100x ./caddyfedauth/
