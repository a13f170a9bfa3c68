package main

import "syscall"

// childProcAttr puts Caddy in its own process group, so a terminal Ctrl-C
// reaches only us and we stop Caddy in order after the load has stopped;
// Pdeathsig makes the kernel stop Caddy should we die without cleaning up.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
