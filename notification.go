package seccompstream

import (
	"fmt"
	"sync/atomic"

	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// Notification is one system call that a target made and that waits for an
// answer. Answer it exactly once with (*Stream).Respond or
// (*Stream).RespondFD; until then the target's thread is stopped in the call.
type Notification struct {
	// ID identifies the notification to the kernel. It is unique for the
	// life of the listener; a call that was interrupted and restarted comes
	// back with a new ID.
	ID uint64
	// PID is the thread id of the target as seen from the pid namespace of
	// the supervisor (the task that received the notification); 0 if the
	// target is not visible there.
	PID int
	// Flags is the kernel's seccomp_notif.flags (currently always 0).
	Flags uint32
	// Arch is the AUDIT_ARCH_* value of the call's ABI (e.g.
	// unix.AUDIT_ARCH_X86_64). A 64-bit target can use another ABI (i386
	// through int $0x80 on x86_64), so Syscall must be read with Arch.
	Arch uint32
	// Syscall is the system call number, in Arch's numbering.
	Syscall int32
	// IP is the target's instruction pointer at the call.
	IP uint64
	// Args are the call's six raw arguments.
	Args [6]uint64

	s     *Stream
	state answerState
}

// answerState is where a Notification is in being answered (atomically:
// it is not a sync type, so a Notification may be copied; a copy starts
// from the original's state).
type answerState uint32

const (
	notifPending   answerState = iota // not answered (or the answer failed)
	notifAnswering                    // a Respond or RespondFD is sending
	notifAnswered                     // the kernel took an answer
	notifGone                         // the kernel said the call is gone (ErrGone)
	notifSettled                      // Serve's one answer failed otherwise: not again
)

func (p *answerState) load() answerState {
	return answerState(atomic.LoadUint32((*uint32)(p)))
}

func (p *answerState) CompareAndSwap(old, new answerState) bool {
	return atomic.CompareAndSwapUint32((*uint32)(p), uint32(old), uint32(new))
}

func (p *answerState) store(v answerState) { atomic.StoreUint32((*uint32)(p), uint32(v)) }

// release ends a claim (see (*Stream).claim) with the outcome of the
// answer: err nil, or ErrAlreadyAnswered (someone else answered), leaves n
// answered; ErrGone leaves it gone, so that a later answer is refused
// without a system call; any other error leaves it pending.
func (n *Notification) release(err error) { n.end(err, notifPending) }

// end ends a claim as release does, leaving n in state failed after an
// error other than ErrAlreadyAnswered and ErrGone. Serve, which answers a
// call once and counts its outcome once, passes notifSettled: its stop
// then never claims the call again.
func (n *Notification) end(err error, failed answerState) {
	switch err {
	case nil, ErrAlreadyAnswered:
		n.state.store(notifAnswered)
	case ErrGone:
		n.state.store(notifGone)
	default:
		n.state.store(failed)
	}
}

// unclaim ends a claim that sent nothing.
func (n *Notification) unclaim() { n.state.store(notifPending) }

// Stream returns the Stream that received n, or nil if n was not received
// from a Stream.
func (n *Notification) Stream() *Stream { return n.s }

func (n *Notification) fill(k *unotify.Notif, s *Stream) {
	*n = Notification{
		ID:      k.ID,
		PID:     int(k.PID),
		Flags:   k.Flags,
		Arch:    k.Arch,
		Syscall: k.Nr,
		IP:      k.IP,
		Args:    k.Args,
		s:       s,
	}
}

// SyscallName returns the name of the call in its own architecture's
// numbering ("openat", "mkdir"), or "syscall_N" for a number the tables do
// not know. It does not allocate for known numbers.
func (n *Notification) SyscallName() string {
	if name, ok := sysnames.Name(n.Arch, n.Syscall); ok {
		return name
	}
	return fmt.Sprintf("syscall_%d", n.Syscall)
}

// ArchName returns the name of the call's architecture, e.g. "x86_64".
func (n *Notification) ArchName() string { return sysnames.ArchName(n.Arch) }

// String describes the notification for logs, e.g.
// "id=7 pid=1234 openat(0xffffff9c, 0x7ffd..., 0x0, ...)".
func (n *Notification) String() string {
	return fmt.Sprintf("id=%d pid=%d %s(%#x, %#x, %#x, %#x, %#x, %#x)", n.ID, n.PID, n.SyscallName(),
		n.Args[0], n.Args[1], n.Args[2], n.Args[3], n.Args[4], n.Args[5])
}

// Valid reports whether the notification still waits for an answer
// (SECCOMP_IOCTL_NOTIF_ID_VALID). It turns false when the target is killed
// or its call is interrupted by a signal, and after the notification was
// answered. Use it after reading target state (memory, /proc files) and
// before trusting what was read, since the target's pid may have been reused
// meanwhile. A Notification that did not come from a Stream, or whose
// Stream is closed, is never valid.
func (n *Notification) Valid() bool {
	return n.s != nil && n.state.load() != notifAnswered && n.s.idValid(n.ID) == nil
}
