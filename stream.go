package seccompstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/kernel"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// A Stream receives the notifications of one seccomp listener and answers
// them. Its methods are safe for concurrent use: several goroutines may
// Receive at once (each notification goes to exactly one of them) and any
// goroutine may Respond to any notification.
//
// Lock order: recvSem (a receiver's turn) before mu; Close takes neither
// before it has woken every waiter.
type Stream struct {
	fd   int      // the listener; valid until Close has finished with it
	file *os.File // fd inside the runtime poller
	rc   syscall.RawConn

	cfg streamConfig

	closed atomic.Bool
	done   chan struct{} // closed by Close: wakes goroutines waiting for their turn
	eof    atomic.Bool

	// mu guards the fd's life against Respond and the other ioctls issued
	// outside the poller: they hold it for reading while they use fd; Close
	// takes it for writing before it closes the file.
	mu sync.RWMutex

	// recvSem holds one token: the receiver that owns it is the only one in
	// the kernel (RECV blocks when nothing is pending, so two receivers must
	// never race for one notification). The fields after it belong to the
	// token's owner.
	recvSem chan struct{}
	buf     unotify.Notif
	pfd     [2]unix.PollFd
	rerr    error
	readFn  func(uintptr) bool
	blockFn func(uintptr)
	wakeFn  func()
	// The context watcher (see watch).
	watchDone <-chan struct{}
	watchStop func() bool

	// wakefd is an eventfd that wakes a receiver blocked in poll(2) (-1
	// until one is needed): made by New in dedicated-thread mode, and by
	// the first receiver that has to wait outside the runtime poller in
	// the default mode (see recvPoller). It is written under mu.RLock and
	// closed by Close under mu. recvCtx is the blocked receiver's context
	// (owned by the token holder).
	wakefd  atomic.Int32
	recvCtx context.Context

	// faults injects poll results the kernel cannot produce on cue (nil
	// outside tests; see export_test.go).
	faults *pollFaults

	skipped   atomic.Uint64 // notifications withdrawn between wake-up and RECV
	pollErrs  atomic.Uint64 // lone POLLERRs seen (see pollErr)
	fallbacks atomic.Uint64 // waits outside the runtime poller because it failed
}

// New returns a Stream over the listener fd, a file descriptor returned by
// seccomp(2) with SECCOMP_FILTER_FLAG_NEW_LISTENER (or received from a
// container runtime). New takes ownership of fd: it sets it non-blocking and
// close-on-exec, and Close closes it. If New fails, fd is left open and
// still belongs to the caller (the one exception, an fd that passes the
// listener check but cannot be added to the runtime poller, which does not
// happen for a real listener, is closed, and the error says so).
//
// New fails with a descriptive error if fd is not a seccomp listener, or if
// an option asks for a kernel feature that is missing (matching
// ErrNotSupported).
func New(fd int, opts ...Option) (*Stream, error) {
	var cfg streamConfig
	for _, o := range opts {
		o(&cfg)
	}
	if fd < 0 {
		return nil, fmt.Errorf("seccompstream: invalid file descriptor %d", fd)
	}
	if err := checkListener(fd); err != nil {
		return nil, err
	}
	if cfg.syncWakeup {
		if err := unotify.SetFlags(fd, unotify.FDSyncWakeUp); err != nil {
			if err == unix.EINVAL || err == unix.ENOTTY {
				return nil, fmt.Errorf("seccompstream: WithSyncWakeup: %w",
					&kernel.UnsupportedFeatureError{Name: "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP", MinimumVersion: kernel.VersionSyncWakeUp})
			}
			return nil, fmt.Errorf("seccompstream: WithSyncWakeup: ioctl(SECCOMP_IOCTL_NOTIF_SET_FLAGS): %w", err)
		}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("seccompstream: set fd %d non-blocking: %w", fd, err)
	}
	unix.CloseOnExec(fd)
	wakefd := -1
	if cfg.dedicated {
		var err error
		if wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
			return nil, fmt.Errorf("seccompstream: WithDedicatedThread: eventfd: %w", err)
		}
	}
	// From here on the os.File owns fd (its finalizer would close it), so
	// nothing below may fail for a listener that passed checkListener.
	file := os.NewFile(uintptr(fd), "seccomp-listener")
	rc, err := file.SyscallConn()
	if err == nil {
		err = file.SetReadDeadline(time.Time{}) // fails if fd is not in the poller
	}
	if err != nil {
		file.Close()
		if wakefd >= 0 {
			unix.Close(wakefd)
		}
		return nil, fmt.Errorf("seccompstream: listener fd %d cannot be polled (closed): %w", fd, err)
	}
	s := &Stream{
		fd:      fd,
		file:    file,
		rc:      rc,
		cfg:     cfg,
		done:    make(chan struct{}),
		recvSem: make(chan struct{}, 1),
	}
	s.wakefd.Store(int32(wakefd))
	s.readFn = s.tryRecv
	s.blockFn = s.recvBlocking
	s.wakeFn = s.wakeReceiver
	return s, nil
}

