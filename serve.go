package seccompstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// A Handler decides the answer to one notification. Serve calls
// ServeNotification, concurrently for different notifications, and sends
// the returned Response to the kernel; the handler must not answer n
// itself (with Respond or RespondFD). To hand the target a file
// descriptor, install it with n.AddFD and return Return with the number
// AddFD gave.
//
// ctx is cancelled when the target abandons the call (it was killed, or a
// signal interrupted it) and when Serve stops; a handler that blocks (an
// emulated read, a network round trip) should give up then. The Response
// for a call whose target is gone is dropped (the kernel refuses it);
// Serve's doc says what becomes of answers after it stopped. ctx carries
// the values and the deadline of the context given to Serve, and Err
// returns context.Canceled (or Serve's ctx.Err()) once it is cancelled.
// The answer of a handler that gave up still reaches a target that waits
// (while Serve stops, within WithStopGrace): Error(ctx.Err()) holds no
// errno and so answers EPERM; return the errno the target should see
// instead (ENOSYS, as the fallback answers, or EINTR for a call it
// retries).
//
// A handler that panics is recovered: see WithFallback and WithErrorHandler.
type Handler interface {
	ServeNotification(ctx context.Context, n *Notification) Response
}

// HandlerFunc adapts an ordinary function to a Handler.
type HandlerFunc func(ctx context.Context, n *Notification) Response

// ServeNotification calls f(ctx, n).
func (f HandlerFunc) ServeNotification(ctx context.Context, n *Notification) Response {
	return f(ctx, n)
}

// DefaultMaxInFlight is the number of handlers Serve runs at once unless
// WithMaxInFlight says otherwise.
const DefaultMaxInFlight = 1024

// Defaults of WithAbandonCheck.
const (
	DefaultAbandonThreshold = 100 * time.Millisecond
	DefaultAbandonPeriod    = 50 * time.Millisecond
)

// A ServeOption configures Serve. Options only record choices; Serve checks
// them together before it receives anything.
type ServeOption func(*serveConfig)

type serveConfig struct {
	maxInFlight int
	fallback    Response
	onError     func(error)
	threshold   time.Duration
	period      time.Duration
	grace       time.Duration
	stats       *Stats
	statsGiven  int // WithStats options seen
}

// WithMaxInFlight bounds the number of handlers running at once (and so the
// number of notifications received and not yet answered) to n. When n
// handlers are busy, Serve receives nothing more: further calls wait in the
// kernel, and their targets stay blocked, until a handler returns. n = 1
// handles notifications one at a time, in the order they were received.
// Default: DefaultMaxInFlight. Handlers that wait for one another (emulating
// a pipe between two target threads, say) need a limit above the number of
// calls that can wait at once, or they deadlock.
func WithMaxInFlight(n int) ServeOption { return func(c *serveConfig) { c.maxInFlight = n } }

// WithFallback sets the Response Serve answers with when it cannot use a
// handler's: the handler panicked, returned an invalid Response (such as the
// zero Response), or was still running when Serve stopped (see Serve).
// Default: Errno(unix.ENOSYS), which is also what the kernel answers once a
// listener is closed.
func WithFallback(r Response) ServeOption { return func(c *serveConfig) { c.fallback = r } }

// WithErrorHandler sets a function that Serve calls with what goes wrong
// while it serves, without stopping: a *PanicError for a handler that
// panicked (with the call and the stack), a *HandlerError for an invalid
// Response or an answer the kernel refused for another reason than the
// target being gone. f is called from handler goroutines, possibly at the
// same time: it must be safe for concurrent use. Default: errors are
// counted (see Stats) and otherwise dropped.
func WithErrorHandler(f func(error)) ServeOption { return func(c *serveConfig) { c.onError = f } }

// WithAbandonCheck sets how Serve notices that a target gave up a call whose
// handler is still running: every period it checks the notifications whose
// handlers have run for longer than threshold with
// SECCOMP_IOCTL_NOTIF_ID_VALID, and cancels the handler's context for those
// that are gone. A handler is thus told between threshold and
// threshold+2*period after its target was killed or interrupted. The
// checks ride on a timer that the Serve calls of the process share, which
// ticks every 2ms while handlers run (a shorter period counts as 2ms);
// fast handlers are never checked. A negative threshold turns the check
// off.
// Defaults: DefaultAbandonThreshold, DefaultAbandonPeriod. Serve rejects a
// period <= 0 when the check is on.
func WithAbandonCheck(threshold, period time.Duration) ServeOption {
	return func(c *serveConfig) { c.threshold, c.period = threshold, period }
}

// WithStopGrace sets how long Serve, once it stops, waits for running
// handlers (whose contexts it has cancelled) to return their own answers
// before it answers their calls with the fallback. Default: 0, the calls are
// answered with the fallback at once, so that no target waits for a handler
// that ignores its context.
func WithStopGrace(d time.Duration) ServeOption { return func(c *serveConfig) { c.grace = d } }

