// Package apiserver checks rendered Kubernetes manifests against a real
// kube-apiserver (see run.sh): strict field validation on every object, and
// Pod Security admission at "restricted" for every workload's pod template.
// All of it is in the tests; this file only names the package.
package apiserver
