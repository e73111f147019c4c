package unotify

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// RacyInt32 is an int32 that one thread stores to and another polls, for
// the launcher's filtered thread, which must make no system call. Its
// methods are never inlined, so every Load reads memory; the race detector
// does not instrument them (go:norace), since under -race sync/atomic
// calls into the race runtime, which can wait on a futex when the other
// thread touches the same variable; and they have no stack-check prologue
// (go:nosplit), which would be a preemption point: a goroutine preempted
// there goes through the scheduler, which makes futex calls. An aligned
// 32-bit store or load is single-copy atomic on every architecture Go runs
// on, and the Go memory model lets a racy load of a word observe only
// values some store wrote. Use it for nothing else.
type RacyInt32 struct{ v int32 }

// Store sets the value.
//
//go:norace
//go:nosplit
//go:noinline
func (w *RacyInt32) Store(v int32) { w.v = v }

// Load returns the value.
//
//go:norace
//go:nosplit
//go:noinline
func (w *RacyInt32) Load() int32 { return w.v }

// InstallAndExecveat installs the program fprog on the calling thread with
// the SECCOMP_FILTER_FLAG_* flags, stores the listener fd it got (if any)
// in listener, and calls execveat(dirfd, path, argv, envp, 0). dirfd is
// passed as a full 64-bit register: the kernel reads only its low 32 bits.
// It returns only when the install fails, with seccomp(2)'s errno. If the
// execveat fails, it stores the errno in execErrno and spins for ever: the
// caller's other thread must report it and end the process.
//
// Everything after the install happens in this function, which the race
// detector does not instrument (go:norace, as syscall.RawSyscall is), and
// nothing after the install is a preemption point: the two calls are raw
// (no runtime bookkeeping) and nosplit, the stores go through RacyInt32,
// and the spinning calls only spin, which is nosplit too. So the thread
// makes no system call under the new filter but the execveat, and the
// listener is published before anything else can happen. (Before this
// was so, a race-enabled launcher was seen preempted at the call that
// stored the listener: the scheduler's futex was notified while the
// parent still waited for the listener, and both hung.) argv and envp
// must end with a nil pointer.
//
//go:norace
func InstallAndExecveat(fprog *SockFprog, flags uintptr, listener, execErrno *RacyInt32, dirfd uint64, path *byte, argv, envp []*byte) (installErr unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(fprog)))
	if e != 0 {
		return e
	}
	listener.Store(int32(r))
	_, _, e = unix.RawSyscall6(unix.SYS_EXECVEAT, uintptr(dirfd), uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envp[0])), 0, 0)
	execErrno.Store(int32(e))
	for {
		spin()
	}
}

// spin does nothing, in a call that cannot be a preemption point: after a
// failed execveat the thread spins in it, making no system call, until the
// helper thread reports the failure and ends the process.
//
//go:norace
//go:nosplit
//go:noinline
func spin() {}

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
