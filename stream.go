package seccompstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/kernel"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// A Stream receives the notifications of one seccomp listener and answers
// them. Its methods are safe for concurrent use: several goroutines may
// Receive at once (each notification goes to exactly one of them) and any
// goroutine may Respond to any notification.
//
// While its notifications come less than a millisecond apart, a Stream is
// hot: its receiver waits on its own OS thread in the kernel's RECV
// itself, which the kernel wakes directly, and after 0.5 to 1 ms without a
// notification it gives the thread up and waits in the runtime's network
// poller again. At most GOMAXPROCS receivers of a process wait hot at
// once; an idle Stream holds no thread. A Stream that has been hot keeps
// an eventfd and a second descriptor of its listener (both close-on-exec)
// until Close.
//
// RECV cannot be interrupted by a signal alone, so to end a hot wait
// early (its context, Close, the end of its millisecond) a Stream puts the
// eventfd under the second descriptor's number and sends the waiting
// thread SIGURG, as the Go runtime does for preemption: a program that
// handles SIGURG itself (signal.Notify) sees more of them. With SIGURG
// ignored (signal.Ignore), and while Streams over dups of one listener
// share it, a hot receiver waits in ppoll(2) instead, for about 0.6 µs
// more per call.
//
// Streams of one process over dups of one listener fd share the kernel
// turn, so they never race for a notification. A listener whose notifications
// another process also receives can make a Receive block in the kernel's
// RECV until the next notification (the kernel gives RECV no way to wait
// that a signal, a context or Close could interrupt): give each listener to
// one process.
//
// Lock order: the receiver's turn, the reaper's round (see ticker), mu,
// then pmu or listeners.mu; a listenerFile's recvMu only under the turn.
// Close takes none of them before it has woken every waiter.
type Stream struct {
	fd int           // the listener; valid until Close has finished with it
	lf *listenerFile // shared with the open Streams over dups of fd

	// pf is the listener in the runtime poller (see openPoller), with its
	// RawConn; nil while the Stream is hot. The receiver that holds the
	// turn changes them, under pmu; others use pf under pmu.
	pmu sync.Mutex
	pf  *os.File
	prc syscall.RawConn

	cfg  streamConfig
	undo func() // undoes what New did to fd, if New fails after setUp

	closed atomic.Bool
	done   chan struct{} // closed by Close: wakes goroutines waiting for their turn
	eof    atomic.Bool

	// mu guards the fd's life against the ioctls issued outside the
	// poller: they hold it for reading while they use fd (see ioctl);
	// Close takes it for writing before it closes the file.
	mu sync.RWMutex

	// The receiver's turn: the receiver that holds it is the only one in
	// the kernel (RECV blocks when nothing is pending, so two receivers must
	// never race for one notification). The fields after it belong to the
	// turn's holder.
	turn   turn
	buf    unotify.Notif
	pfd    [2]unix.PollFd
	rerr   error
	readFn func(uintptr) bool
	recvFn func(int) (int, error)
	wakeFn func()
	hot    bool  // notifications come in quick succession: wait in the kernel (see setHot)
	hotReg bool  // s is subscribed to the reaper (see heat)
	hotMax int32 // GOMAXPROCS: see hot

	// The hot wait (see hotWait): 0, or the reaper epoch+1 it began in
	// shifted left by one, with hotExpired set once the reaper ended it.
	hotState atomic.Uint64
	// The context watcher (see watch).
	watchDone <-chan struct{}
	watchStop func() bool

	// wakefd is an eventfd that wakes a receiver blocked in ppoll with no
	// timeout (-1 until one is needed): made by New in dedicated-thread
	// mode, and by the first receiver that has to wait outside the
	// runtime poller in the default mode (see recvPoller). It is written
	// under mu.RLock and closed by Close under mu.
	wakefd atomic.Int32

	// The blocking receive (see recvBlocking): recvfd is a dup of fd for
	// it (-1 until the first one; made and restored by the turn's holder,
	// replaced by wakers under mu.RLock, closed by Close under mu),
	// poisoned says it was replaced (set by the waker, or by the receiver
	// whose RECV found it so first), blockTID is the thread in it.
	recvfd   atomic.Int32
	poisoned atomic.Bool
	blockTID atomic.Int32
	pid      int // ours, for tgkill

	// faults injects poll results the kernel cannot produce on cue (nil
	// outside tests; see export_test.go).
	faults *pollFaults
	// holdHot makes the reaper leave s's hot waits alone, so that a test
	// can act on a receiver in one (false outside tests).
	holdHot bool

	skipped   atomic.Uint64 // notifications withdrawn between wake-up and RECV
	pollErrs  atomic.Uint64 // lone POLLERRs seen (see pollErr)
	fallbacks atomic.Uint64 // waits outside the runtime poller because it failed
	hotWaits  atomic.Uint64 // hot waits begun
	blocking  atomic.Uint64 // blocking RECVs begun (see recvBlocking)
	hotReaped atomic.Uint64 // hot waits the reaper ended
}

