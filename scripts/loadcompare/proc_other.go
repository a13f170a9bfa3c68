//go:build !linux

package main

import "syscall"

// childProcAttr: outside Linux there is no Pdeathsig; Caddy is stopped by
// run's deferred cleanup only.
func childProcAttr() *syscall.SysProcAttr {
	return nil
}
