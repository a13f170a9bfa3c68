// Package k8s holds the tests of the Helm chart in chart/caddy-fedauth and
// of the plain manifests rendered from it (manifests/caddy-fedauth.yaml).
//
// They render the chart with the pinned Helm (env HELM, built by helm.sh),
// decode every object strictly into the k8s.io/api types, check the pod
// security settings, volumes, probes and Services, and adapt and validate
// each rendered Caddyfile with our Caddy (env CADDY). ./test.sh builds both
// binaries and runs them. No kubelet runs here: pods are never started.
package k8s