// New returns a Stream over the listener fd, a file descriptor returned by
// seccomp(2) with SECCOMP_FILTER_FLAG_NEW_LISTENER (or received from a
// container runtime). New takes ownership of fd: it sets it non-blocking and
// close-on-exec, and Close closes it. If New fails, fd is left open, as it
// was, and still belongs to the caller.
//
// New fails with an error matching ErrNotListener if fd is not a seccomp
// listener, with one matching unix.EBUSY if an open Stream owns fd
// already, and with one matching ErrNotSupported if an option asks for a
// kernel feature that is missing. (Other users of fd in the process, an
// *os.File say, cannot be seen: New takes ownership of fd.)
func New(fd int, opts ...Option) (*Stream, error) {
	var cfg streamConfig
	for _, o := range opts {
		o(&cfg)
	}
	if fd < 0 {
		return nil, fmt.Errorf("seccompstream: invalid file descriptor %d: %w", fd, unix.EBADF)
	}
	// A Stream over a dup of an open Stream's fd makes their file shared:
	// the others' receivers must leave a blocking RECV (see recvBlocking),
	// woken once listeners.mu is released (their kick takes their mu).
	var peers []*Stream
	defer func() {
		for _, p := range peers {
			p.kick()
		}
	}()
	listeners.mu.Lock()
	defer listeners.mu.Unlock()
	if listeners.byFD[fd] != nil {
		return nil, errOwned(fd)
	}
	if err := checkListener(fd); err != nil {
		return nil, err
	}
	// Checks and allocations first, changes to fd after them, so that a
	// failure leaves fd as it was.
	s := &Stream{
		fd:   fd,
		cfg:  cfg,
		lf:   lookupFile(fd),
		done: make(chan struct{}),
		turn: newTurn(),
	}
	s.wakefd.Store(-1)
	s.recvfd.Store(-1)
	if cfg.dedicated {
		wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return nil, fmt.Errorf("seccompstream: WithDedicatedThread: eventfd: %w", err)
		}
		s.wakefd.Store(int32(wakefd))
	}
	err := s.setUp()
	if err == nil && !cfg.dedicated {
		// Cold to begin with: in the poller. Done here, not by the first
		// Receive, so that many new Streams waiting at once do not make
		// as many threads for their epoll_ctl calls.
		if err = s.openPoller(); err != nil {
			s.undo()
		}
	}
	if err != nil {
		if fd := s.wakefd.Load(); fd >= 0 {
			unix.Close(int(fd))
		}
		return nil, err
	}
	s.pid = unix.Getpid()
	s.readFn = s.tryRecv
	s.recvFn = s.recv
	s.hotMax = hotMax()
	s.wakeFn = s.wakeReceiver
	register(s)
	if s.lf.shared.Load() {
		for _, pfd := range s.lf.fds {
			if p := listeners.byFD[pfd]; p != s {
				peers = append(peers, p)
			}
		}
	}
	return s, nil
}

