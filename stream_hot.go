package seccompstream

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// Hot waiting (see (*Stream).wait).
//
// The runtime's network poller costs no OS thread while a Stream is idle,
// but each wait in it is a park, an epoll_pwait and a wake-up through the
// scheduler, often of another thread: several microseconds on the critical
// path of every call. A receiver that blocks in ppoll(2) is woken by the
// kernel directly, at the price of its thread. So a Stream whose
// notifications come less than hotGap apart is hot: it waits in ppoll, for
// one to two reaper ticks at most, then (cold) in the poller. At most
// GOMAXPROCS receivers of the process wait hot at once (hot.waiters), and
// the busiest give their slot up now and then (hotYield): each
// holds its thread and, until the runtime takes it away (20µs or more),
// its P, which the goroutines of the Streams in the poller need.
//
// ppoll gets no timeout (see pollWait): the reaper, a ticker for the whole
// process that ticks every reapTick while any Stream is hot, wakes the hot
// waiters that have waited through a whole tick.
const (
	hotGap   = time.Millisecond       // a wait in the poller shorter than this makes the Stream hot
	reapTick = 500 * time.Microsecond // a hot wait ends after one to two ticks
	// After hotYield hot waits in a row a Stream gives its slot up for
	// one wait if a busy Stream found none free, so that slots go round.
	hotYield = 32
)

// hot holds the process's counts of hot waits.
var hot struct {
	waiters atomic.Int32 // receivers in a hot wait now
	starved atomic.Int32 // hot Streams that found no slot free (see starve)
}

// reaper ends the hot waits that have lasted through one of its ticks.
var reaper = &ticker{period: reapTick}

// hotExpired is the bit of Stream.hotState the reaper sets.
const hotExpired = 1

// errTimeout ends a hot wait that the reaper ended.
var errTimeout = errors.New("seccompstream: hot wait over")

// hotWait waits in ppoll for a notification, as a hot Stream does. It
// returns errTimeout (and s is cold) when the reaper ended the wait, or
// when too many receivers wait hot already. The caller holds the turn.
func (s *Stream) hotWait(ctx context.Context) error {
	if s.hotRun >= hotYield && hot.starved.Load() > 0 {
		// Busy Streams wait cold for want of a slot: give one of them
		// this one for a while.
		s.cool()
		return errTimeout
	}
	if hot.waiters.Add(1) > s.hotMax {
		hot.waiters.Add(-1)
		s.starve(true)
		s.cool()
		return errTimeout
	}
	s.starve(false)
	if !s.hotReg {
		s.heat()
	}
	s.hotRun++
	s.hotWaits.Add(1)
	s.hotState.Store((reaper.epoch.Load() + 1) << 1)
	err := s.pollWait(ctx, true)
	s.hotState.Store(0)
	hot.waiters.Add(-1)
	switch {
	case err == errTimeout:
		s.hotReaped.Add(1)
		s.cool()
	case err == nil && s.pf != nil && hot.starved.Load() == 0:
		// Hot twice in a row, and nobody waiting for a slot (who would
		// soon make s yield): out of the runtime poller (see
		// openPoller).
		s.closePoller()
	}
	return err
}

// starve records whether s is busy but waits cold for want of a hot slot
// (hot.starved counts such Streams). The caller holds the turn, or is
// Close.
func (s *Stream) starve(starved bool) {
	if s.starved != starved {
		s.starved = starved
		if starved {
			hot.starved.Add(1)
		} else {
			hot.starved.Add(-1)
		}
	}
}

// heat subscribes s to the reaper. The caller holds the turn.
func (s *Stream) heat() {
	reaper.add(s)
	s.hotReg = true
}

// cool makes s cold and unsubscribes it from the reaper. The caller holds
// the turn, or is Close.
func (s *Stream) cool() {
	s.hot, s.hotRun = false, 0
	if s.hotReg {
		reaper.remove(s)
		s.hotReg = false
	}
}

// tick is the reaper's: it ends s's hot wait if that began before the
// previous tick.
func (s *Stream) tick(epoch uint64) bool {
	if st := s.hotState.Load(); st != 0 && st&hotExpired == 0 && epoch > st>>1 && s.hotState.CompareAndSwap(st, st|hotExpired) {
		s.kick()
	}
	return true
}

// hotMax is the number of hot waiters allowed at once.
func hotMax() int32 { return int32(max(1, runtime.GOMAXPROCS(0))) }
