#!/usr/bin/env bash
# Tests the Helm chart and the plain manifests: builds the pinned Helm
# (helm.sh) and our Caddy into bin/ at the repository root, lints the chart
# with every ci/ values file, then runs gofmt, go vet and the Go tests of
# this module (k8s/) with HELM and CADDY set. Needs only Go and the module
# proxy. No Kubernetes cluster or kubelet is involved: pods are never run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mkdir -p bin
k8s/helm.sh bin
echo "test.sh: building caddy (with fed_oidc)" >&2
go build -o bin/caddy ./cmd/caddy
export HELM=$root/bin/helm CADDY=$root/bin/caddy

chart=k8s/chart/caddy-fedauth
for values in "$chart"/ci/*.yaml k8s/manifests/values.yaml; do
	"$HELM" lint --strict "$chart" --namespace openfaas --values "$values"
done

cd k8s
unformatted=$(gofmt -l ./*.go tools/*.go)
if [ -n "$unformatted" ]; then
	echo "test.sh: not gofmt'ed: $unformatted" >&2
	exit 1
fi
go vet ./...
go test -count=1 ./...
