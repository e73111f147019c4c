package seccompstream

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// How Serve schedules handlers.
//
// Workers take turns receiving (turn holds one token). On the fast path
// the worker that received a call runs the handler itself and keeps its
// turn, as a plain Receive/Respond loop does: no lock, no clock read, no
// timer operation and no other goroutine per call. A handler found slower
// than inlineMax switches the next handoffRun calls to the concurrent path,
// where the receiver passes its turn on (starting a worker if none is
// idle, up to WithMaxInFlight) before it runs the handler. The watch (tick,
// on a ticker shared by every Serve of the process, every rescueTick while
// calls are in flight) finds a fast-path handler that runs across two
// ticks and passes its turn on (rescue), and cancels the contexts of old
// calls whose targets gave up.
//
// The fast path keeps its call out of the ring of calls in flight (which
// mu guards) and publishes it in inl instead; rescue moves it to the ring.
// Handlers are timed by the ticker: a call records the tick it was
// received in, and only a handler that ran across a tick reads the clock.
const (
	inlineMax  = 50 * time.Microsecond // a handler slower than this ends the fast path
	handoffRun = 64                    // calls on the concurrent path after that
	rescueTick = 2 * time.Millisecond  // the watch's tick
	keepIdle   = 2                     // idle workers kept; more exit
)

// watches runs the watch of every Serve with calls in flight; a Serve
// unsubscribes before it returns (see ticker).
var watches = &ticker{period: rescueTick}

// Serve's phases.
const (
	phaseServing  = iota
	phaseStopping // handler contexts cancelled; waiting for the grace period
	phaseSwept    // in-flight calls answered with the fallback
)

// States of call.inline.
const (
	notInline     = iota
	inlineHeld    // the handler runs on the worker that holds the turn
	inlineDone    // the handler returned and its worker kept the turn
	inlineRescued // the watch took the turn away from a slow handler's worker
)

// server is the state of one Serve call. Lock order: mu, then a call's mu.
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

	wg sync.WaitGroup // workers

	phase   atomic.Int32         // changed under mu
	armed   atomic.Bool          // subscribed to watches; changed under mu
	handoff atomic.Int32         // calls left on the concurrent path
	inl     atomic.Pointer[call] // the call on the fast path, if any

	mu    sync.Mutex
	total int  // workers
	idle  int  // workers not in a handler
	list  call // sentinel of the ring of calls on the concurrent path
	count int  // calls in the ring
	scan  []*call
	ticks uint64 // ticks after which a call is old enough to check
	every uint64 // abandon scans run every this many ticks; 0: never
	last  *call  // the fast-path call seen at the previous tick
}

func newServer(s *Stream, h Handler, ctx context.Context, cfg serveConfig) *server {
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
	if cfg.threshold >= 0 {
		sv.ticks = uint64((cfg.threshold + rescueTick - 1) / rescueTick)
		sv.every = max(1, uint64(cfg.period/rescueTick))
	}
	sv.total, sv.idle = 1, 1
	return sv
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

// worker receives notifications and handles them until Serve stops or the
// worker is not needed any more.
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
		spawn := sv.idle == 0 && sv.phase.Load() == phaseServing && !sv.stopping()
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
		c.epoch = watches.epoch.Load()
		var start time.Time
		if st := sv.st; st != nil {
			start = time.Now()
			st.received.Add(1)
			st.inFlight.Add(1)
		}
		cur = c
		if sv.handoff.Load() <= 0 {
			if sv.inline(c, start) {
				cur = nil
				holding = true
				continue
			}
			// Rescued: the watch passed the turn on and put c in the
			// ring; the worker is one of the concurrent path's now.
		} else {
			sv.concurrent(c, start)
		}
		sv.mu.Lock()
		sv.remove(c)
		cur = nil
		sv.idle++
		exit := sv.phase.Load() != phaseServing || sv.idle > keepIdle
		sv.mu.Unlock()
		if exit {
			return
		}
	}
}

// inline handles c on the fast path and reports whether its worker still
// holds the turn (false: the watch rescued it).
func (sv *server) inline(c *call, start time.Time) bool {
	c.inline.Store(inlineHeld)
	sv.inl.Store(c)
	// The phase after inl: shutdown stores the phase, then looks at inl,
	// so one of the two sees the other (see shutdown).
	switch sv.phase.Load() {
	case phaseServing:
		if !sv.armed.Load() {
			sv.arm()
		}
		sv.handle(c, start)
	case phaseStopping:
		c.cancel(sv.stopErr())
		sv.handle(c, start)
	default:
		// Received as Serve finished its sweep: no handler any more.
		sv.answer(c, sv.cfg.fallback, true)
		sv.handled(start)
	}
	sv.timeCheck(c)
	if c.inline.CompareAndSwap(inlineHeld, inlineDone) {
		sv.inl.CompareAndSwap(c, nil)
		return true
	}
	return false
}

