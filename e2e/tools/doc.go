// Package tools is the Go module that pins and builds the end-to-end test
// binaries: faas-cli, the real OpenFaaS gateway (see tools.go) and the
// in-memory fake provider (./fakeprovider). See ../README.md.
package tools
