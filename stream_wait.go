package seccompstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/unotify"
)

// receive is Receive into a Notification the caller provides (Serve embeds
// it in its per-call record, which saves an allocation).
//
// The receiver that holds the turn (s.turn) is the only one of s in the
// kernel. It may use s.fd and s.wakefd without a lock: Close takes the turn
// before it closes them.
func (s *Stream) receive(ctx context.Context, n *Notification) error {
	if err := s.turn.lock(ctx, s.done); err != nil {
		return err
	}
	err := s.wait(ctx)
	if err == nil {
		n.fill(&s.buf, s)
	}
	s.turn.unlock()
	return err
}

// A turn is a lock that a waiter can give up on (its context ends, or
// the Stream closes): the receiver's turn. Taking a free turn is one
// compare-and-swap.
type turn struct {
	held    atomic.Bool
	waiters atomic.Int32
	free    chan struct{} // capacity 1: an unlock's wake-up for the waiters
}

func newTurn() turn { return turn{free: make(chan struct{}, 1)} }

// lock takes the turn, or returns ctx.Err() when ctx ends first, or
// errClosed when done (if not nil) is closed first.
func (t *turn) lock(ctx context.Context, done <-chan struct{}) error {
	if t.held.CompareAndSwap(false, true) {
		return nil
	}
	// Count ourselves before the next try: unlock stores held, then looks
	// at waiters, so either the try succeeds or unlock wakes us.
	t.waiters.Add(1)
	defer t.waiters.Add(-1)
	for {
		if t.held.CompareAndSwap(false, true) {
			return nil
		}
		select {
		case <-t.free:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return errClosed
		}
	}
}

func (t *turn) unlock() {
	t.held.Store(false)
	if t.waiters.Load() > 0 {
		// A wake-up left over from an earlier unlock (its waiter got the
		// turn by itself, or gave up) costs a waiter one more try.
		select {
		case t.free <- struct{}{}:
		default:
		}
	}
}

