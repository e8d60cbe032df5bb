package redistest

import "syscall"

// sysProcAttr kills the server with the test binary, so that a crashed or
// killed test leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
