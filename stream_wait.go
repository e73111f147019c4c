package seccompstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/unotify"
)

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
		return s.take()
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
	_, err := s.ioctl(reqRecv, s.recvFn)
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