// WithStats makes Serve count what it does in st. One Stats can be shared by
// any number of Serve calls (a Group's streams, say) to get totals. Serve
// counts in one Stats: it refuses WithStats given twice (which would
// otherwise leave one of them silently at zero). WithStats(nil) counts
// nothing. Default: nothing is counted.
func WithStats(st *Stats) ServeOption {
	return func(c *serveConfig) {
		c.stats = st
		c.statsGiven++
	}
}

// PanicError reports a handler that panicked. Serve answered the call with
// the fallback and kept serving.
type PanicError struct {
	// Notification is the call the handler was deciding.
	Notification *Notification
	// Value is what the handler passed to panic.
	Value any
	// Stack is the handler goroutine's stack at the panic, as
	// runtime/debug.Stack formats it.
	Stack []byte
}

// Error names the call and the panic value, followed by the stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("seccompstream: handler panicked on %s: %v\n%s", e.Notification, e.Value, e.Stack)
}

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// HandlerError reports a handler's answer that could not be delivered for
// another reason than the target being gone: an invalid Response (Serve sent
// the fallback instead), or an error from the kernel.
type HandlerError struct {
	Notification *Notification
	Response     Response // what the handler returned
	Err          error
}

// Error names the call and what went wrong.
func (e *HandlerError) Error() string {
	return fmt.Sprintf("seccompstream: answering %s with %v: %v", e.Notification, e.Response, e.Err)
}

// Unwrap returns the underlying error.
func (e *HandlerError) Unwrap() error { return e.Err }

// Serve receives notifications from s and answers each with what h returns,
// running handlers concurrently (up to WithMaxInFlight), until the stream
// ends or ctx does. It returns nil when the stream ends (every target has
// exited), ctx.Err() when ctx ends, an error matching os.ErrClosed when s is
// closed meanwhile, and the error of Receive otherwise. It returns an error
// before receiving anything if h is nil or an option is out of range.
//
// When Serve returns, no handler of this call runs any more and every
// notification it received was answered or found gone: Serve cancels the
// running handlers' contexts, waits WithStopGrace for their answers,
// answers the rest with the fallback (WithFallback) and waits for the
// handlers to return; their late answers are dropped. A handler that
// ignores its context delays Serve's return, not its target's answer.
// Notifications not received yet stay in the kernel, for another Serve or
// Receive; closing the Stream makes the kernel answer them with ENOSYS.
//
// A target thread has one call in flight at a time, so its handlers run in
// the order of its calls; different threads' handlers run concurrently, in
// no defined order. A call interrupted by a signal can come back (with
// SA_RESTART) as a new notification while the first handler still runs;
// that handler's context is cancelled (see WithAbandonCheck) and its answer
// dropped, so handlers' side effects must tolerate repeats.
//
// While handlers are quick, the goroutine that received a call runs its
// handler and receives again, as a plain Receive/Respond loop does; a
// handler found slow or blocked hands receiving to another goroutine within
// a few milliseconds, so handlers that wait for one another do not
// deadlock. Idle, a Serve holds no OS thread and no timer. Several Serve
// and Receive calls may share a Stream; each notification goes to one.
func (s *Stream) Serve(ctx context.Context, h Handler, opts ...ServeOption) error {
	cfg := serveConfig{
		maxInFlight: DefaultMaxInFlight,
		fallback:    Errno(unix.ENOSYS),
		threshold:   DefaultAbandonThreshold,
		period:      DefaultAbandonPeriod,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.check(h); err != nil {
		return err
	}
	sv := newServer(s, h, ctx, cfg)
	sv.wg.Add(1)
	go sv.worker()

	select {
	case <-ctx.Done():
		sv.halt(ctx.Err())
	case <-sv.stop:
	}
	sv.shutdown()
	if sv.err == io.EOF {
		return nil
	}
	return sv.err
}

func (c *serveConfig) check(h Handler) error {
	if h == nil {
		return errors.New("seccompstream: Serve: nil Handler")
	}
	if c.maxInFlight < 1 {
		return fmt.Errorf("seccompstream: Serve: WithMaxInFlight(%d): need at least 1", c.maxInFlight)
	}
	if err := c.fallback.check(); err != nil {
		return fmt.Errorf("seccompstream: Serve: WithFallback: %w", err)
	}
	if c.threshold >= 0 && c.period <= 0 {
		return fmt.Errorf("seccompstream: Serve: WithAbandonCheck: period %v must be positive", c.period)
	}
	if c.grace < 0 {
		return fmt.Errorf("seccompstream: Serve: WithStopGrace(%v): negative", c.grace)
	}
	if c.statsGiven > 1 {
		return fmt.Errorf("seccompstream: Serve: WithStats given %d times: Serve counts in one Stats", c.statsGiven)
	}
	return nil
}