// checkListener makes sure fd is a seccomp listener before anything else
// touches it. /proc names the anonymous inode; without /proc an ID_VALID
// ioctl for an id that never exists tells (ENOENT only from a listener).
func checkListener(fd int) error {
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err == nil {
		if link != "anon_inode:seccomp notify" {
			return fmt.Errorf("seccompstream: fd %d is not a seccomp listener (it is %q)", fd, link)
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
		return fmt.Errorf("seccompstream: fd %d is not a seccomp listener (ID_VALID: %v)", fd, e)
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
// In the default mode Receive waits in the runtime's network poller and
// holds no OS thread while it waits.
func (s *Stream) Receive(ctx context.Context) (*Notification, error) {
	n := new(Notification)
	if err := s.receive(ctx, n); err != nil {
		return nil, err
	}
	return n, nil
}

// receive is Receive into a Notification the caller provides (Serve embeds
// it in its per-call record, which saves an allocation).
func (s *Stream) receive(ctx context.Context, n *Notification) error {
	// Take the receiver's turn.
	select {
	case s.recvSem <- struct{}{}:
	default:
		select {
		case s.recvSem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return errClosed
		}
	}
	defer func() { <-s.recvSem }()

	if s.closed.Load() {
		return errClosed
	}
	if s.eof.Load() {
		return io.EOF
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	if s.cfg.dedicated {
		err = s.recvDedicated(ctx)
	} else {
		err = s.recvPoller(ctx)
	}
	if err != nil {
		return err
	}
	n.fill(&s.buf, s)
	return nil
}

// recvPoller waits in the network poller. The caller owns the token.
func (s *Stream) recvPoller(ctx context.Context) error {
	s.watch(ctx)
	for {
		err := s.read()
		if err == nil {
			err = s.rerr
			s.rerr = nil
			if err == io.EOF {
				s.eof.Store(true)
			}
			return err
		}
		if s.closed.Load() || errors.Is(err, os.ErrClosed) {
			return errClosed
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			// "not pollable": the runtime poller saw a lone EPOLLERR
			// from the listener (see pollErr) and fails every wait
			// until the listener's next event, whose wake-up may
			// already be gone. Wait in poll(2) for this notification.
			return s.recvFallback(ctx)
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		// A stale wake-up meant for an earlier Receive: clear it, then look
		// at ctx again, since its own wake-up may have been the one cleared.
		_ = s.file.SetReadDeadline(time.Time{})
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
	}
}

// watch makes sure that the end of ctx wakes the receiver. The watcher
// (a context.AfterFunc) stays registered after Receive returns and serves
// every later Receive with a context of the same Done channel, so a loop
// that passes one context costs no allocation per call. A wake-up that
// arrives when nobody waits, or for another context, is harmless: receivers
// check their own context and retry. The caller owns the token.
func (s *Stream) watch(ctx context.Context) {
	done := ctx.Done()
	if done == nil || done == s.watchDone {
		return
	}
	if s.watchStop != nil {
		s.watchStop()
	}
	s.watchDone = done
	s.watchStop = context.AfterFunc(ctx, s.wakeFn)
}

// wakeReceiver wakes the receiver, wherever it waits: in poll(2) (the
// dedicated-thread mode, and the default mode's fallback) or in the
// runtime poller.
func (s *Stream) wakeReceiver() {
	s.kick()
	if !s.cfg.dedicated {
		// Past deadline: the poller returns os.ErrDeadlineExceeded.
		_ = s.file.SetReadDeadline(time.Unix(1, 0))
	}
}

// read waits in the runtime poller (RawConn.Read with tryRecv), or fails
// as the poller would when a fault is injected.
func (s *Stream) read() error {
	if s.faults != nil && s.faults.notPollable.Add(-1) >= 0 {
		return errInjectedNotPollable
	}
	return s.rc.Read(s.readFn)
}

// recvFallback receives one notification while the runtime poller cannot
// be used (see recvPoller): in blocking poll(2) calls on the listener and
// on the wake-up eventfd, made now if this is the first time. The poll
// sees a notification that was pending when the poller failed, so none is
// lost; the next Receive uses the poller again. The caller owns the token.
func (s *Stream) recvFallback(ctx context.Context) error {
	if s.wakefd.Load() < 0 {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return fmt.Errorf("seccompstream: waiting for notification: eventfd: %w", err)
		}
		s.wakefd.Store(int32(fd))
	}
	s.fallbacks.Add(1)
	return s.recvWait(ctx)
}

// tryRecv is the poller callback: it returns false to wait for readiness
// and true when s.buf holds a notification or s.rerr says why not.
func (s *Stream) tryRecv(fd uintptr) bool {
	for {
		s.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
		n, err := unix.Poll(s.pfd[:1], 0)
		if err != nil {
			if err == unix.EINTR || err == unix.EAGAIN || err == unix.ENOMEM {
				continue
			}
			s.rerr = fmt.Errorf("seccompstream: poll listener: %w", err)
			return true
		}
		if n == 0 {
			return false
		}
		switch s.onPoll(fd, s.revents(0)) {
		case recvDone:
			return true
		case recvAgain:
			continue
		}
		// POLLOUT alone: received notifications wait for answers, none
		// waits to be received.
		return false
	}
}

// What onPoll found.
const (
	recvWait  = iota // nothing to receive: wait for readiness
	recvAgain        // a notification was withdrawn: poll again at once
	recvDone         // s.buf holds a notification, or s.rerr says why not
)

// onPoll acts on the listener's poll result re: RECV on POLLIN, io.EOF on
// a hang-up with nothing pending. After a withdrawn notification
// (ENOENT) the caller must poll again before it waits: others may be
// pending whose wake-up it already consumed.
func (s *Stream) onPoll(fd uintptr, re int16) int {
	switch {
	case re&unix.POLLIN != 0:
		for {
			switch err := unotify.Recv(int(fd), &s.buf); err {
			case nil:
				s.rerr = nil
				return recvDone
			case unix.EINTR:
				continue
			case unix.ENOENT:
				// Withdrawn between wake-up and receive (the target was
				// killed or signalled); or, on Linux 6.11+, the filter
				// lost its last user. The next poll says which.
				s.skipped.Add(1)
				return recvAgain
			default:
				s.rerr = fmt.Errorf("seccompstream: ioctl(SECCOMP_IOCTL_NOTIF_RECV): %w", err)
				return recvDone
			}
		}
	case re&unix.POLLHUP != 0:
		s.rerr = io.EOF
		return recvDone
	case re&unix.POLLNVAL != 0:
		s.rerr = fmt.Errorf("seccompstream: poll listener: revents %#x", re)
		return recvDone
	case re&unix.POLLERR != 0:
		// Transient: see pollErr. Poll again.
		s.pollErrs.Add(1)
		return recvAgain
	}
	return recvWait
}

// pollErr documents a lone POLLERR from the listener, which is transient.
// The kernel's seccomp_notify_poll returns EPOLLERR alone when it cannot
// take the filter's notify lock because the polling thread has a signal
// pending (mutex_lock_interruptible in the lock's slow path), and Go
// delivers signals to its threads all the time. The state of the listener
// is unknown then: poll again. The runtime poller, which meets the same
// result in epoll_wait, records it as an event error and fails every later
// wait with "not pollable" until the listener's next event; recvPoller
// handles that. POLLNVAL, a closed descriptor, is not transient.
const pollErr = unix.POLLERR

// revents returns the listener's poll result in s.pfd[i], or the fault a
// test injected.
func (s *Stream) revents(i int) int16 {
	re := s.pfd[i].Revents
	if s.faults != nil && re != 0 && s.faults.lonePOLLERR.Add(-1) >= 0 {
		return unix.POLLERR
	}
	return re
}

// recvDedicated waits in blocking system calls on the calling goroutine's
// locked OS thread. The caller owns the token.
//
// The thread sleeps in poll(2) on the listener and on s.wakefd, an eventfd
// that a cancelled ctx or Close writes to. RECV itself cannot be woken: on
// current kernels it restarts after a handled signal (SA_RESTART) and it
// ignores O_NONBLOCK, so it is only issued once poll saw POLLIN.
func (s *Stream) recvDedicated(ctx context.Context) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return s.recvWait(ctx)
}

// recvWait waits in blocking poll(2) calls on the listener and s.wakefd
// until it received a notification into s.buf, the listener hung up, ctx
// ended or the Stream was closed. The caller owns the token.
func (s *Stream) recvWait(ctx context.Context) error {
	s.recvCtx = ctx
	defer func() { s.recvCtx = nil }()
	s.watch(ctx)
	// The file's reference keeps fd open while we use it: Close waits for
	// the control call to return.
	err := s.rc.Control(s.blockFn)
	rerr := s.rerr
	s.rerr = nil
	if err != nil {
		if s.closed.Load() {
			return errClosed
		}
		return fmt.Errorf("seccompstream: waiting for notification: %w", err)
	}
	if rerr == errInterrupted {
		if s.closed.Load() {
			return errClosed
		}
		return ctx.Err()
	}
	if rerr == io.EOF {
		s.eof.Store(true)
	}
	return rerr
}

// recvBlocking is the dedicated-mode callback: it waits in blocking calls
// until s.buf holds a notification or s.rerr says why not.
func (s *Stream) recvBlocking(fd uintptr) {
	for {
		if s.closed.Load() || s.recvCtx.Err() != nil {
			s.rerr = errInterrupted
			return
		}
		wakefd := int(s.wakefd.Load())
		s.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
		s.pfd[1] = unix.PollFd{Fd: int32(wakefd), Events: unix.POLLIN}
		_, err := unix.Poll(s.pfd[:], -1)
		if err != nil {
			if err == unix.EINTR || err == unix.EAGAIN || err == unix.ENOMEM {
				continue
			}
			s.rerr = fmt.Errorf("seccompstream: poll listener: %w", err)
			return
		}
		if s.pfd[1].Revents&unix.POLLIN != 0 {
			// A wake-up: drain it, then look at ctx and closed again. One
			// meant for an earlier Receive is harmless.
			var b [8]byte
			_, _ = unix.Read(wakefd, b[:])
			continue
		}
		if s.onPoll(fd, s.revents(0)) == recvDone {
			return
		}
	}
}

var errInterrupted = errors.New("interrupted")

// pollFaults is a test seam for the poll results the kernel cannot produce
// on cue: a lone POLLERR needs a contended notify lock and a signal pending
// on the polling thread at that instant, and the runtime poller's "not
// pollable" state follows a lone EPOLLERR seen by epoll_wait.
type pollFaults struct {
	lonePOLLERR atomic.Int64 // the next n non-empty polls of the listener report a lone POLLERR
	notPollable atomic.Int64 // the next n waits in the runtime poller fail with "not pollable"
}

var errInjectedNotPollable = errors.New("not pollable (injected)")

// kick wakes a receiver blocked in poll(2), if there is a wake-up eventfd.
// Close, which closes the eventfd under mu, calls kickLocked instead.
func (s *Stream) kick() {
	s.mu.RLock()
	s.kickLocked()
	s.mu.RUnlock()
}

func (s *Stream) kickLocked() {
	if fd := s.wakefd.Load(); fd >= 0 {
		one := [8]byte{1}
		_, _ = unix.Write(int(fd), one[:])
	}
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
	if n == nil {
		return errNilNotification
	}
	if err := r.check(); err != nil {
		return err
	}
	resp := unotify.Resp{ID: n.ID}
	r.fill(&resp)
	s.mu.RLock()
	if s.closed.Load() {
		s.mu.RUnlock()
		return errClosed
	}
	var err error
	for {
		err = unotify.Send(s.fd, &resp)
		if err != unix.EINTR {
			break
		}
	}
	s.mu.RUnlock()
	return sendError("SECCOMP_IOCTL_NOTIF_SEND", err)
}

var errNilNotification = errors.New("seccompstream: nil *Notification")

// sendError turns an errno from an answering ioctl into the package's
// errors. Expected outcomes come back without allocating.
func sendError(op string, err error) error {
	switch err {
	case nil:
		return nil
	case unix.ENOENT:
		return ErrGone
	case unix.EINPROGRESS:
		return ErrAlreadyAnswered
	}
	return fmt.Errorf("seccompstream: ioctl(%s): %w", op, err)
}

// idValid checks a notification id with SECCOMP_IOCTL_NOTIF_ID_VALID.
func (s *Stream) idValid(id uint64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return errClosed
	}
	for {
		err := unotify.IDValid(s.fd, id)
		if err != unix.EINTR {
			return sendError("SECCOMP_IOCTL_NOTIF_ID_VALID", err)
		}
	}
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
	_ = s.file.SetReadDeadline(time.Unix(1, 0))
	// Take the receiver's turn (receivers leave promptly once woken) to
	// release the context watcher, which would otherwise keep the Stream
	// reachable from a long-lived context.
	s.recvSem <- struct{}{}
	if s.watchStop != nil {
		s.watchStop()
		s.watchStop, s.watchDone = nil, nil
	}
	<-s.recvSem
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.file.Close()
	if fd := s.wakefd.Swap(-1); fd >= 0 {
		unix.Close(int(fd))
	}
	if err != nil {
		return fmt.Errorf("seccompstream: close listener: %w", err)
	}
	return nil
}
