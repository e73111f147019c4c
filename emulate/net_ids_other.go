//go:build linux && !386 && !arm

package emulate

import "golang.org/x/sys/unix"

// Raw: the wrappers of package syscall change every thread of the process.
const (
	sysSetresuid = unix.SYS_SETRESUID
	sysSetresgid = unix.SYS_SETRESGID
)