// wait waits for one notification in s.buf. The caller holds the turn.
func (s *Stream) wait(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	if s.eof.Load() {
		return io.EOF
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.watch(ctx)
	if s.cfg.dedicated {
		return s.dedicatedWait(ctx)
	}
	if s.hot {
		if err := s.hotWait(ctx); err != errTimeout {
			return err
		}
	}
	if err := s.openPoller(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		// Its wake-up may have come while there was no poller file.
		return err
	}
	start := time.Now()
	err := s.recvPoller(ctx)
	if err == nil {
		s.setHot(time.Since(start) < hotGap)
	}
	return err
}

// recvPoller waits in the network poller. The caller holds the turn.
func (s *Stream) recvPoller(ctx context.Context) error {
	for {
		err := s.read()
		if err == nil {
			return s.result()
		}
		if s.closed.Load() || errors.Is(err, os.ErrClosed) {
			return errClosed
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			// "not pollable": the runtime poller saw a lone EPOLLERR
			// from the listener (see pollErr) and fails every wait
			// until the listener's next event, whose wake-up may
			// already be gone. Wait in ppoll for this notification; the
			// next wait uses the poller again.
			s.fallbacks.Add(1)
			return s.pollWait(ctx, false)
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		// A stale wake-up meant for an earlier Receive: clear it, then look
		// at ctx again, since its own wake-up may have been the one cleared.
		_ = s.pf.SetReadDeadline(time.Time{})
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
	}
}

// result returns what the last poll result left in s.rerr, and records
// the end of the stream.
func (s *Stream) result() error {
	err := s.rerr
	s.rerr = nil
	if err == io.EOF {
		s.eof.Store(true)
	}
	return err
}

// pollWait waits in ppoll(2) on the listener and on s.wakefd (which a
// cancelled ctx, Close and the hot reaper write to) until s.buf holds a
// notification, the listener hung up (io.EOF), ctx ended or s was closed;
// or, for a hot wait, until the reaper ended it (errTimeout, see
// hotWait). The caller holds the turn.
//
// RECV itself cannot be woken: on current kernels it restarts after a
// handled signal (SA_RESTART) and it ignores O_NONBLOCK, so it is only
// issued once ppoll saw a notification. ppoll has no timeout: a timed
// wait arms a high-resolution timer in the kernel, which costs several
// microseconds per wait in a virtual machine.
func (s *Stream) pollWait(ctx context.Context, hot bool) error {
	wakefd, err := s.wakeFD()
	if err != nil {
		return err
	}
	for {
		if s.closed.Load() {
			return errClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		s.pfd[0] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
		s.pfd[1] = unix.PollFd{Fd: wakefd, Events: unix.POLLIN}
		_, err := unix.Ppoll(s.pfd[:], nil, nil)
		if err != nil {
			if err == unix.EINTR || err == unix.EAGAIN || err == unix.ENOMEM {
				continue
			}
			return fmt.Errorf("seccompstream: poll listener: %w", err)
		}
		if s.pfd[1].Revents&unix.POLLIN != 0 {
			// A wake-up: drain it, then look at ctx and closed again.
			// One meant for an earlier wait is harmless.
			var b [8]byte
			_, _ = unix.Read(int(wakefd), b[:])
			if hot && s.hotState.Load()&hotExpired != 0 {
				return errTimeout
			}
			continue
		}
		if s.onPoll(s.revents(0)) == recvDone {
			return s.result()
		}
	}
}

// wakeFD returns s.wakefd, made now if this is the first wait in ppoll.
// The caller holds the turn.
func (s *Stream) wakeFD() (int32, error) {
	if fd := s.wakefd.Load(); fd >= 0 {
		return fd, nil
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return -1, fmt.Errorf("seccompstream: waiting for notification: eventfd: %w", err)
	}
	// A waker that loads -1 before this store woke nobody; the loop in
	// pollWait looks at closed and ctx after it.
	s.wakefd.Store(int32(fd))
	return int32(fd), nil
}

// watch makes sure that the end of ctx wakes the receiver. The watcher
// (a context.AfterFunc) stays registered after Receive returns and serves
// every later Receive with a context of the same Done channel, so a loop
// that passes one context costs no allocation per call. A wake-up that
// arrives when nobody waits, or for another context, is harmless: receivers
// check their own context and retry. The caller holds the turn.
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

// wakeReceiver wakes the receiver, wherever it waits: in ppoll (through
// the eventfd, if there is one) or in the runtime poller (a past read
// deadline, which makes the poller return os.ErrDeadlineExceeded).
func (s *Stream) wakeReceiver() {
	s.kick()
	s.wakePoller()
}

// wakePoller wakes a receiver in the runtime poller, if there is a poller
// file.
func (s *Stream) wakePoller() {
	s.pmu.Lock()
	if s.pf != nil {
		_ = s.pf.SetReadDeadline(time.Unix(1, 0))
	}
	s.pmu.Unlock()
}

// openPoller puts the listener in the runtime poller, if it is not there:
// a dup of s.fd in an *os.File. The caller holds the turn.
//
// The listener is in the poller only while its Stream is cold. There,
// every event of the listener wakes a thread that the runtime keeps in
// epoll_wait whenever it has timers or other files to watch, and a busy
// listener has two events per call: the new notification, and RECV's
// wake-up of those waiting for POLLOUT. A hot Stream waits in ppoll
// instead, and closePoller takes it out (the file's Close removes it from
// the poller's epoll set), sparing that thread a wake-up per event.
func (s *Stream) openPoller() error {
	if s.pf != nil {
		return nil
	}
	d, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("seccompstream: waiting for notification: dup listener fd %d: %w", s.fd, err)
	}
	f := os.NewFile(uintptr(d), "seccomp-listener")
	rc, err := f.SyscallConn()
	if err == nil {
		err = f.SetReadDeadline(time.Time{}) // fails if f is not in the poller
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("seccompstream: waiting for notification: listener fd %d cannot be polled: %w", s.fd, err)
	}
	s.pmu.Lock()
	s.pf, s.prc = f, rc
	s.pmu.Unlock()
	return nil
}

// closePoller takes the listener out of the runtime poller. The caller
// holds the turn, or is Close.
func (s *Stream) closePoller() {
	s.pmu.Lock()
	f := s.pf
	s.pf, s.prc = nil, nil
	s.pmu.Unlock()
	if f != nil {
		f.Close()
	}
}

// kick wakes a receiver blocked in ppoll or in a blocking RECV, if there
// is a wake-up eventfd. Close, which closes the eventfd under mu, calls
// kickLocked instead.
func (s *Stream) kick() {
	s.mu.RLock()
	s.kickLocked()
	s.mu.RUnlock()
}

func (s *Stream) kickLocked() {
	if fd := s.wakefd.Load(); fd >= 0 {
		one := [8]byte{1}
		_, _ = unix.Write(int(fd), one[:])
		s.unblockLocked(fd)
	}
}

// read waits in the runtime poller (RawConn.Read with tryRecv), or fails
// as the poller would when a fault is injected.
func (s *Stream) read() error {
	if s.faults != nil && s.faults.notPollable.Add(-1) >= 0 {
		return errInjectedNotPollable
	}
	return s.prc.Read(s.readFn)
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
		switch s.onPoll(s.revents(0)) {
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

// onPoll acts on the listener's poll result re (in s.pfd[0]): RECV on
// POLLIN, io.EOF on a hang-up with nothing pending. After a withdrawn
// notification (ENOENT) the caller must poll again before it waits: others
// may be pending whose wake-up it already consumed.
func (s *Stream) onPoll(re int16) int {
	switch {
	case re&unix.POLLIN != 0:
		return s.take()
	case re&unix.POLLHUP != 0:
		s.rerr = io.EOF
		return recvDone
	case re&unix.POLLNVAL != 0:
		s.rerr = fmt.Errorf("seccompstream: poll listener: revents %#x", re)
		return recvDone
	case re&pollErr != 0:
		// Transient: see pollErr. Poll again.
		s.pollErrs.Add(1)
		return recvAgain
	}
	return recvWait
}

// take receives the notification a poll of the listener saw into s.buf
// (onPoll's result: recvDone, or recvAgain when it was gone meanwhile).
//
// The RECV happens under the listener file's recvMu, and when other
// Streams of this process share the file, after one more poll under it:
// RECV blocks when nothing is pending, whatever the fd's flags, so it must
// only be issued for a notification nobody can take first.
func (s *Stream) take() int {
	lf := s.lf
	lf.recvMu.Lock()
	if lf.shared.Load() {
		s.pfd[0].Revents = 0
		n, err := unix.Poll(s.pfd[:1], 0)
		if err != nil || n == 0 || s.pfd[0].Revents&unix.POLLIN == 0 {
			lf.recvMu.Unlock()
			return recvAgain
		}
	}
	_, err := s.do(reqRecv, s.recvFn)
	lf.recvMu.Unlock()
	switch err {
	case nil:
		s.rerr = nil
		return recvDone
	case ErrGone:
		// Withdrawn between wake-up and receive (the target was killed
		// or signalled); or, on Linux 6.11+, the filter lost its last
		// user. The next poll says which.
		s.skipped.Add(1)
		return recvAgain
	case errClosed:
		s.rerr = errClosed
		return recvDone
	}
	s.rerr = reqRecv.wrap(err)
	return recvDone
}

// recv is the RECV request of take (s.recvFn, made once).
func (s *Stream) recv(fd int) (int, error) { return 0, unotify.Recv(fd, &s.buf) }

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

// pollFaults is a test seam for the poll results the kernel cannot produce
// on cue: a lone POLLERR needs a contended notify lock and a signal pending
// on the polling thread at that instant, and the runtime poller's "not
// pollable" state follows a lone EPOLLERR seen by epoll_wait.
type pollFaults struct {
	lonePOLLERR atomic.Int64 // the next n non-empty polls of the listener report a lone POLLERR
	notPollable atomic.Int64 // the next n waits in the runtime poller fail with "not pollable"
}

var errInjectedNotPollable = errors.New("not pollable (injected)")
