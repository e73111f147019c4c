package seccompstream

import (
	"fmt"

	"github.com/seccompstream/seccompstream/internal/unotify"
)

// InjectPollFaults makes the next lonePOLLERR non-empty polls of s's
// listener report a lone POLLERR, and the next notPollable waits of s in
// the runtime poller fail with "not pollable", as they do after the
// kernel's poll fails (see pollErr). Neither can be produced on cue: a
// lone POLLERR needs the listener's notify lock to be contended and a
// signal pending on the polling thread at that instant. Call it before
// the first Receive.
func InjectPollFaults(s *Stream, lonePOLLERR, notPollable int64) {
	f := new(pollFaults)
	f.lonePOLLERR.Store(lonePOLLERR)
	f.notPollable.Store(notPollable)
	s.faults = f
}

// PollStats returns how many lone POLLERRs s saw (real or injected) and
// how many notifications it received outside the runtime poller because
// the poller could not be used.
func PollStats(s *Stream) (pollErrs, fallbacks uint64) {
	return s.pollErrs.Load(), s.fallbacks.Load()
}

// WaitStats returns how many hot waits s began, how many of them the
// reaper ended, and whether s is in the runtime poller now (cold).
func WaitStats(s *Stream) (hotWaits, reaped uint64, inPoller bool) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return s.hotWaits.Load(), s.hotReaped.Load(), s.pf != nil
}

// DupsRecognized reports whether this process can tell that two fds are
// dups of one file (kcmp(2), which Streams over dups of one listener need
// to share their turn).
func DupsRecognized(fd int) bool {
	c, err := unotify.CompareFiles(fd, fd)
	return err == nil && c == 0
}

// TickersIdle reports whether the process-wide tickers (the reaper of hot
// waits, Serve's watch) have no subscriber, no armed timer and no round
// running, and no Stream counts as hot.
func TickersIdle() bool {
	return reaper.idle() && watches.idle() && hot.busy.Load() == 0 && hot.waiters.Load() == 0
}

// TickersState describes the tickers and hot counts, for a test's failure.
func TickersState() string {
	return fmt.Sprintf("reaper idle %v, watches idle %v, hot busy %d, hot waiters %d",
		reaper.idle(), watches.idle(), hot.busy.Load(), hot.waiters.Load())
}

// Claimable reports whether n is pending, so that Serve's stop would
// claim it and answer it with the fallback.
func Claimable(n *Notification) bool { return n.state.load() == notifPending }

// HoldHot makes the reaper leave s's hot waits alone: a receiver in one
// stays there until a notification, its context, Close or a Stream
// sharing the file ends it. Call it before the first Receive.
func HoldHot(s *Stream) { s.holdHot = true }

// BlockingStats returns how many blocking RECVs s began and the thread in
// one now (0 if none).
func BlockingStats(s *Stream) (begun uint64, tid int) {
	return s.blocking.Load(), int(s.blockTID.Load())
}
