package filter

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Action is what the kernel does with a system call: a SECCOMP_RET_* value,
// with its data (the errno of Errno, the message of Trace) in the low 16
// bits.
type Action uint32

// The actions without data. When rules with different actions match the
// same call, the kernel's precedence decides (see the package
// documentation); it is the order of this list, strongest first.
const (
	// KillProcess kills the whole process, as by an uncatchable SIGSYS (Linux 4.14).
	KillProcess Action = unix.SECCOMP_RET_KILL_PROCESS
	// KillThread kills the calling thread only (libseccomp's SCMP_ACT_KILL).
	// Other threads of the process go on running, which few programs expect.
	KillThread Action = unix.SECCOMP_RET_KILL_THREAD
	// Trap sends the calling thread a SIGSYS, which it may catch.
	Trap Action = unix.SECCOMP_RET_TRAP
	// Notify suspends the call and queues it on the filter's listener (Linux
	// 5.0), for a supervisor to answer. Without a listener the call fails
	// with ENOSYS.
	Notify Action = unix.SECCOMP_RET_USER_NOTIF
	// Log allows the call and logs it (Linux 4.14).
	Log Action = unix.SECCOMP_RET_LOG
	// Allow lets the kernel run the call.
	Allow Action = unix.SECCOMP_RET_ALLOW
)

const (
	retErrno    = unix.SECCOMP_RET_ERRNO
	retTrace    = unix.SECCOMP_RET_TRACE
	maxErrno    = 4095 // the kernel's MAX_ERRNO
	actionMask  = unix.SECCOMP_RET_ACTION_FULL
	dataMask    = unix.SECCOMP_RET_DATA
	errnoAction = Action(retErrno)
)

// Errno fails the call with the error e without running it: the call
// returns -1 and errno is e. e must be in 1..4095; Errno(0) makes the call
// return 0 without running it. Rules with a larger e are refused by Add,
// AddIf and Assemble.
func Errno(e syscall.Errno) Action {
	if e > dataMask {
		e = dataMask // out of range, reported by valid
	}
	return Action(retErrno | uint32(e))
}

// Trace hands the call to a ptrace tracer (PTRACE_EVENT_SECCOMP with msg);
// without a tracer the call fails with ENOSYS.
func Trace(msg uint16) Action {
	return Action(retTrace | uint32(msg))
}

// kind returns the action without its data.
func (a Action) kind() Action { return a & actionMask }

// data returns the action's 16 bits of data.
func (a Action) data() uint32 { return uint32(a) & dataMask }

// strength orders actions by the kernel's precedence: a smaller value wins.
// The kernel compares the action part as a signed 32-bit number.
func (a Action) strength() int32 { return int32(a.kind()) }

// valid reports an error for an Action that is not one of the kernel's.
func (a Action) valid() error {
	switch a.kind() {
	case KillProcess, KillThread, Notify, Log, Allow:
		if a.data() != 0 {
			return fmt.Errorf("filter: action %#x: %s takes no data", uint32(a), a.kind())
		}
	case Trap, Action(retTrace):
	case errnoAction:
		if a.data() > maxErrno {
			return fmt.Errorf("filter: errno %d out of range (0..%d)", a.data(), maxErrno)
		}
	default:
		return fmt.Errorf("filter: unknown action %#x", uint32(a))
	}
	return nil
}

// String returns the action's name: "allow", "notify", "errno(EPERM)",
// "trace(5)".
func (a Action) String() string {
	switch a.kind() {
	case KillProcess:
		return "kill_process"
	case KillThread:
		return "kill_thread"
	case Trap:
		if a.data() != 0 {
			return fmt.Sprintf("trap(%d)", a.data())
		}
		return "trap"
	case Notify:
		return "notify"
	case Log:
		return "log"
	case Allow:
		return "allow"
	case errnoAction:
		e := syscall.Errno(a.data())
		if name := unix.ErrnoName(e); name != "" && a.data() != 0 {
			return "errno(" + name + ")"
		}
		return fmt.Sprintf("errno(%d)", a.data())
	case Action(retTrace):
		return fmt.Sprintf("trace(%d)", a.data())
	}
	return fmt.Sprintf("action(%#x)", uint32(a))
}
