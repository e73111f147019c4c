package seccompstream_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

func init() {
	// bursts: for each line read from stdin (a count n), call getppid(i)
	// for i in 0..n-1 back to back, expecting 3*i, then print "done n".
	scenarios["bursts"] = func([]string) int {
		for {
			var n uint64
			if _, err := fmt.Scanln(&n); err != nil {
				return 0
			}
			for i := range n {
				r, e := sectestGetppid(uintptr(i))
				if e != 0 || uint64(r) != 3*i {
					fmt.Printf("call %d: got %d, errno %v\n", i, r, e)
					return 1
				}
			}
			fmt.Printf("done %d\n", n)
		}
	}
}

// startBursts starts the bursts child with a Stream over its listener, and
// returns a function that asks for a burst of n calls.
func startBursts(t *testing.T, opts ...seccompstream.Option) (*sectest.Child, *seccompstream.Stream, func(n int)) {
	t.Helper()
	pr, pw := io.Pipe()
	c := sectest.StartChild(t, sectest.Opts{Scenario: "bursts", Notify: []string{"getppid"}, Stdin: pr,
		// A burst that lasts over 10 ms (the emulated 6.1 guest) gets a
		// preemption signal from the child's runtime, which interrupts
		// the call it waits in: the call restarts as a new notification,
		// and the test's count of calls is off.
		Env: []string{"GODEBUG=asyncpreemptoff=1"}})
	t.Cleanup(func() { pw.Close() }) // before StartChild's cleanup, which waits for the child's stdin
	s, err := seccompstream.New(c.Listener, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c, s, func(n int) { fmt.Fprintf(pw, "%d\n", n) }
}

// answerN answers n calls (3*arg) and fails the test on any error.
func answerN(t *testing.T, ctx context.Context, s *seccompstream.Stream, n int) {
	t.Helper()
	for range n {
		m, err := s.Receive(ctx)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if err := s.Respond(m, seccompstream.Return(int64(m.Args[0]*3))); err != nil {
			t.Fatalf("Respond %v: %v", m, err)
		}
	}
}

// TestHotThenCold: a burst of back-to-back calls makes the Stream hot (its
// receiver waits in ppoll, and the listener leaves the runtime poller);
// once the target is quiet, the reaper ends the hot wait within
// milliseconds and the receiver waits in the poller again, where it still
// ends with its context.
func TestHotThenCold(t *testing.T) {
	c, s, burst := startBursts(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	calls := sectest.Scale(2000)
	burst(calls)
	answerN(t, ctx, s, calls)
	hotWaits, _, _ := seccompstream.WaitStats(s)
	if hotWaits == 0 {
		t.Fatalf("%d back-to-back calls and no hot wait", calls)
	}
	errc := receiveAsync(s, ctx)
	// Quiet now: the reaper must end the hot wait.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, reaped, inPoller := seccompstream.WaitStats(s)
		if reaped > 0 && inPoller {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still hot 30s after the last call (reaped %d, in poller %v)", reaped, inPoller)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := waitErr(t, errc); err != context.Canceled {
		t.Fatalf("Receive = %v, want context.Canceled", err)
	}
	// And hot again for the next burst.
	burst(calls)
	answerN(t, testCtx(t), s, calls)
	if again, _, _ := seccompstream.WaitStats(s); again <= hotWaits {
		t.Fatalf("no hot wait in the second burst (%d, then %d)", hotWaits, again)
	}
	if out := c.Output(); strings.Contains(out, "call") {
		t.Fatalf("child: %s", out)
	}
}

// TestHotWaitCanceled cancels, and then closes, a Stream whose receiver is
// in (or near) a hot wait right after a burst: Receive must return at once
// with the context's error, and with os.ErrClosed.
func TestHotWaitCanceled(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		_, s, burst := startBursts(t, opts...)
		for round := range sectest.Scale(50) {
			burst(100)
			answerN(t, testCtx(t), s, 100)
			ctx, cancel := context.WithCancel(context.Background())
			errc := receiveAsync(s, ctx)
			time.Sleep(time.Duration(round%5) * 50 * time.Microsecond)
			cancel()
			if err := waitErr(t, errc); err != context.Canceled {
				t.Fatalf("round %d: Receive = %v, want context.Canceled", round, err)
			}
		}
		burst(100)
		answerN(t, testCtx(t), s, 100)
		wantCloseEndsReceive(t, s, 100*time.Microsecond)
	})
}

