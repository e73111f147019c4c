package seccompstream_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

func init() {
	// spin N: call getppid(i) N times and accept any answer.
	scenarios["spin"] = func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		for i := 0; i < n; i++ {
			sectestGetppid(uintptr(i))
		}
		return 0
	}
}

// TestAllocsPerRoundTrip checks the allocation budget: at most one heap
// allocation (the *Notification) per Receive+Respond.
func TestAllocsPerRoundTrip(t *testing.T) {
	if sectest.RaceEnabled() {
		t.Skip("the race detector adds allocations; budget checked without -race")
	}
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		const runs = 2000
		c, s := start(t, "spin", []string{strconv.Itoa(runs + 1)}, opts...)
		// A context that can end: its watcher is set up once, not per call.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var failed error
		allocs := testing.AllocsPerRun(runs, func() {
			n, err := s.Receive(ctx)
			if err == nil {
				err = s.Respond(n, seccompstream.Return(1))
			}
			if err != nil && !errors.Is(err, seccompstream.ErrGone) && failed == nil {
				failed = err
			}
		})
		if failed != nil {
			t.Fatal(failed)
		}
		// Calls interrupted after they were received come back as new
		// notifications, so the child may still wait for some answers.
		serveUntilEOF(t, ctx, s, func(*seccompstream.Notification) seccompstream.Response {
			return seccompstream.Return(1)
		})
		wantExit0(t, c)
		t.Logf("%.2f allocations per Receive+Respond", allocs)
		if allocs > 1 {
			t.Fatalf("%.2f allocations per Receive+Respond, want <= 1", allocs)
		}
	})
}

// BenchmarkRoundTrip measures one trapped call answered by the supervisor,
// from the supervisor's side. For ratios against a C supervisor, use
// scripts/bench.
func BenchmarkRoundTrip(b *testing.B) {
	benchModes(b, func(b *testing.B, opts ...seccompstream.Option) {
		c := sectest.StartChild(b, sectest.Opts{Scenario: "spin", Args: []string{strconv.Itoa(b.N)}, Notify: []string{"getppid"}, WaitKillableRecv: true})
		s, err := seccompstream.New(c.Listener, opts...)
		if err != nil {
			sectest.SkipIfNotSupported(b, err)
			b.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			n, err := s.Receive(ctx)
			if err != nil {
				b.Fatal(err)
			}
			// A Go target's calls can be interrupted (preemption
			// signals) before they were received: then they are gone.
			if err := s.Respond(n, seccompstream.Return(1)); err != nil && !errors.Is(err, seccompstream.ErrGone) {
				b.Fatal(err)
			}
		}
	})
}

// benchModes runs a benchmark in both receive modes, each with and
// without SYNC_WAKE_UP.
func benchModes(b *testing.B, f func(b *testing.B, opts ...seccompstream.Option)) {
	for _, m := range modes {
		for _, sync := range []bool{false, true} {
			name := m.name
			opts := m.opts
			if sync {
				name += "/syncwakeup"
				opts = append(opts[:len(opts):len(opts)], seccompstream.WithSyncWakeup())
			}
			b.Run(name, func(b *testing.B) { f(b, opts...) })
		}
	}
}
