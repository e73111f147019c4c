package seccompstream

import (
	"sync/atomic"
	"time"
)

// Stats counts what Serve does, for export to a metrics system (see
// examples/metrics for expvar). Pass it to Serve with WithStats; one Stats
// may be shared by any number of Serve calls, and read with Snapshot at any
// time. The zero Stats is ready to use. Counting costs a few atomic
// additions and two clock reads per notification.
type Stats struct {
	received  atomic.Uint64
	returned  atomic.Uint64
	errnos    atomic.Uint64
	continued atomic.Uint64
	fallbacks atomic.Uint64
	gone      atomic.Uint64
	failed    atomic.Uint64
	late      atomic.Uint64
	panics    atomic.Uint64
	abandoned atomic.Uint64
	inFlight  atomic.Int64
	handled   atomic.Uint64
	nanos     atomic.Uint64
	latency   [numLatencyBuckets]atomic.Uint64
}

// numLatencyBuckets is the number of handler latency buckets: upper bounds
// 1µs·4^i for i in 0..10 (1µs to about 1s), and one for longer times.
const numLatencyBuckets = 12

// latencyBound returns the upper bound of bucket i (the last has none).
func latencyBound(i int) time.Duration {
	if i >= numLatencyBuckets-1 {
		return time.Duration(1<<63 - 1)
	}
	return time.Microsecond << (2 * i)
}

func (s *Stats) observe(d time.Duration) {
	s.handled.Add(1)
	if d > 0 {
		s.nanos.Add(uint64(d))
	}
	i := 0
	for i < numLatencyBuckets-1 && d > latencyBound(i) {
		i++
	}
	s.latency[i].Add(1)
}

// StatsSnapshot is what a Stats held at one moment. Every notification
// Serve received ends in exactly one of Returned, Errno, Continued,
// Fallback, Gone and Failed, or is still counted in InFlight; the counters
// are read one by one, so a snapshot taken while serving may be off by the
// calls that moved meanwhile.
type StatsSnapshot struct {
	Received uint64 // notifications received

	// Answers sent, by who made them and their kind.
	Returned  uint64 // the handler's Return
	Errno     uint64 // the handler's Errno or Error
	Continued uint64 // the handler's Continue
	Fallback  uint64 // Serve's fallback: a panic, an invalid Response, or the stop

	Gone   uint64 // answers the kernel refused because the target had abandoned the call
	Failed uint64 // answers that failed otherwise (the Stream was closed, a kernel error)

	Late      uint64 // handler answers dropped because Serve had answered when it stopped
	Panics    uint64 // handlers that panicked
	Abandoned uint64 // handler contexts cancelled because the target abandoned the call
	InFlight  int64  // handlers running now

	Handled     uint64        // handlers that returned (or panicked)
	HandlerTime time.Duration // their total time, from receive to return
	// HandlerLatency counts the handlers by time taken, in buckets of
	// growing upper bounds (1µs, 4µs, 16µs, ... about 1s, then no bound).
	HandlerLatency []LatencyBucket
}

// LatencyBucket is one bucket of a latency histogram: Count handlers took
// longer than the previous bucket's UpperBound and at most this one's.
type LatencyBucket struct {
	UpperBound time.Duration // the last bucket's is the largest Duration
	Count      uint64
}

// Snapshot returns the current counts. The counters are read one at a
// time, not as one atomic picture: while calls are being answered, a
// snapshot can see a call that has left InFlight before its outcome was
// counted. Once the Serve calls that use s have returned, the counts add up
// (Received equals the sum of the outcomes).
func (s *Stats) Snapshot() StatsSnapshot {
	snap := StatsSnapshot{
		Received:       s.received.Load(),
		Returned:       s.returned.Load(),
		Errno:          s.errnos.Load(),
		Continued:      s.continued.Load(),
		Fallback:       s.fallbacks.Load(),
		Gone:           s.gone.Load(),
		Failed:         s.failed.Load(),
		Late:           s.late.Load(),
		Panics:         s.panics.Load(),
		Abandoned:      s.abandoned.Load(),
		InFlight:       s.inFlight.Load(),
		Handled:        s.handled.Load(),
		HandlerTime:    time.Duration(s.nanos.Load()),
		HandlerLatency: make([]LatencyBucket, numLatencyBuckets),
	}
	for i := range snap.HandlerLatency {
		snap.HandlerLatency[i] = LatencyBucket{UpperBound: latencyBound(i), Count: s.latency[i].Load()}
	}
	return snap
}

// Answered returns the number of answers the kernel accepted.
func (s StatsSnapshot) Answered() uint64 { return s.Returned + s.Errno + s.Continued + s.Fallback }
