package seccompstream

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/kernel"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// An AddFDOption changes how AddFD and RespondFD install a file descriptor
// in the target. Build them with TargetFD and CloseOnExec.
type AddFDOption struct {
	kind  uint8
	value int
}

const (
	optTargetFD uint8 = iota + 1
	optCloseOnExec
)

// TargetFD installs the file descriptor at number n in the target
// (SECCOMP_ADDFD_FLAG_SETFD), replacing whatever file the target had open
// there, as dup2 does. n must be below the target's RLIMIT_NOFILE.
// Default: the lowest free number in the target, as open(2) would pick.
func TargetFD(n int) AddFDOption { return AddFDOption{kind: optTargetFD, value: n} }

// CloseOnExec sets O_CLOEXEC on the installed file descriptor, so the target
// does not pass it on through execve. Default: not set (as the kernel
// installs it; the target's own open would have set it only if asked).
func CloseOnExec() AddFDOption { return AddFDOption{kind: optCloseOnExec} }

func (n *Notification) addFDArgs(fd int, opts []AddFDOption) (unotify.AddFD, error) {
	a := unotify.AddFD{ID: n.ID}
	if fd < 0 || int64(fd) > int64(^uint32(0)>>1) {
		return a, fmt.Errorf("seccompstream: AddFD: invalid source file descriptor %d: %w", fd, unix.EBADF)
	}
	a.SrcFD = uint32(fd)
	for _, o := range opts {
		switch o.kind {
		case optTargetFD:
			if o.value < 0 || int64(o.value) > int64(^uint32(0)>>1) {
				return a, fmt.Errorf("seccompstream: AddFD: invalid target file descriptor %d: %w", o.value, unix.EBADF)
			}
			a.Flags |= unotify.AddFDFlagSetFD
			a.NewFD = uint32(o.value)
		case optCloseOnExec:
			a.NewFDFlags |= unix.O_CLOEXEC
		default:
			return a, fmt.Errorf("seccompstream: AddFD: zero AddFDOption (build one with TargetFD or CloseOnExec): %w", unix.EINVAL)
		}
	}
	return a, nil
}

// AddFD installs a copy of the supervisor's file descriptor fd in the
// target (SECCOMP_IOCTL_NOTIF_ADDFD, Linux 5.9) and returns its number in
// the target. The notification stays pending: answer it afterwards, for
// example with Return of that number, or use (*Stream).RespondFD to do both.
// fd stays open in the supervisor and belongs to the caller.
//
// Errors:
//   - ErrGone when the notification is no longer pending (the target died,
//     its call was interrupted, or n was answered);
//   - an error matching unix.EMFILE when the target has no free file
//     descriptor under its RLIMIT_NOFILE; the notification still waits and
//     can be answered (Error(err) answers EMFILE);
//   - an error matching unix.EBADF when fd is not open in the supervisor, or
//     when the TargetFD number is not below the target's RLIMIT_NOFILE;
//   - an error matching ErrNotSupported on kernels before 5.9.
//
// AddFD itself is safe under signals to the supervisor: an interrupted
// request is withdrawn and retried, never installed twice.
func (n *Notification) AddFD(fd int, opts ...AddFDOption) (int, error) {
	if n == nil {
		return -1, errNilNotification
	}
	if n.s == nil {
		return -1, fmt.Errorf("seccompstream: AddFD: notification %d: %w", n.ID, ErrWrongStream)
	}
	if n.state.load() == notifAnswered {
		// No longer pending, whether or not the target has moved on
		// (the kernel says EINPROGRESS until it has, ENOENT after).
		return -1, ErrGone
	}
	a, err := n.addFDArgs(fd, opts)
	if err != nil {
		return -1, err
	}
	r, err := n.s.addFD(n, &a)
	if err == ErrAlreadyAnswered {
		// Answered through another copy of n: no longer pending, as above.
		err = ErrGone
	}
	return r, err
}

// addFD issues one ADDFD request (retried when a signal interrupts it).
//
// Retrying is correct: when the wait is interrupted, the kernel takes the
// request back off the target's queue unless the target already handled it,
// and in that case returns the handled result instead of an error.
func (s *Stream) addFD(n *Notification, a *unotify.AddFD) (int, error) {
	// Block the signals that can be blocked while the request waits for
	// the target: every signal makes the kernel withdraw the request and
	// the call start over, which under a storm of signals (SIGURG, SIGCHLD
	// from many children) costs a round trip to the target each time.
	// Pending signals are delivered when the mask is restored.
	runtime.LockOSThread()
	var old unix.Sigset_t
	masked := unix.PthreadSigmask(unix.SIG_BLOCK, &allSignals, &old) == nil
	r, err := s.ioctl(reqAddFD, func(fd int) (int, error) { return unotify.AddFDIoctl(fd, a) })
	if masked {
		_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return -1, addFDError(n, a, err)
	}
	return r, nil
}

