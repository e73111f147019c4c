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
// path of every call. A receiver that blocks in the kernel (in RECV, see
// recvBlocking, or in ppoll(2)) is woken by the kernel directly, at the
// price of its thread. So a Stream whose notifications come less than
// hotGap apart is hot: it waits in the kernel, for one to two reaper ticks
// at most, then (cold) in the poller.
//
// A thread blocked in the kernel keeps its P until the runtime takes it away
// (20µs at best), and the goroutines of the Streams waiting in the poller
// need the Ps. So Streams wait hot only while no more of them are hot than
// there are Ps (GOMAXPROCS, hot.busy): past that, every Stream waits in the
// poller, which serves many busy Streams evenly and with fewer threads.
//
// The wait has no timeout (see pollWait): the reaper, a ticker for the
// whole process that ticks every reapTick while any Stream is hot, wakes
// the hot waiters that have waited through a whole tick.
const (
	hotGap   = time.Millisecond       // a wait in the poller shorter than this makes the Stream hot
	reapTick = 500 * time.Microsecond // a hot wait ends after one to two ticks
)

// hot holds the process's counts of hot Streams: process-wide because the
// Ps they compete for are (see ticker for why this state is shared and
// how it returns to zero: a Stream gives its count back in Close).
var hot struct {
	busy    atomic.Int32 // Streams that are hot (Stream.hot), waiting hot or not
	waiters atomic.Int32 // receivers in a hot wait now
}

// reaper ends the hot waits that have lasted through one of its ticks. It
// has subscribers only while Streams are hot (see ticker).
var reaper = &ticker{period: reapTick}

// hotExpired is the bit of Stream.hotState the reaper sets.
const hotExpired = 1

// errTimeout ends a hot wait that the reaper ended.
var errTimeout = errors.New("seccompstream: hot wait over")

// hotWait waits in the kernel for a notification, as a hot Stream does. It
// returns errTimeout when the reaper ended the wait (s is cold then), or
// when too many Streams are hot to wait hot at all (s stays hot: it is
// busy, and will wait hot again once fewer are). The caller holds the
// turn.
func (s *Stream) hotWait(ctx context.Context) error {
	if hot.busy.Load() > s.hotMax {
		return errTimeout
	}
	if hot.waiters.Add(1) > s.hotMax {
		hot.waiters.Add(-1)
		return errTimeout
	}
	err := s.hotRecv(ctx)
	hot.waiters.Add(-1)
	if err == nil && s.pf != nil {
		// Hot twice in a row: out of the runtime poller (see
		// openPoller).
		s.closePoller()
	}
	return err
}

// hotRecv is the wait of a hot receiver, counted and ended by the reaper:
// a blocking RECV where one may be used, else ppoll. It returns
// errTimeout when the reaper ended the wait; s is cold then. The caller
// holds the turn.
func (s *Stream) hotRecv(ctx context.Context) error {
	if !s.hotReg {
		s.heat()
	}
	s.hotWaits.Add(1)
	s.hotState.Store((reaper.epoch.Load() + 1) << 1)
	err := s.recvBlocking(ctx)
	if err == errNoBlock {
		err = s.pollWait(ctx, true)
	}
	s.hotState.Store(0)
	if err == errTimeout {
		s.hotReaped.Add(1)
		s.setHot(false)
	}
	return err
}

// dedicatedWait is the wait of the dedicated-thread mode: in ppoll, and
// while notifications come in quick succession (from a wait that ended
// with one until the reaper ends a wait) as a hot Stream waits, without
// the limits on hot Streams. The caller holds the turn.
func (s *Stream) dedicatedWait(ctx context.Context) error {
	if s.hot {
		if err := s.hotRecv(ctx); err != errTimeout {
			return err
		}
	}
	err := s.pollWait(ctx, false)
	if err == nil {
		s.setHot(true)
	}
	return err
}

// setHot records whether s is hot, and keeps hot.busy (which does not
// count the dedicated-thread mode's Streams). The caller holds the turn,
// or is Close.
func (s *Stream) setHot(h bool) {
	if s.hot == h {
		return
	}
	s.hot = h
	switch {
	case s.cfg.dedicated:
	case h:
		hot.busy.Add(1)
	default:
		hot.busy.Add(-1)
	}
	if !h && s.hotReg {
		reaper.remove(s)
		s.hotReg = false
	}
}

// heat subscribes s to the reaper. The caller holds the turn.
func (s *Stream) heat() {
	reaper.add(s)
	s.hotReg = true
}

// tick is the reaper's: it ends s's hot wait if that began before the
// previous tick.
func (s *Stream) tick(epoch uint64) bool {
	if s.holdHot {
		return true
	}
	if st := s.hotState.Load(); st != 0 && st&hotExpired == 0 && epoch > st>>1 && s.hotState.CompareAndSwap(st, st|hotExpired) {
		s.kick()
	}
	return true
}

// hotMax is the number of hot waiters allowed at once.
func hotMax() int32 { return int32(max(1, runtime.GOMAXPROCS(0))) }
