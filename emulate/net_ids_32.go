//go:build linux && (386 || arm)

package emulate

import "golang.org/x/sys/unix"

// The 32-bit uid calls (the plain ones take 16-bit ids here). Raw: the
// wrappers of package syscall change every thread of the process.
const (
	sysSetresuid = unix.SYS_SETRESUID32
	sysSetresgid = unix.SYS_SETRESGID32
)
