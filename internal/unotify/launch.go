package unotify

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InstallAndExecveat installs the program fprog on the calling thread with
// the SECCOMP_FILTER_FLAG_* flags, stores the listener fd it got (if any)
// in listener, and calls execveat(dirfd, path, argv, envp, 0). dirfd is
// passed as a full 64-bit register: the kernel reads only its low 32 bits.
// It returns only on failure: installErr from seccomp(2), or execErr from
// execveat(2).
//
// Both calls are raw (no runtime bookkeeping around them) and nothing else
// runs in between, so the thread makes no system call under the new filter
// before the execveat. argv and envp must end with a nil pointer.
func InstallAndExecveat(fprog *SockFprog, flags uintptr, listener *atomic.Int32, dirfd uint64, path *byte, argv, envp []*byte) (installErr, execErr unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(fprog)))
	if e != 0 {
		return e, 0
	}
	listener.Store(int32(r))
	_, _, e = unix.RawSyscall6(unix.SYS_EXECVEAT, uintptr(dirfd), uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envp[0])), 0, 0)
	return 0, e
}

// RawNanosleep sleeps in a raw nanosleep(2) (a signal may cut it short).
func RawNanosleep(ts *unix.Timespec) {
	unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(ts)), 0, 0)
}

// RawWriteAndExit writes msg to fd with a raw write(2), then ends the
// process with exit_group(code).
func RawWriteAndExit(fd int, msg []byte, code int) {
	unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)))
	unix.RawSyscall(unix.SYS_EXIT_GROUP, uintptr(code), 0, 0)
}

// Bytes returns the memory of *v as a byte slice (for reading plain,
// pointer-free values from another process into v).
func Bytes[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}
