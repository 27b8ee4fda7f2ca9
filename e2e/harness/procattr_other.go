//go:build !linux

package harness

import "syscall"

// procAttr puts a child in its own process group (see procattr_linux.go).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
