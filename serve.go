package seccompstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A Handler decides the answer to one notification. Serve calls
// ServeNotification, concurrently for different notifications, and sends
// the returned Response to the kernel; the handler must not answer n itself (with Respond or
// RespondFD). To hand the target a file descriptor, install it with
// n.AddFD and return Return with the number AddFD gave.
//
// ctx is cancelled when the target abandons the call (it was killed, or a
// signal interrupted it) and when Serve stops; a handler that blocks (an
// emulated read, a network round trip) should give up then. The Response
// for a call whose target is gone is dropped (the kernel refuses it);
// Serve's doc says what becomes of answers after it stopped. ctx carries
// the values and the deadline of the context given to Serve, and Err
// returns context.Canceled (or Serve's ctx.Err()) once it is cancelled.
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

// Fast-path tuning (see server.worker).
const (
	inlineMax  = 50 * time.Microsecond // a handler slower than this ends the fast path
	handoffRun = 64                    // notifications on the concurrent path after that
	rescueTick = 2 * time.Millisecond  // the watch's tick: a blocked fast-path handler is found in 1-2 ticks
)

// keepIdle is how many idle workers (waiting for their turn to receive) a
// Serve keeps; more exit, and new ones start when a burst needs them.
const keepIdle = 2

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
// checks ride on the one timer of each Serve, which ticks every 2ms (or
// every period, if shorter) while handlers run and stops when none does;
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
// When Serve returns, no handler of this call is running any more and
// every notification it received was answered, or was found gone (its
// target had died or been interrupted). To get there, Serve cancels the
// contexts of the handlers still running, waits WithStopGrace (default 0)
// for their answers, answers the rest with the fallback (default ENOSYS),
// and then waits for those handlers to return; their late answers are
// dropped. A handler that ignores its context therefore delays Serve's
// return, but not its target's answer. Notifications not received yet stay
// in the kernel: another Serve or Receive can take them, and closing the
// Stream makes the kernel answer them with ENOSYS.
//
// Ordering: a target thread waits in its call until it is answered, so it
// has at most one notification in flight, and its handlers run one after
// another in the order of its calls; the handlers of different threads (and
// processes) run concurrently, in no defined order. The exception is a call
// interrupted by a signal: the target thread can move on (and, with
// SA_RESTART, repeat the call as a new notification) while the handler of
// the interrupted call still runs; that handler's context is cancelled
// (see WithAbandonCheck) and its answer is dropped. Handlers whose side
// effects matter must tolerate such repeats.
//
// Cost: per notification, Serve adds one allocation (the handler's
// context) to Receive's, two clock reads and two uncontended lock round
// trips. While handlers are quick (under 50µs), the goroutine that received
// a notification runs its handler and then receives again, like a plain
// Receive/Respond loop, so no other goroutine is woken. After a slower
// handler, the next notifications go the concurrent way: the receiver
// hands its turn to another goroutine (started if none is idle, up to
// WithMaxInFlight) before it runs the handler. A handler that blocks
// unexpectedly on the quick path is found within a few milliseconds, and
// another goroutine takes over receiving, so handlers that wait for one
// another do not deadlock. Idle, a Serve holds no OS thread (in the
// Stream's default receive mode), two goroutines and no timer.
//
// Several Serve calls, and Receive calls, may use one Stream at once; each
// notification goes to one of them.
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
	sv := &server{
		s:      s,
		h:      h,
		cfg:    cfg,
		ctx:    ctx,
		values: context.WithoutCancel(ctx),
		turn:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		st:     cfg.stats,
	}
	sv.list.next, sv.list.prev = &sv.list, &sv.list
	sv.tick = rescueTick
	if cfg.threshold >= 0 {
		sv.tick = min(rescueTick, cfg.period)
		sv.ticks = uint64((cfg.threshold + sv.tick - 1) / sv.tick)
		sv.every = max(1, uint64(cfg.period/sv.tick))
	}
	sv.timer = time.AfterFunc(time.Hour, sv.watch)
	sv.timer.Stop()
	sv.total, sv.idle = 1, 1
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

// Serve's phases.
const (
	phaseServing  = iota
	phaseStopping // handler contexts cancelled; waiting for the grace period
	phaseSwept    // in-flight calls answered with the fallback
)

