//go:build tools

// Package tools pins the Helm CLI the chart is linted, rendered and tested
// with. ../helm.sh builds it with `go build helm.sh/helm/v3/cmd/helm` from
// this module, so every machine gets exactly the version in go.mod.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
