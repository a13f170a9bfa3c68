//go:build tools

// Package tools pins k8s.io/kubernetes so that
// `go build k8s.io/kubernetes/cmd/kube-apiserver` from this module builds
// the version in go.mod, checked against the committed go.sum.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
