package seccompstream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// call is one notification in flight under Serve, and its handler's
// context: Serve allocates one per notification, with the Notification in
// it, and passes it to the handler as its context.Context.
type call struct {
	notif    Notification
	sv       *server
	canceled atomic.Bool
	inline   atomic.Int32 // notInline, inlineHeld, ...
	epoch    uint64       // the server's epoch when the call was received

	mu    sync.Mutex
	done  chan struct{}
	err   error
	after []*afterFunc // registered by AfterFunc, run at cancel

	// Guarded by sv.mu: the ring of calls on the concurrent path.
	prev, next *call
}

// Deadline returns the deadline of Serve's context.
func (c *call) Deadline() (time.Time, bool) { return c.sv.ctx.Deadline() }

// Done returns a channel that is closed when the call's context is cancelled.
func (c *call) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			c.done = closedChan
		} else {
			c.done = make(chan struct{})
		}
	}
	return c.done
}

// Err returns nil until the context is cancelled, and then why.
func (c *call) Err() error {
	if !c.canceled.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value returns the value Serve's context has for key.
func (c *call) Value(key any) any { return c.sv.values.Value(key) }

// String describes the context for debugging.
func (c *call) String() string { return "seccompstream.handlerContext" }

// closedChan is a closed channel, the Done channel of a call cancelled
// before anybody asked for it. It is never written to.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (c *call) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	c.canceled.Store(true)
	if c.done == nil {
		c.done = closedChan
	} else {
		close(c.done)
	}
	for _, a := range c.after {
		if a.state.CompareAndSwap(0, 1) {
			go a.f()
		}
	}
	c.after = nil
}

// afterFunc is a function registered with call.AfterFunc.
type afterFunc struct {
	f     func()
	state atomic.Int32 // 0 waiting, 1 started, 2 stopped
}

// AfterFunc arranges for f to run in its own goroutine once the context is
// cancelled, and returns a function that stops that if it has not
// happened yet. The context package uses it (through context.AfterFunc and
// when a handler derives a context with context.WithCancel and the like),
// so deriving from a handler's context starts no goroutine.
func (c *call) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		a.state.Store(1)
		go f()
	} else {
		if len(c.after) >= 8 {
			// Drop the stopped ones (contexts derived and cancelled).
			keep := c.after[:0]
			for _, b := range c.after {
				if b.state.Load() == 0 {
					keep = append(keep, b)
				}
			}
			clear(c.after[len(keep):])
			c.after = keep
		}
		c.after = append(c.after, a)
		c.mu.Unlock()
	}
	return func() bool { return a.state.CompareAndSwap(0, 2) }
}

var _ context.Context = (*call)(nil)