// server is the state of one Serve call.
//
// Workers take turns receiving (turn holds one token); the one that
// received runs the handler and answers, after starting another worker if
// none is left to receive. Lock order: mu, then a call's mu.
type server struct {
	s      *Stream
	h      Handler
	cfg    serveConfig
	ctx    context.Context // Serve's
	values context.Context // Serve's without its cancellation: handler ctx values
	st     *Stats

	turn chan struct{}
	stop chan struct{} // closed by halt
	once sync.Once
	err  error // why Serve stops; written before stop is closed

	wg  sync.WaitGroup // workers
	twg sync.WaitGroup // a pending or running watch

	mu    sync.Mutex
	phase int
	total int  // workers
	idle  int  // workers not in a handler
	list  call // sentinel of the ring of calls in flight
	count int  // calls in flight
	timer *time.Timer
	armed bool   // watch is pending or running
	epoch uint64 // watch runs so far
	ticks uint64 // watch runs after which a call is old enough to check
	scan  []*call
	tick  time.Duration
	every uint64 // abandon scans run every this many ticks; 0: never
	last  *call  // the fast-path call seen at the previous tick

	handoff atomic.Int32         // notifications left on the concurrent path
	inl     atomic.Pointer[call] // the call handled on the fast path, if any
}

// halt records why Serve stops (the first reason wins) and wakes it.
func (sv *server) halt(err error) {
	sv.once.Do(func() {
		sv.err = err
		close(sv.stop)
	})
}

func (sv *server) stopping() bool {
	select {
	case <-sv.stop:
		return true
	default:
		return false
	}
}

// States of call.inline.
const (
	notInline     = iota
	inlineHeld    // the handler runs on the worker that holds the turn
	inlineDone    // the handler returned and its worker kept the turn
	inlineRescued // the watch took the turn away from a slow handler's worker
)

// worker receives notifications and handles them until Serve stops or the
// worker is not needed any more.
//
// Fast path: while handlers are quick, the worker that received a
// notification keeps its turn, runs the handler and receives again, as a
// plain Receive/Respond loop would: no other goroutine is woken. A handler
// that takes longer than inlineMax switches the next handoffRun
// notifications to the concurrent path, where the receiver passes its turn
// to another worker before running the handler. A handler that blocks on the
// fast path is found by the watch within two ticks, which passes the turn on
// (see rescue).
func (sv *server) worker() {
	var cur *call    // the call in the handler; nil while idle
	holding := false // the worker has the turn from its last round
	defer func() {
		// Also reached by runtime.Goexit in a handler.
		sv.mu.Lock()
		if cur != nil {
			sv.remove(cur)
			if cur.inline.CompareAndSwap(inlineHeld, inlineDone) {
				sv.inl.CompareAndSwap(cur, nil)
				sv.idle--
				<-sv.turn
			}
		} else {
			sv.idle--
		}
		sv.total--
		// After a Goexit in a handler nobody may be left to receive.
		spawn := sv.idle == 0 && sv.phase == phaseServing && !sv.stopping()
		if spawn {
			sv.total++
			sv.idle++
			sv.wg.Add(1)
		}
		sv.mu.Unlock()
		if spawn {
			go sv.worker()
		}
		sv.wg.Done()
	}()
	for {
		if !holding {
			select {
			case sv.turn <- struct{}{}:
			case <-sv.stop:
				return
			}
		}
		holding = false
		if sv.stopping() {
			<-sv.turn
			return
		}
		c := &call{sv: sv}
		if err := sv.s.receive(sv.ctx, &c.notif); err != nil {
			sv.halt(err)
			<-sv.turn
			return
		}
		c.n = &c.notif
		start := time.Now()
		if st := sv.st; st != nil {
			st.received.Add(1)
			st.inFlight.Add(1)
		}
		inline := sv.handoff.Load() <= 0
		if !inline {
			sv.handoff.Add(-1)
			<-sv.turn
		}
		sv.mu.Lock()
		spawn := false
		if inline {
			c.inline.Store(inlineHeld)
			sv.inl.Store(c)
		} else {
			sv.idle--
			spawn = sv.idle == 0 && sv.total < sv.cfg.maxInFlight && sv.phase == phaseServing
			if spawn {
				sv.total++
				sv.idle++
				sv.wg.Add(1)
			}
		}
		phase := sv.insert(c)
		cur = c
		sv.mu.Unlock()
		if spawn {
			go sv.worker()
		}
		if phase == phaseSwept {
			// Received as Serve finished its sweep: no handler any more.
			sv.answer(c, sv.cfg.fallback, true)
			if st := sv.st; st != nil {
				st.inFlight.Add(-1)
			}
		} else if sv.handle(c, start) > inlineMax {
			sv.handoff.Store(handoffRun)
		}

		held := inline && c.inline.CompareAndSwap(inlineHeld, inlineDone)
		if held {
			sv.inl.CompareAndSwap(c, nil)
		}
		sv.mu.Lock()
		sv.remove(c)
		cur = nil
		if held {
			// The worker is still the receiver (and counted idle).
			sv.mu.Unlock()
			holding = true
			continue
		}
		sv.idle++
		exit := sv.phase != phaseServing || sv.idle > keepIdle
		sv.mu.Unlock()
		if exit {
			return
		}
	}
}

