package seccompstream

import (
	"context"
	"errors"
	"fmt"
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
type Group struct {
	ctx  context.Context
	h    Handler
	opts []ServeOption

	wg   sync.WaitGroup
	mu   sync.Mutex
	live int
	errs []error
}

// NewGroup returns a Group that serves its Streams with h and opts until
// their ends or until ctx ends.
func NewGroup(ctx context.Context, h Handler, opts ...ServeOption) *Group {
	return &Group{ctx: ctx, h: h, opts: opts}
}

// Serve starts serving s in a new goroutine and returns at once. The Group
// takes ownership of s: it closes s when its Serve returns (once the
// targets have exited, or the Group's context ended). Serve may be called
// at any time, also while Wait waits.
func (g *Group) Serve(s *Stream) {
	g.mu.Lock()
	g.live++
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		err := s.Serve(g.ctx, g.h, g.opts...)
		cerr := s.Close()
		g.mu.Lock()
		defer g.mu.Unlock()
		g.live--
		if err == nil {
			err = cerr
		}
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			g.errs = append(g.errs, fmt.Errorf("listener fd %d: %w", s.FD(), err))
		}
	}()
}

// Len returns the number of Streams being served.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.live
}

// Wait waits until no Stream is being served any more, and returns
// ctx.Err() if the Group's context ended, nil if every Stream ended
// normally, or else the errors of the Streams that failed (joined, each
// naming its listener fd). Serve calls made while Wait waits count too.
func (g *Group) Wait() error {
	g.wg.Wait()
	if err := g.ctx.Err(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}