// concurrent hands the turn on and handles c.
func (sv *server) concurrent(c *call, start time.Time) {
	sv.handoff.Add(-1)
	<-sv.turn
	sv.mu.Lock()
	spawn := sv.busy()
	phase := sv.insert(c)
	sv.mu.Unlock()
	if spawn {
		go sv.worker()
	}
	if phase == phaseSwept {
		// Received as Serve finished its sweep: no handler any more.
		sv.answer(c, sv.cfg.fallback, true)
		sv.handled(start)
	} else {
		sv.handle(c, start)
		sv.timeCheck(c)
	}
}

// timeCheck ends the fast path for the next handoffRun calls if c's
// handler ran longer than inlineMax, as far as the watch's ticks tell: a
// handler that ran across a tick ran for at least the time since that
// tick. Only such a handler reads the clock.
func (sv *server) timeCheck(c *call) {
	if watches.epoch.Load() == c.epoch {
		return
	}
	if since()-time.Duration(watches.at.Load()) > inlineMax {
		sv.handoff.Store(handoffRun)
	}
}

// arm subscribes sv to the watch, if it is not.
func (sv *server) arm() {
	sv.mu.Lock()
	sv.armLocked()
	sv.mu.Unlock()
}

// armLocked is arm for a caller that holds mu.
func (sv *server) armLocked() {
	if !sv.armed.Load() && sv.phase.Load() == phaseServing {
		sv.armed.Store(true)
		watches.add(sv)
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
	sv.link(c)
	spawn := sv.busy()
	<-sv.turn
	if spawn {
		go sv.worker()
	}
}

// busy counts a worker going into a handler, and reports whether to
// start another, so that one is left to receive (up to WithMaxInFlight);
// it has counted that one already. The caller holds mu.
func (sv *server) busy() bool {
	sv.idle--
	spawn := sv.idle == 0 && sv.total < sv.cfg.maxInFlight && sv.phase.Load() == phaseServing
	if spawn {
		sv.total++
		sv.idle++
		sv.wg.Add(1)
	}
	return spawn
}

// handle runs the handler for c and answers with its Response, or with the
// fallback if it panics or its Response is invalid.
func (sv *server) handle(c *call, start time.Time) {
	done := false
	defer func() {
		if done {
			return
		}
		// A panic, or runtime.Goexit (then recover returns nil).
		v := recover()
		sv.handled(start)
		if v != nil {
			if sv.st != nil {
				sv.st.panics.Add(1)
			}
			if sv.cfg.onError != nil {
				sv.cfg.onError(&PanicError{Notification: &c.notif, Value: v, Stack: debug.Stack()})
			}
		}
		sv.answer(c, sv.cfg.fallback, true)
	}()
	r := sv.h.ServeNotification(c, &c.notif)
	done = true
	sv.handled(start)
	if err := r.check(); err != nil {
		if sv.cfg.onError != nil {
			sv.cfg.onError(&HandlerError{Notification: &c.notif, Response: r, Err: err})
		}
		sv.answer(c, sv.cfg.fallback, true)
		return
	}
	sv.answer(c, r, false)
}

// handled counts a handler that returned (or a call that had none).
func (sv *server) handled(start time.Time) {
	if st := sv.st; st != nil {
		st.observe(time.Since(start))
		st.inFlight.Add(-1)
	}
}

// answer sends r for c unless c was settled already, and counts the
// outcome. r is valid. fallback says whether r is Serve's rather than the
// handler's. A call is settled once: answered, or found gone (Serve's
// sweep at its stop claims the calls still pending; a call whose answer
// found it gone is never claimed again), so its outcome is counted once.
func (sv *server) answer(c *call, r Response, fallback bool) {
	if err := sv.s.claim(&c.notif); err != nil {
		// Settled by Serve at its stop (or by the handler, and this is
		// the sweep): count only the handler's answers as late.
		if sv.st != nil && !fallback {
			sv.st.late.Add(1)
		}
		return
	}
	sv.outcome(c, r, fallback, sv.s.respondClaimed(&c.notif, r, notifSettled))
}

// outcome counts the result err of answering c with r.
func (sv *server) outcome(c *call, r Response, fallback bool, err error) {
	st := sv.st
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
			sv.cfg.onError(&HandlerError{Notification: &c.notif, Response: r, Err: err})
		}
	}
}

