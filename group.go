package seccompstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
)

// A Group serves many Streams with one Handler and one set of options: one
// supervisor for many targets (containers, sandboxes) that come and go. Each
// Stream gets its own Serve, so a slow or broken target does not hold up
// the others, and WithMaxInFlight applies per Stream. With Streams in the
// default receive mode, an idle Stream costs two parked goroutines and no
// OS thread: a Group of thousands of Streams runs on the threads
// GOMAXPROCS allows, plus those of handlers blocked in system calls.
// Streams made with WithDedicatedThread hold a thread each while they wait.
//
// Share a Stats among the Streams with WithStats to count them together.
//
// A Group's methods are safe for concurrent use: Serve, Wait, Len and Close
// may be called from any goroutine at any time, also while Wait waits.
type Group struct {
	parent context.Context // NewGroup's
	ctx    context.Context // parent, also cancelled by Close
	cancel context.CancelFunc
	h      Handler
	opts   []ServeOption

	mu     sync.Mutex
	live   int           // Streams being served
	idle   chan struct{} // closed when live drops to 0; replaced when it rises again
	closed bool
	errs   []error
}

// errGroupClosed is the result of a Serve called after Close.
var errGroupClosed = fmt.Errorf("seccompstream: group closed: %w", os.ErrClosed)

// NewGroup returns a Group that serves its Streams with h and opts until
// their ends, until ctx ends, or until Close. Call Close (or end ctx) when
// the Group is no longer needed.
func NewGroup(ctx context.Context, h Handler, opts ...ServeOption) *Group {
	gctx, cancel := context.WithCancel(ctx)
	return &Group{parent: ctx, ctx: gctx, cancel: cancel, h: h, opts: opts}
}

// Serve starts serving s in a new goroutine and returns at once. The Group
// takes ownership of s: it closes s when s's Serve returns (once the
// targets have exited, or the Group's context ended, or Close was called).
//
// The returned channel receives the Stream's result once, when s has been
// closed: nil when its targets have all exited, the context's error when
// the Group's context ended or Close stopped it, an error matching
// os.ErrClosed when Serve was called after Close (s is closed at once,
// without being served), and otherwise the error of s's Serve (or of its
// Close). The channel is buffered: a caller that does not want the result
// can drop it.
func (g *Group) Serve(s *Stream) <-chan error {
	res := make(chan error, 1)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		s.Close()
		res <- errGroupClosed
		return res
	}
	if g.live == 0 {
		g.idle = make(chan struct{})
	}
	g.live++
	g.mu.Unlock()
	go g.serve(s, res)
	return res
}

// serve is the goroutine of one Stream.
func (g *Group) serve(s *Stream, res chan<- error) {
	fd := s.FD()
	err := s.Serve(g.ctx, g.h, g.opts...)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	// The result first: once Wait returns, every result has been sent.
	res <- err
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		g.errs = append(g.errs, fmt.Errorf("listener fd %d: %w", fd, err))
	}
	g.live--
	if g.live == 0 {
		close(g.idle)
	}
}

// Len returns the number of Streams being served.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.live
}

// Wait waits until no Stream is being served any more, and returns
// ctx.Err() if the Group's context ended, nil if every Stream ended
// normally (or was stopped by Close), or else the errors of the Streams
// that failed (joined, each naming its listener fd). Serve calls made while
// Wait waits count too: Wait returns at a moment when no Stream is served.
// Wait may be called any number of times, from several goroutines at once.
func (g *Group) Wait() error {
	g.mu.Lock()
	for g.live > 0 {
		idle := g.idle
		g.mu.Unlock()
		<-idle
		g.mu.Lock()
	}
	err := errors.Join(g.errs...)
	g.mu.Unlock()
	if cerr := g.parent.Err(); cerr != nil {
		return cerr
	}
	return err
}

// Close stops the Group: it stops the Serve of every Stream as the end of
// the Group's context would, waits until they have returned and their
// Streams are closed, and returns what Wait returns. Stopping a Serve
// answers the calls its handlers were deciding with the fallback (see
// Serve); closing a Stream makes the kernel answer every call not received
// yet with ENOSYS, unless another copy of its listener is still open.
// Streams handed to Serve after Close are closed at once. Close may be
// called more than once.
func (g *Group) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	return g.Wait()
}