// rescue takes the turn away from the worker running c's handler on the
// fast path, because it has run for a tick or more: another worker
// receives meanwhile. The caller holds mu.
func (sv *server) rescue(c *call) {
	if !c.inline.CompareAndSwap(inlineHeld, inlineRescued) {
		return
	}
	sv.inl.CompareAndSwap(c, nil)
	sv.handoff.Store(handoffRun)
	// c's worker now only runs the handler: as on the concurrent path.
	sv.idle--
	spawn := sv.idle == 0 && sv.total < sv.cfg.maxInFlight && sv.phase == phaseServing
	if spawn {
		sv.total++
		sv.idle++
		sv.wg.Add(1)
	}
	<-sv.turn
	if spawn {
		go sv.worker()
	}
}

// handle runs the handler for c and answers with its Response, or with the
// fallback if it panics. start is when c was received. It returns how long
// the handler took (from start, not counting the answer).
func (sv *server) handle(c *call, start time.Time) (d time.Duration) {
	done := false
	defer func() {
		if done {
			return
		}
		// A panic, or runtime.Goexit (then recover returns nil).
		v := recover()
		d = time.Since(start)
		sv.handled(d)
		if v != nil {
			if sv.st != nil {
				sv.st.panics.Add(1)
			}
			if sv.cfg.onError != nil {
				sv.cfg.onError(&PanicError{Notification: c.n, Value: v, Stack: debug.Stack()})
			}
		}
		sv.answer(c, sv.cfg.fallback, true)
	}()
	r := sv.h.ServeNotification(c, c.n)
	done = true
	d = time.Since(start)
	sv.handled(d)
	if err := r.check(); err != nil {
		if sv.cfg.onError != nil {
			sv.cfg.onError(&HandlerError{Notification: c.n, Response: r, Err: err})
		}
		sv.answer(c, sv.cfg.fallback, true)
		return d
	}
	sv.answer(c, r, false)
	return d
}

// handled counts a handler that returned after d.
func (sv *server) handled(d time.Duration) {
	if st := sv.st; st != nil {
		st.observe(d)
		st.inFlight.Add(-1)
	}
}

// answer sends r for c unless c was answered already, and counts the
// outcome. fallback says whether r is Serve's rather than the handler's.
func (sv *server) answer(c *call, r Response, fallback bool) {
	st := sv.st
	if !c.answered.CompareAndSwap(false, true) {
		// Serve answered at its stop (or the handler did, and this is
		// the sweep): count only the handler's answers as late.
		if st != nil && !fallback {
			st.late.Add(1)
		}
		return
	}
	sv.send(c, r, fallback)
}

// send sends r for c, which the caller has claimed, and counts the outcome.
func (sv *server) send(c *call, r Response, fallback bool) {
	st := sv.st
	err := sv.s.Respond(c.n, r)
	if st == nil && (err == nil || err == ErrGone) {
		return
	}
	switch {
	case err == nil:
		switch {
		case fallback:
			st.fallbacks.Add(1)
		case r.kind == kindReturn:
			st.returned.Add(1)
		case r.kind == kindErrno:
			st.errnos.Add(1)
		case r.kind == kindContinue:
			st.continued.Add(1)
		}
	case err == ErrGone:
		st.gone.Add(1)
	default:
		if st != nil {
			st.failed.Add(1)
		}
		if sv.cfg.onError != nil && err != errClosed {
			sv.cfg.onError(&HandlerError{Notification: c.n, Response: r, Err: err})
		}
	}
}

// insert adds c to the calls in flight and returns the phase. The caller
// holds mu.
func (sv *server) insert(c *call) int {
	c.prev, c.next = sv.list.prev, &sv.list
	c.prev.next, c.next.prev = c, c
	sv.count++
	c.epoch = sv.epoch
	switch sv.phase {
	case phaseServing:
		if !sv.armed {
			sv.armed = true
			sv.twg.Add(1)
			sv.timer.Reset(sv.tick)
		}
	default:
		c.cancel(sv.stopErr())
	}
	return sv.phase
}