// TestServeHotThenCancel: Serve's workers wait hot during a burst and
// Serve still ends promptly with its context afterwards.
func TestServeHotThenCancel(t *testing.T) {
	c, s, burst := startBursts(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var st seccompstream.Stats
	wait := startServe(t, ctx, s, seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(int64(n.Args[0] * 3))
	}), seccompstream.WithStats(&st))
	calls := sectest.Scale(2000)
	burst(calls)
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(c.Output(), fmt.Sprintf("done %d", calls)); {
		if time.Now().After(deadline) {
			t.Fatalf("burst not done after 60s: %+v", st.Snapshot())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := wait(); err != context.Canceled {
		t.Fatalf("Serve = %v, want context.Canceled", err)
	}
	if hotWaits, _, _ := seccompstream.WaitStats(s); hotWaits == 0 {
		t.Fatal("no hot wait under Serve")
	}
	if snap := st.Snapshot(); snap.Returned != uint64(calls) || snap.Fallback != 0 {
		t.Fatalf("stats %+v, want %d returned", snap, calls)
	}
}

// TestTickersIdleAfterClose: the process-wide tickers (the reaper of hot
// waits, Serve's watch) and the hot counts hold nothing once every Stream
// and Serve that used them is done: no subscriber, no armed timer, and no
// goroutine of the package left.
func TestTickersIdleAfterClose(t *testing.T) {
	if !seccompstream.TickersIdle() {
		t.Fatal("tickers busy before the test")
	}
	if left := packageGoroutines(); len(left) != 0 {
		t.Fatalf("goroutines running package code before the test:\n%s", strings.Join(left, "\n\n"))
	}
	calls := sectest.Scale(2000)

	// A hot plain loop: Receive/Respond over bursts.
	c1, s1, burst1 := startBursts(t)
	// A hot Serve with calls in flight when it is cancelled.
	c2, s2, burst2 := startBursts(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := startServe(t, ctx, s2, seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(int64(n.Args[0] * 3))
	}))
	burst1(calls)
	burst2(calls)
	answerN(t, testCtx(t), s1, calls)
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(c2.Output(), fmt.Sprintf("done %d", calls)); {
		if time.Now().After(deadline) {
			t.Fatal("Serve's burst not done after 60s")
		}
		time.Sleep(time.Millisecond)
	}
	if hw1, _, _ := seccompstream.WaitStats(s1); hw1 == 0 {
		t.Fatal("the plain loop never waited hot")
	}
	if hw2, _, _ := seccompstream.WaitStats(s2); hw2 == 0 {
		t.Fatal("Serve never waited hot")
	}
	if seccompstream.TickersIdle() {
		t.Log("tickers already idle while the Streams are open (both cooled)")
	}
	cancel()
	if err := wait(); err != context.Canceled {
		t.Fatalf("Serve = %v, want context.Canceled", err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing subscribed, no timer armed: at once, but for a round whose
	// timer had fired as the last subscriber left (it finds no one).
	for deadline := time.Now().Add(10 * time.Second); !seccompstream.TickersIdle(); {
		if time.Now().After(deadline) {
			t.Fatalf("after every Stream and Serve is done: %s", seccompstream.TickersState())
		}
		time.Sleep(time.Millisecond)
	}
	_ = c1
	// And no goroutine of the package left (goroutines on their way out
	// get time; the children's os/exec goroutines go with their cleanup).
	for deadline := time.Now().Add(10 * time.Second); ; {
		left := packageGoroutines()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines running package code after Close:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(time.Millisecond)
	}
}

// packageGoroutines returns the stacks of the goroutines with a frame in
// the root package (not its tests, not internal packages).
func packageGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "github.com/seccompstream/seccompstream.") {
				left = append(left, g)
				break
			}
		}
	}
	return left
}
