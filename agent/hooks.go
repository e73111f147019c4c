package agent

import (
	"context"
	"time"

	"github.com/seccompstream/seccompstream"
)

// Hooks are functions the Server calls as things happen, for metrics and
// audit. Every field is optional. They are called concurrently from the
// connections' and handlers' goroutines and must return quickly; the
// arguments must not be kept past the call, except the Container, which
// stays valid.
//
// The package needs no metrics library: "seccomp-stream agent
// --metrics-addr" turns these calls into Prometheus metrics.
type Hooks struct {
	// Refused is called for a connection that was not read at all: its
	// peer was not allowed (err matches ErrPeerRefused), or it had too
	// many connections being read (ErrTooManyConnections).
	Refused func(p Peer, err error)
	// Rejected is called for a message that was read and rejected: it
	// was malformed, too large, stalled, evicted by the bound on
	// connections being read, not a seccomp listener, or an ambiguous
	// identity. err matches one of the package's Err values (or names the
	// problem).
	Rejected func(p Peer, err error)
	// Connected is called when a container process was accepted, before
	// NewHandler sees it.
	Connected func(c *Container)
	// Disconnected is called when the Server is done with a container
	// process that Connected announced: its stream ended (err nil), it
	// was refused by NewHandler (err nil), the Server shut down, or the
	// stream failed.
	Disconnected func(c *Container, err error)
	// Call is called after the handler decided a call, with the answer
	// and the time the handler took; r is what the Server then sends. A
	// handler that panics does not reach Call: Error reports it.
	Call func(c *Container, n *seccompstream.Notification, r seccompstream.Response, took time.Duration)
	// Error is called with each error of a container's Serve (handler
	// panics, answers the kernel refused), as WithErrorHandler gets them.
	Error func(c *Container, err error)
}

// observed wraps h so that hooks.Call sees every decision.
func observed(c *Container, h seccompstream.Handler, call func(*Container, *seccompstream.Notification, seccompstream.Response, time.Duration)) seccompstream.Handler {
	return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		start := time.Now()
		r := h.ServeNotification(ctx, n)
		call(c, n, r, time.Since(start))
		return r
	})
}