// setUp applies s.cfg to s.fd. If that fails, it undoes what it did.
func (s *Stream) setUp() error {
	fd := s.fd
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("seccompstream: fd %d: fcntl(F_GETFL): %w", fd, err)
	}
	fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		return fmt.Errorf("seccompstream: fd %d: fcntl(F_GETFD): %w", fd, err)
	}
	s.undo = func() {
		// Best effort: fd is a listener that worked a moment ago.
		if s.cfg.syncWakeup {
			_, _ = s.setFlags(0)
		}
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl)
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, fdfl)
	}
	if s.cfg.syncWakeup {
		if _, err := s.setFlags(unotify.FDSyncWakeUp); err != nil {
			if err == unix.EINVAL || err == unix.ENOTTY {
				return fmt.Errorf("seccompstream: WithSyncWakeup: %w",
					&kernel.UnsupportedFeatureError{Name: "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP", MinimumVersion: kernel.VersionSyncWakeUp})
			}
			return fmt.Errorf("seccompstream: WithSyncWakeup: ioctl(%s): %w", reqSetFlags, err)
		}
	}
	// The runtime poller needs the file non-blocking (a flag of the open
	// file, which the dups of fd that it polls share).
	if fl&unix.O_NONBLOCK == 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl|unix.O_NONBLOCK); err != nil {
			s.undo()
			return fmt.Errorf("seccompstream: set fd %d non-blocking: %w", fd, err)
		}
	}
	unix.CloseOnExec(fd)
	return nil
}

// setFlags sets the listener's flags (SECCOMP_IOCTL_NOTIF_SET_FLAGS).
// It runs before the Stream is open for business, so the closed check
// always passes.
func (s *Stream) setFlags(flags uint64) (int, error) {
	return s.ioctl(reqSetFlags, func(fd int) (int, error) { return 0, unotify.SetFlags(fd, flags) })
}

// checkListener makes sure fd is a seccomp listener before anything else
// touches it. /proc names the anonymous inode; without /proc an ID_VALID
// ioctl for an id that never exists tells (ENOENT only from a listener).
func checkListener(fd int) error {
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err == nil {
		if link != "anon_inode:seccomp notify" {
			return fmt.Errorf("seccompstream: fd %d is %q: %w", fd, link, ErrNotListener)
		}
		return nil
	}
	if errors.Is(err, os.ErrNotExist) {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			return fmt.Errorf("seccompstream: fd %d: %w", fd, unix.EBADF)
		}
	}
	if e := unotify.IDValid(fd, ^uint64(0)); e != unix.ENOENT {
		return fmt.Errorf("seccompstream: fd %d (ID_VALID: %v): %w", fd, e, ErrNotListener)
	}
	return nil
}

// FD returns the listener's file descriptor. It stays owned by the Stream:
// do not close it, and do not use it after Close.
func (s *Stream) FD() int { return s.fd }

// Receive waits for the next notification and returns it. It returns:
//   - io.EOF once no process can notify any more (every target exited; the
//     listener hung up) and on every call after that;
//   - an error matching os.ErrClosed after Close, including for a Receive
//     that Close interrupted;
//   - ctx.Err() when ctx ends first; the Stream stays usable.
//
// Notifications withdrawn by the kernel between the wake-up and the receive
// (the target was killed or signalled) are skipped: they are not errors.
// Neither is the kernel's transient poll error under signals (a lone
// POLLERR): Receive polls again, and waits outside the runtime poller
// while that poller cannot be used.
//
// In the default mode Receive holds no OS thread while the Stream is
// idle; while it is hot it waits on its thread for up to a millisecond
// (see Stream).
func (s *Stream) Receive(ctx context.Context) (*Notification, error) {
	n := new(Notification)
	if err := s.receive(ctx, n); err != nil {
		return nil, err
	}
	return n, nil
}

// All returns an iterator over the notifications, for use with range. It
// stops after yielding an error (ctx.Err(), os.ErrClosed, a kernel error),
// and ends without an error at io.EOF. Each yielded Notification must be
// answered, as with Receive.
func (s *Stream) All(ctx context.Context) iter.Seq2[*Notification, error] {
	return func(yield func(*Notification, error) bool) {
		for {
			n, err := s.Receive(ctx)
			if err == io.EOF {
				return
			}
			if !yield(n, err) || err != nil {
				return
			}
		}
	}
}

