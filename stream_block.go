package seccompstream

import (
	"context"
	"errors"
	"io"
	"os/signal"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/unotify"
)

// Blocking receives (see recvBlocking).
//
// A receiver that waits on its own thread anyway (a hot Stream, or one in
// the dedicated-thread mode while it is busy) can wait in RECV itself
// instead of in ppoll followed by RECV: one system call and one wait
// queue per notification fewer, the difference between the two Go floors
// of the benchmark. RECV cannot be woken on its own: a handled signal
// restarts it (SA_RESTART, Linux 6.18) or makes it return EINTR (6.1),
// and O_NONBLOCK does not apply to it. So the blocking RECV is issued on
// recvfd, a dup of the listener of the Stream's own, and a waker ends it
// by making recvfd another file (dup3 of the wake-up eventfd over it)
// and sending the receiving thread SIGURG, which the Go runtime sends
// its threads itself and tolerates spuriously: the restarted RECV finds
// an eventfd and fails with ENOTTY at once. The receiver puts the
// listener back under the number before its next blocking RECV.
//
// The receiver publishes its thread id (blockTID) before it looks at
// what would end its wait (Close, its context, the reaper, a shared
// file); a waker records what ends the wait before it loads blockTID.
// So either the receiver sees the reason, or the waker sees the thread
// and replaces recvfd, which a RECV not yet issued finds replaced.

// errNoBlock says that a blocking RECV may not be used now: the caller
// waits in ppoll instead.
var errNoBlock = errors.New("seccompstream: no blocking receive")

// recvBlocking waits for one notification in s.buf with a blocking RECV,
// as pollWait does (same results; errTimeout when the reaper ended a
// wait begun with hotState set), or returns errNoBlock when it cannot:
// other Streams of this process share the listener file (their receivers
// poll and then RECV under recvMu, and a blocked RECV could take their
// notification in between), a test injects poll faults (the seam is for
// the poll paths), SIGURG is ignored (signal.Ignore), so that no signal
// could end the wait, or recvfd cannot be made. The caller holds the
// turn.
func (s *Stream) recvBlocking(ctx context.Context) error {
	lf := s.lf
	if lf.shared.Load() || s.faults != nil || signal.Ignored(unix.SIGURG) {
		return errNoBlock
	}
	// The eventfd a waker puts under rfd's number.
	if _, err := s.wakeFD(); err != nil {
		return err
	}
	rfd, ok := s.recvFD()
	if !ok {
		// Out of descriptors, say: ppoll needs none.
		return errNoBlock
	}
	// Under recvMu, like every RECV: a Stream sharing the file from now
	// on waits for it, and kicks s first (see New).
	lf.recvMu.Lock()
	defer lf.recvMu.Unlock()
	s.blocking.Add(1)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s.blockTID.Store(int32(unix.Gettid()))
	defer s.blockTID.Store(0)
	for {
		if s.poisoned.Swap(false) {
			// A waker made rfd the eventfd: the listener again.
			if err := unix.Dup3(s.fd, int(rfd), unix.O_CLOEXEC); err != nil {
				return reqRecv.wrap(err)
			}
		}
		if s.closed.Load() {
			return errClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.hotState.Load()&hotExpired != 0 {
			return errTimeout
		}
		if lf.shared.Load() {
			return errNoBlock
		}
		err := unotify.Recv(int(rfd), &s.buf)
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			// A signal on 6.1, or a waker's: look again.
		case unix.ENOTTY, unix.EBADF:
			// rfd was replaced (ENOTTY: the eventfd) by a waker that
			// may not have said so yet; EBADF cannot happen while the
			// turn is held, but would mean the same.
			s.poisoned.Store(true)
		case unix.ENOENT:
			// Withdrawn before it could be received, or (6.11+) the
			// filter lost its last user: poll says which.
			if s.hungUp() {
				s.eof.Store(true)
				return io.EOF
			}
			s.skipped.Add(1)
		default:
			return reqRecv.wrap(err)
		}
	}
}

// hungUp reports whether the listener says that nothing can notify any
// more (POLLHUP with nothing pending), without waiting.
func (s *Stream) hungUp() bool {
	pfd := [1]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd[:], 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0 && pfd[0].Revents&unix.POLLIN == 0 && pfd[0].Revents&unix.POLLHUP != 0
	}
}

// recvFD returns s.recvfd, made now (a dup of the listener) if this is
// the first blocking wait, or false if it cannot be made. The caller holds
// the turn.
func (s *Stream) recvFD() (int32, bool) {
	if fd := s.recvfd.Load(); fd >= 0 {
		return fd, true
	}
	fd, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, false
	}
	s.recvfd.Store(int32(fd))
	return int32(fd), true
}

// unblockLocked ends a blocking RECV in progress, if there is one (see
// recvBlocking). The caller holds mu (for reading or writing), which
// keeps recvfd and wakefd open.
func (s *Stream) unblockLocked(wakefd int32) {
	if s.blockTID.Load() == 0 {
		return
	}
	rfd := s.recvfd.Load()
	if rfd < 0 {
		return
	}
	_ = unix.Dup3(int(wakefd), int(rfd), unix.O_CLOEXEC)
	s.poisoned.Store(true)
	if tid := s.blockTID.Load(); tid != 0 {
		_ = unix.Tgkill(s.pid, int(tid), unix.SIGURG)
	}
}
