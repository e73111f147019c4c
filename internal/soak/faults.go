package soak

import (
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The injectors. Each runs every so often (Config) until injection stops.
// Signals to targets go through pidfds, so a reused pid is never hit.

// signalTarget sends four random targets a signal each: SIGUSR1, SIGUSR2,
// SIGURG, or SIGSTOP followed shortly by SIGCONT.
func (h *harness) signalTarget(r *rand.Rand) {
	for range 4 {
		t := h.pick(r, (*target).ready)
		if t == nil {
			return
		}
		var kind int
		var sig unix.Signal
		switch x := r.IntN(100); {
		case x < 40:
			kind, sig = faultSigUSR1, unix.SIGUSR1
		case x < 60:
			kind, sig = faultSigUSR2, unix.SIGUSR2
		case x < 85:
			kind, sig = faultSigURG, unix.SIGURG
		default:
			kind, sig = faultSigStop, unix.SIGSTOP
		}
		if !t.signal(sig) {
			continue
		}
		if sig == unix.SIGSTOP {
			time.AfterFunc(time.Duration(100+r.IntN(1900))*time.Microsecond, func() { t.signal(unix.SIGCONT) })
		}
		h.c.fault(kind)
	}
}

// signalSelf sends SIGURG or SIGCHLD to four random threads of the supervisor,
// as the Go runtime and child processes do all the time: every system
// call of the library must survive being interrupted.
func (h *harness) signalSelf(r *rand.Rand) {
	if now := time.Now(); now.Sub(h.tidsAt) > 100*time.Millisecond {
		h.tidsAt = now
		h.tids = h.tids[:0]
		ents, _ := os.ReadDir("/proc/self/task")
		for _, e := range ents {
			if tid, err := strconv.Atoi(e.Name()); err == nil {
				h.tids = append(h.tids, tid)
			}
		}
		if n := int64(len(h.tids)); n > h.threadsPeak.Load() {
			h.threadsPeak.Store(n)
		}
	}
	if len(h.tids) == 0 {
		return
	}
	for range 4 {
		sig := unix.SIGURG
		if r.IntN(2) == 0 {
			sig = unix.SIGCHLD
		}
		// tgkill checks the thread group: a thread that exited
		// meanwhile, its id reused elsewhere, gets nothing.
		if unix.Tgkill(os.Getpid(), h.tids[r.IntN(len(h.tids))], sig) == nil {
			h.c.fault(faultSelfSignal)
		}
	}
}

// killInCall SIGKILLs a target while it waits in a call (not one of the
// steady Group, whose 64 streams should stay busy).
func (h *harness) killInCall(r *rand.Rand) {
	t := h.pick(r, func(t *target) bool { return t.server != srvGroup && t.get(lCallStart) != 0 })
	if t == nil {
		return
	}
	t.kill()
	h.c.fault(faultKill)
}

// cancelServe cancels the Serve of a disrupted target; its slot serves the
// Stream again at once.
func (h *harness) cancelServe(r *rand.Rand) {
	t := h.pick(r, func(t *target) bool { return t.server == srvServe && t.mix == mixDisrupted && t.inServe.Load() })
	if t == nil {
		return
	}
	busy := t.stats.Snapshot().InFlight > 0
	t.cancelMu.Lock()
	cancel := t.cancel
	t.cancelMu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	h.c.fault(faultCancel)
	if busy {
		h.c.fault(faultCancelBusy)
	}
}

// closeStream closes the Stream of a disrupted target while it calls, and
// then kills the target, whose calls would all fail with ENOSYS from then
// on.
func (h *harness) closeStream(r *rand.Rand) {
	t := h.pick(r, func(t *target) bool {
		return (t.server == srvServe || t.server == srvLoop) && t.mix == mixDisrupted && !t.closed.Load()
	})
	if t == nil {
		return
	}
	t.closed.Store(true)
	t.s.Close()
	t.kill()
	h.c.fault(faultClose)
}

// closeGroup closes the disrupted Group with its Streams serving, and puts
// a new one in its place.
func (h *harness) closeGroup(*rand.Rand) {
	if h.dg == nil {
		return
	}
	g, st := h.newDisruptGroup()
	h.mu.Lock()
	old, oldStats := h.dg, h.dgStats
	h.dg, h.dgStats = g, st
	h.mu.Unlock()
	h.closeGroupAndCheck(old, oldStats)
	h.c.fault(faultGroupClose)
}

// watch finds hung calls: a call that has waited longer than Hang. Its
// target is killed (so that the slot goes on) after the hang is recorded.
func (h *harness) watch(*rand.Rand) {
	if n := int64(countThreads()); n > h.threadsPeak.Load() {
		h.threadsPeak.Store(n)
	}
	now := monotonicNS()
	if a := h.agent.Load(); a != nil {
		a.watch(now)
	}
	h.forLive(func(t *target) {
		start := t.get(lCallStart)
		if start == 0 || now < start || time.Duration(now-start) < h.cfg.Hang {
			return
		}
		seq := t.get(lCurSeq)
		if t.hungSeq.Swap(seq) == seq {
			return
		}
		st := t.stats.Snapshot()
		h.c.do(func(r *Report) { r.Hung++ })
		h.c.detail("target %d (%s): call %d (op %s) unanswered after %v; Serve stats %+v",
			t.id, t.describe(), seq, opNames[min(t.get(lCurOp), numOps-1)], time.Duration(now-start).Round(time.Millisecond),
			[]uint64{st.Received, st.Returned, st.Errno, st.Continued, st.Fallback, st.Gone, st.Failed, uint64(st.InFlight)})
		t.kill()
	})
}
