//go:build tools

// Package tools pins the etcd server so that
// `go build go.etcd.io/etcd/server/v3` from this module builds the version
// in go.mod, checked against the committed go.sum.
package tools

import _ "go.etcd.io/etcd/server/v3"
