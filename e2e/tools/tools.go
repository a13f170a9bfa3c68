//go:build tools

package tools

// Blank imports keep the pinned versions of these commands in go.mod and
// go.sum across `go mod tidy`; they are built with `go build <pkg>` by
// ../stack.sh.
import (
	_ "github.com/openfaas/faas-cli"
	_ "github.com/openfaas/faas/gateway"
)