// remove takes c off the calls in flight. The caller holds mu.
func (sv *server) remove(c *call) {
	if c.next == nil {
		return
	}
	c.prev.next, c.next.prev = c.next, c.prev
	c.prev, c.next = nil, nil
	sv.count--
}

// stopErr is the error of handler contexts cancelled because Serve stops.
func (sv *server) stopErr() error {
	if err := sv.ctx.Err(); err != nil {
		return err
	}
	return context.Canceled
}

// watch runs every tick while calls are in flight. It passes the turn on
// from a fast-path handler that has run for a tick or more, and every
// period it cancels the contexts of old calls whose targets gave up.
func (sv *server) watch() {
	defer sv.twg.Done()
	sv.mu.Lock()
	if sv.phase != phaseServing {
		sv.armed = false
		sv.mu.Unlock()
		return
	}
	sv.epoch++
	if c := sv.inl.Load(); c != nil && c == sv.last {
		sv.rescue(c)
		sv.last = nil
	} else {
		sv.last = c
	}
	scan := sv.scan[:0]
	if sv.every > 0 && sv.epoch%sv.every == 0 {
		for c := sv.list.next; c != &sv.list; c = c.next {
			if sv.epoch-c.epoch > sv.ticks && !c.canceled.Load() {
				scan = append(scan, c)
			}
		}
	}
	sv.scan = nil // ours until we put it back
	sv.mu.Unlock()

	for i, c := range scan {
		if err := sv.s.idValid(c.n.ID); err == ErrGone && !c.answered.Load() {
			if sv.st != nil && !c.canceled.Load() {
				sv.st.abandoned.Add(1)
			}
			c.cancel(context.Canceled)
		}
		scan[i] = nil
	}

	sv.mu.Lock()
	sv.scan = scan[:0]
	if sv.phase == phaseServing && sv.count > 0 {
		sv.twg.Add(1)
		sv.timer.Reset(sv.tick)
	} else {
		sv.armed = false
	}
	sv.mu.Unlock()
}

// shutdown runs once Serve stops: it answers the calls in flight (at once,
// or after the handlers had their grace period), cancels their handlers,
// and waits for the workers and the watch.
func (sv *server) shutdown() {
	grace := sv.cfg.grace
	sv.mu.Lock()
	sv.phase = phaseStopping
	var left []*call
	if grace == 0 {
		// Claim the calls before their handlers hear of the stop, so that
		// the answer does not depend on how fast they return.
		sv.phase = phaseSwept
		left = sv.claimAll()
	}
	reason := sv.stopErr()
	for c := sv.list.next; c != &sv.list; c = c.next {
		c.cancel(reason)
	}
	if sv.armed && sv.timer.Stop() {
		sv.armed = false
		sv.twg.Done()
	}
	sv.mu.Unlock()

	if grace > 0 {
		done := make(chan struct{})
		go func() {
			sv.wg.Wait()
			close(done)
		}()
		t := time.NewTimer(grace)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
		sv.mu.Lock()
		sv.phase = phaseSwept
		left = sv.claimAll()
		sv.mu.Unlock()
		for _, c := range left {
			sv.send(c, sv.cfg.fallback, true)
		}
		<-done
	} else {
		for _, c := range left {
			sv.send(c, sv.cfg.fallback, true)
		}
		sv.wg.Wait()
	}
	sv.twg.Wait()
}

// claimAll claims the calls in flight not answered yet and returns them.
// The caller holds mu.
func (sv *server) claimAll() []*call {
	var left []*call
	for c := sv.list.next; c != &sv.list; c = c.next {
		if c.answered.CompareAndSwap(false, true) {
			left = append(left, c)
		}
	}
	return left
}

// closedChan is a closed channel, the Done channel of a call cancelled
// before anybody asked for it. It is never written to.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// call is one notification in flight, and its handler's context.
type call struct {
	n        *Notification // &notif
	notif    Notification
	sv       *server
	answered atomic.Bool
	canceled atomic.Bool
	inline   atomic.Int32 // notInline, inlineHeld, ...

	mu    sync.Mutex
	done  chan struct{}
	err   error
	after []*afterFunc // registered by AfterFunc, run at cancel

	// Guarded by sv.mu.
	prev, next *call
	epoch      uint64
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