// insert adds c to the ring of calls in flight and returns the phase. The
// caller holds mu.
func (sv *server) insert(c *call) int32 {
	sv.link(c)
	phase := sv.phase.Load()
	switch phase {
	case phaseServing:
		sv.armLocked()
	default:
		c.cancel(sv.stopErr())
	}
	return phase
}

// link puts c in the ring. The caller holds mu.
func (sv *server) link(c *call) {
	c.prev, c.next = sv.list.prev, &sv.list
	c.prev.next, c.next.prev = c, c
	sv.count++
}

// remove takes c off the ring, if it is there. The caller holds mu.
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

// tick is the watch, run by watches every rescueTick while sv has calls
// in flight. It passes the turn on from a fast-path handler that has run
// for a tick or more, and every period it cancels the contexts of old
// calls whose targets gave up. It returns whether to go on watching.
func (sv *server) tick(epoch uint64) bool {
	sv.mu.Lock()
	if sv.phase.Load() != phaseServing {
		sv.armed.Store(false)
		sv.mu.Unlock()
		return false
	}
	if c := sv.inl.Load(); c != nil && c == sv.last {
		sv.rescue(c)
		sv.last = nil
	} else {
		sv.last = c
	}
	scan := sv.scan[:0]
	if sv.every > 0 && epoch%sv.every == 0 {
		for c := sv.list.next; c != &sv.list; c = c.next {
			if epoch-c.epoch > sv.ticks && !c.canceled.Load() {
				scan = append(scan, c)
			}
		}
	}
	sv.scan = nil // ours until we put it back
	sv.mu.Unlock()

	for i, c := range scan {
		if err := sv.s.idValid(c.notif.ID); err == ErrGone && c.notif.state.load() != notifAnswered {
			if sv.st != nil && !c.canceled.Load() {
				sv.st.abandoned.Add(1)
			}
			c.cancel(context.Canceled)
		}
		scan[i] = nil
	}

	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.scan = scan[:0]
	// Disarm, then look for calls: a fast-path worker publishes its call
	// (inl), then looks at armed, so one of the two sees the other.
	sv.armed.Store(false)
	if sv.phase.Load() == phaseServing && (sv.count > 0 || sv.inl.Load() != nil) {
		sv.armed.Store(true)
		return true
	}
	return false
}

// shutdown runs once Serve stops: it answers the calls in flight (at once,
// or after the handlers had their grace period), cancels their handlers,
// and waits for the workers and the watch.
func (sv *server) shutdown() {
	grace := sv.cfg.grace
	sv.mu.Lock()
	sv.phase.Store(phaseStopping)
	var left []*call
	if grace == 0 {
		// Claim the calls before their handlers hear of the stop, so that
		// the answer does not depend on how fast they return.
		sv.phase.Store(phaseSwept)
		left = sv.claimAll()
	}
	reason := sv.stopErr()
	for c := sv.list.next; c != &sv.list; c = c.next {
		c.cancel(reason)
	}
	// The phase before inl: a fast-path worker publishes its call, then
	// looks at the phase (see inline).
	if c := sv.inl.Load(); c != nil {
		c.cancel(reason)
	}
	sv.mu.Unlock()
	// No watch after this (it takes mu: not under mu).
	watches.remove(sv)

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
		sv.phase.Store(phaseSwept)
		left = sv.claimAll()
		sv.mu.Unlock()
		sv.sweep(left)
		<-done
	} else {
		sv.sweep(left)
		sv.wg.Wait()
	}
}

// claimAll claims the calls in flight not answered yet and returns them.
// The caller holds mu.
func (sv *server) claimAll() []*call {
	var left []*call
	for c := sv.list.next; c != &sv.list; c = c.next {
		if c.notif.state.CompareAndSwap(notifPending, notifAnswering) {
			left = append(left, c)
		}
	}
	if c := sv.inl.Load(); c != nil && c.notif.state.CompareAndSwap(notifPending, notifAnswering) {
		left = append(left, c)
	}
	return left
}

// sweep answers the claimed calls with the fallback, each once.
func (sv *server) sweep(left []*call) {
	for _, c := range left {
		sv.outcome(c, sv.cfg.fallback, true, sv.s.respondClaimed(&c.notif, sv.cfg.fallback, notifSettled))
	}
}