// Respond answers n with r. Every notification must be answered exactly
// once; until then its target thread waits in the call.
//
// Respond returns an error matching ErrGone (and unix.ENOENT) when the
// target died or its call was interrupted while it waited: the answer was
// not delivered, and that is normal. It returns an error matching
// ErrAlreadyAnswered when n was answered before, an error matching
// os.ErrClosed after Close, and an error naming the problem for an invalid
// Response (an errno outside 1..4095, the zero Response) without sending
// anything.
//
// A nil error means the kernel accepted the answer. The target can still be
// interrupted right then and restart the call as a new notification, so a
// handler's side effects must tolerate repeats.
func (s *Stream) Respond(n *Notification, r Response) error {
	if err := s.claim(n); err != nil {
		return err
	}
	if err := r.check(); err != nil {
		n.unclaim()
		return fmt.Errorf("seccompstream: Respond: %w", err)
	}
	return s.respondClaimed(n, r, notifPending)
}

// respondClaimed answers n, which the caller has claimed, with r, which is
// valid, and ends the claim (see (*Notification).end for failed).
func (s *Stream) respondClaimed(n *Notification, r Response, failed answerState) error {
	resp := unotify.Resp{ID: n.ID}
	r.fill(&resp)
	err := s.send(&resp)
	n.end(err, failed)
	return reqSend.wrap(err)
}

// send sends one answer.
func (s *Stream) send(resp *unotify.Resp) error {
	_, err := s.ioctl(reqSend, func(fd int) (int, error) { return 0, unotify.Send(fd, resp) })
	return err
}

var (
	errNilNotification = errors.New("seccompstream: nil *Notification")
	errServeFailed     = errors.New("seccompstream: Serve's answer to this notification failed; it is not answered again")
)

// claim makes the caller the one that answers n, or says why it cannot:
// n is nil, not from s (ErrWrongStream), answered (ErrAlreadyAnswered:
// the kernel cannot tell once the target has moved on, it then says the
// notification is gone), or found gone by an earlier answer (ErrGone).
// The caller ends the claim with n.release.
func (s *Stream) claim(n *Notification) error {
	if n == nil {
		return errNilNotification
	}
	if n.s != s && (n.s == nil || n.s.lf != s.lf) {
		return ErrWrongStream
	}
	if !n.state.CompareAndSwap(notifPending, notifAnswering) {
		switch n.state.load() {
		case notifGone:
			if s.closed.Load() {
				return errClosed // as the ioctl would say
			}
			return ErrGone
		case notifSettled:
			return errServeFailed
		}
		return ErrAlreadyAnswered
	}
	return nil
}

// idValid checks a notification id with SECCOMP_IOCTL_NOTIF_ID_VALID.
func (s *Stream) idValid(id uint64) error {
	_, err := s.ioctl(reqIDValid, func(fd int) (int, error) { return 0, unotify.IDValid(fd, id) })
	return reqIDValid.wrap(err)
}

// Skipped returns how many notifications the kernel withdrew between
// announcing them and Receive fetching them (targets killed or signalled
// meanwhile). They were never handed out, so nothing answers them.
func (s *Stream) Skipped() uint64 { return s.skipped.Load() }

// Close closes the listener. Receive calls waiting on it return an error
// matching os.ErrClosed. Every notification not answered yet, received or
// not, is answered by the kernel with ENOSYS once the last copy of the
// listener fd is closed. Close waits for Respond calls in progress and is
// safe to call more than once; later calls return nil.
func (s *Stream) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.done)
	s.kickLocked() // the eventfd is closed below, under mu
	// Wake the poller's waiter (and make it see the closed flag) before
	// waiting for the ioctls that hold mu.
	s.wakePoller()
	// Take the receiver's turn (receivers leave promptly once woken) to
	// release the context watcher, which would otherwise keep the Stream
	// reachable from a long-lived context.
	_ = s.turn.lock(context.Background(), nil)
	if s.watchStop != nil {
		s.watchStop()
		s.watchStop, s.watchDone = nil, nil
	}
	s.setHot(false)
	s.turn.unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if fd := s.wakefd.Swap(-1); fd >= 0 {
		unix.Close(int(fd))
	}
	if fd := s.recvfd.Swap(-1); fd >= 0 {
		unix.Close(int(fd))
	}
	// The registry is updated with the fd closed, under its lock: a New
	// for the number can come only after both.
	s.closePoller()
	listeners.mu.Lock()
	err := unix.Close(s.fd)
	unregister(s)
	listeners.mu.Unlock()
	if err != nil {
		return fmt.Errorf("seccompstream: close listener: %w", err)
	}
	return nil
}
