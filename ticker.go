package seccompstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// A ticker calls the tick method of its subscribers every period, from
// one timer for the whole process, while it has any: the reaper of hot
// waits and the watch of Serve calls each use one, so that a thousand busy
// Streams cost one timer, not a thousand.
//
// The two tickers (reaper, watches) and the counts in hot are the
// package's only state shared by all Streams, on purpose: what they
// ration is process-wide, like the runtime's own network poller (the Ps
// that threads blocked in the kernel keep from the other goroutines, and the
// timers the runtime must run). They hold nothing while nothing uses
// them: a ticker with no subscriber has no timer armed and no goroutine
// (the timer is stopped when the last subscriber leaves, and a round in
// progress is waited for), a Stream unsubscribes in Close and a Serve
// before it returns. TestTickersIdleAfterClose checks that no goroutine
// and no armed timer is left once every Stream and Serve is done.
type ticker struct {
	period time.Duration
	epoch  atomic.Uint64 // ticks so far
	at     atomic.Int64  // when the last tick began, in ns since tickBase

	round sync.Mutex // held while a tick round runs: remove waits for it

	mu    sync.Mutex
	subs  map[tickable]uint64 // subscriber: how many times it was added
	timer *time.Timer         // armed exactly while subs is not empty
	armed bool                // timer is pending or its round runs
	buf   []tickSub           // fire's, reused
}

type tickSub struct {
	s    tickable
	adds uint64
}

// A tickable is a ticker's subscriber. tick is called with the ticker's
// epoch; it returns whether to stay subscribed.
type tickable interface {
	tick(epoch uint64) bool
}

// tickBase is the origin of ticker.at and of since: a constant once the
// package is initialised (monotonic clock readings are relative to it).
var tickBase = time.Now()

// since returns the time since tickBase (one clock read).
func since() time.Duration { return time.Since(tickBase) }

// add subscribes s (again: adding counts, see fire).
func (t *ticker) add(s tickable) {
	t.mu.Lock()
	if t.subs == nil {
		t.subs = make(map[tickable]uint64)
		t.timer = time.AfterFunc(time.Hour, t.fire)
		t.timer.Stop()
	}
	if len(t.subs) == 0 && !t.armed {
		t.timer.Reset(t.period)
		t.armed = true
	}
	t.subs[s]++
	t.mu.Unlock()
}

// remove unsubscribes s. When it returns, s's tick does not run and will
// not run again until s is added again; if s was the last subscriber, the
// timer is stopped. The caller must not hold a lock that a tick takes.
func (t *ticker) remove(s tickable) {
	t.round.Lock()
	t.mu.Lock()
	delete(t.subs, s)
	if len(t.subs) == 0 && t.armed && t.timer.Stop() {
		t.armed = false
	}
	t.mu.Unlock()
	t.round.Unlock()
}

// idle reports whether t has no subscriber, no armed timer and no round
// running.
func (t *ticker) idle() bool {
	if !t.round.TryLock() {
		return false
	}
	defer t.round.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.subs) == 0 && !t.armed
}

// fire runs one tick round, and arms the next one if any subscriber
// stays.
func (t *ticker) fire() {
	t.round.Lock()
	defer t.round.Unlock()
	t.at.Store(int64(since()))
	e := t.epoch.Add(1)
	t.mu.Lock()
	subs := t.buf[:0]
	for s, n := range t.subs {
		subs = append(subs, tickSub{s, n})
	}
	t.mu.Unlock()
	drop := subs[:0]
	for _, s := range subs {
		if !s.s.tick(e) {
			drop = append(drop, s)
		}
	}
	t.mu.Lock()
	for _, s := range drop {
		// Not if it was added again meanwhile: that add's caller
		// counts on the next ticks.
		if t.subs[s.s] == s.adds {
			delete(t.subs, s.s)
		}
	}
	if len(t.subs) > 0 {
		t.timer.Reset(t.period)
	} else {
		t.armed = false
	}
	t.mu.Unlock()
	clear(subs[:cap(subs)])
	t.buf = subs[:0]
}
