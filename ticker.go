package seccompstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// A ticker calls the tick method of its subscribers every period, from
// one timer for the whole process, while it has any: the reaper of hot
// waits and the watch of Serve calls each use one, so that a thousand busy
// Streams cost one timer, not a thousand. It holds no goroutine while it
// has no subscriber.
type ticker struct {
	period time.Duration
	epoch  atomic.Uint64 // ticks so far
	at     atomic.Int64  // when the last tick began, in ns since tickBase

	round sync.Mutex // held while a tick round runs: remove waits for it

	mu    sync.Mutex
	subs  map[tickable]uint64 // subscriber: how many times it was added
	timer *time.Timer         // pending while subs is not empty
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

// tickBase is the origin of ticker.at and of since.
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
	if len(t.subs) == 0 {
		t.timer.Reset(t.period)
	}
	t.subs[s]++
	t.mu.Unlock()
}

// remove unsubscribes s. When it returns, s's tick does not run and will
// not run again until s is added again. The caller must not hold a lock
// that a tick takes.
func (t *ticker) remove(s tickable) {
	t.round.Lock()
	t.mu.Lock()
	delete(t.subs, s)
	t.mu.Unlock()
	t.round.Unlock()
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
	}
	t.mu.Unlock()
	clear(subs[:cap(subs)])
	t.buf = subs[:0]
}
