package harness

import "syscall"

// procAttr puts a child in its own process group (a terminal's Ctrl-C
// reaches only the parent, which then stops children in order) and, on
// Linux, has the kernel send it SIGTERM if the parent dies first, so a
// killed test or demo does not leave a homeserver running.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