// allSignals is the full signal set (the kernel ignores SIGKILL and SIGSTOP
// in it). It is never written.
var allSignals = func() (set unix.Sigset_t) {
	for i := range set.Val {
		set.Val[i] = ^set.Val[i]
	}
	return set
}()

// addFDError explains an errno from ioctl's ADDFD in terms of the call's
// inputs; the package's errors pass through.
func addFDError(n *Notification, a *unotify.AddFD, err error) error {
	switch err {
	case unix.EMFILE:
		return fmt.Errorf("seccompstream: AddFD: target %d has no free file descriptor (its RLIMIT_NOFILE is exhausted): %w", n.PID, err)
	case unix.EBADF:
		if a.Flags&unotify.AddFDFlagSetFD != 0 {
			return fmt.Errorf("seccompstream: AddFD: target fd %d is not below target %d's RLIMIT_NOFILE, or fd %d is not open in the supervisor: %w", a.NewFD, n.PID, a.SrcFD, err)
		}
		return fmt.Errorf("seccompstream: AddFD: fd %d is not open in the supervisor: %w", a.SrcFD, err)
	case unix.EINVAL, unix.ENOTTY:
		if f, perr := kernel.Probe(); perr == nil && !f.AddFD {
			return fmt.Errorf("seccompstream: AddFD: %w", &kernel.UnsupportedFeatureError{Name: "SECCOMP_IOCTL_NOTIF_ADDFD", MinimumVersion: kernel.VersionAddFD})
		}
	}
	if _, ok := err.(unix.Errno); !ok {
		return err
	}
	return fmt.Errorf("seccompstream: ioctl(SECCOMP_IOCTL_NOTIF_ADDFD, id %d, fd %d, flags %#x): %w", a.ID, a.SrcFD, a.Flags, err)
}

// RespondFD answers n by installing a copy of the supervisor's file
// descriptor fd in the target and making it the call's return value, as an
// open(2) emulated by the supervisor would. It returns the number the target
// received. fd stays open in the supervisor and belongs to the caller.
// Options and errors are those of (*Notification).AddFD; once the
// descriptor is installed, the answer's errors are those of Respond.
//
// RespondFD installs the descriptor (ADDFD) and then answers with its number
// (SEND), in two steps, on every kernel. The kernel's one-step form,
// SECCOMP_ADDFD_FLAG_SEND (Linux 5.14), is not used: when a signal
// interrupts the supervisor's thread at the wrong moment (and Go delivers
// SIGURG to its threads all the time), that form can complete the target's
// call with the value 0 and no descriptor installed, and the supervisor
// cannot tell. The two-step form has no such window: an interrupted ADDFD
// is retried, and the call stays pending until SEND.
//
// That holds for signals no mask can block as well (SIGSTOP from a
// debugger or job control, a cgroup freezer): the one-step form run with
// every signal blocked still hands out bogus zeros under a stop/continue
// storm, the two-step form none (see TestRespondFDStopStorm). While ADDFD
// waits for the target, RespondFD blocks the blockable signals on its
// (briefly locked) thread, so that a flood of them cannot make the request
// start over and over; they are delivered right after.
//
// The cost of two steps: if the target is interrupted (signalled) between
// them, the answer fails with ErrGone and the installed descriptor remains
// open in the target, which never learns its number; with SA_RESTART the
// call comes back as a new notification, as for any interrupted call.
// Filters installed with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux
// 5.19; Start sets it by default, see WithWaitKillableRecv) close that
// window for non-fatal signals. Measured: a Go target whose calling thread
// got about 5,000 signals a second was left with an orphaned descriptor
// after 7 to 9% of its calls without the flag, and after none of 600,000
// with it (TestStartRespondFDSignalledTarget; an earlier campaign saw about
// 2% under 6,000 signals a second to its targets; see BENCHMARKS.md).
func (s *Stream) RespondFD(n *Notification, fd int, opts ...AddFDOption) (int, error) {
	if err := s.claim(n); err != nil {
		return -1, err
	}
	a, err := n.addFDArgs(fd, opts)
	if err != nil {
		n.unclaim()
		return -1, err
	}
	r, err := s.addFD(n, &a)
	if err != nil {
		n.release(err)
		return -1, err
	}
	err = s.send(&unotify.Resp{ID: n.ID, Val: int64(r)})
	n.release(err)
	if err != nil {
		return -1, reqSend.wrap(err)
	}
	return r, nil
}
