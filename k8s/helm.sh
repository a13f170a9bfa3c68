#!/usr/bin/env bash
# Builds the Helm CLI pinned in tools/go.mod (helm.sh/helm/v3) into
# <bindir>/helm, from the Go module proxy, the way Helm's own Makefile does
# for a release: the version and the default Kubernetes version (from the
# client-go it is built with) are set with -ldflags, so `helm version` and
# .Capabilities.KubeVersion match the official v3.22.0 binaries.
# Does nothing when <bindir>/helm already reports that version.
#   k8s/helm.sh bin
set -euo pipefail
bindir=${1:?usage: k8s/helm.sh <bindir>}
mkdir -p "$bindir"
bindir=$(cd "$bindir" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/tools"

version=$(go list -m -f '{{.Version}}' helm.sh/helm/v3)
if [ -x "$bindir/helm" ] && [ "$("$bindir/helm" version --template '{{.Version}}' 2>/dev/null)" = "$version" ]; then
	echo "helm.sh: $bindir/helm is $version" >&2
	exit 0
fi

# client-go v0.X.Y is Kubernetes 1.X (Helm's Makefile: K8S_MODULES_*_VER).
clientgo=$(go list -m -f '{{.Version}}' k8s.io/client-go)
k8sminor=$(echo "$clientgo" | cut -d. -f2)
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in pkg/lint/rules pkg/chartutil; do
	ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$k8sminor"
done

echo "helm.sh: building helm $version (Kubernetes 1.$k8sminor) into $bindir" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bindir/helm" helm.sh/helm/v3/cmd/helm
"$bindir/helm" version --short >&2
