package seccompstream_test

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// floodSupervisor sends SIGURG (which the Go runtime handles and otherwise
// ignores) to every thread of this process, over and over, until stop is
// called; stop returns how many signals were sent. A thread polling the
// listener while its notify lock is contended and a signal is pending gets
// a lone POLLERR from the kernel (seccomp_notify_poll), which is what the
// flood provokes.
func floodSupervisor(t *testing.T) (stop func() int) {
	t.Helper()
	pid := unix.Getpid()
	done := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		self := unix.Gettid()
		for {
			select {
			case <-done:
				return
			default:
			}
			ents, err := os.ReadDir("/proc/self/task")
			if err != nil {
				return
			}
			for _, e := range ents {
				tid, err := strconv.Atoi(e.Name())
				if err != nil || tid == self {
					continue
				}
				if unix.Tgkill(pid, tid, unix.SIGURG) == nil {
					sent.Add(1)
				}
			}
		}
	}()
	var once sync.Once
	return func() int {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
		return int(sent.Load())
	}
}

// TestReceiveSignalFlood: several target threads hammer a notified call
// while every thread of the supervisor is flooded with signals. The
// kernel's poll of the listener then fails now and then with a lone POLLERR
// (its notify lock was contended and the polling thread had a signal
// pending), and the runtime's poller turns such an event into "not
// pollable" for every later wait until the next event. Neither may end
// the stream, and no pending call may be lost: every call is answered and
// Receive runs to io.EOF.
func TestReceiveSignalFlood(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		threads, calls := 8, sectest.Scale(20000)
		c, s := start(t, "threads", []string{strconv.Itoa(threads), strconv.Itoa(calls)}, opts...)
		stop := floodSupervisor(t)
		defer stop()
		n := serveUntilEOF(t, testCtx(t), s, func(n *seccompstream.Notification) seccompstream.Response {
			return seccompstream.Return(int64(n.Args[0] * 3))
		})
		sent := stop()
		wantExit0(t, c)
		pollErrs, fallbacks := seccompstream.PollStats(s)
		t.Logf("%d notifications answered, %d skipped, %d signals sent to the supervisor, %d lone POLLERRs, %d waits outside the poller",
			n, s.Skipped(), sent, pollErrs, fallbacks)
		if n < threads*calls {
			t.Fatalf("answered %d, want >= %d", n, threads*calls)
		}
	})
}

// TestServeSignalFlood is TestReceiveSignalFlood through Serve: Serve must
// not return (nor answer anything with its fallback) because of a
// transient poll error.
func TestServeSignalFlood(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		threads, calls := 8, sectest.Scale(20000)
		c, s := start(t, "threads", []string{strconv.Itoa(threads), strconv.Itoa(calls)}, opts...)
		stop := floodSupervisor(t)
		defer stop()
		var st seccompstream.Stats
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		err := s.Serve(ctx, seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
			return seccompstream.Return(int64(n.Args[0] * 3))
		}), seccompstream.WithStats(&st))
		sent := stop()
		if err != nil {
			t.Fatalf("Serve = %v after %+v", err, st.Snapshot())
		}
		wantExit0(t, c)
		snap := st.Snapshot()
		pollErrs, fallbacks := seccompstream.PollStats(s)
		t.Logf("%d signals sent to the supervisor, %d lone POLLERRs, %d waits outside the poller; %d received, %d returned",
			sent, pollErrs, fallbacks, snap.Received, snap.Returned)
		if snap.Returned < uint64(threads*calls) || snap.Fallback != 0 {
			t.Fatalf("returned %d (want >= %d), fallback %d (want 0)", snap.Returned, threads*calls, snap.Fallback)
		}
	})
}

// TestReceiveLonePOLLERR: lone POLLERRs from the listener (injected: the
// kernel produces them only when its notify lock is contended and the
// polling thread has a signal pending) are transient: polled again, never
// an error.
func TestReceiveLonePOLLERR(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		threads, calls := 4, sectest.Scale(2000)
		c, s := start(t, "threads", []string{strconv.Itoa(threads), strconv.Itoa(calls)}, opts...)
		const faults = 500
		seccompstream.InjectPollFaults(s, faults, 0)
		n := serveUntilEOF(t, testCtx(t), s, func(n *seccompstream.Notification) seccompstream.Response {
			return seccompstream.Return(int64(n.Args[0] * 3))
		})
		wantExit0(t, c)
		pollErrs, _ := seccompstream.PollStats(s)
		if n < threads*calls || pollErrs < faults {
			t.Fatalf("answered %d (want >= %d), %d lone POLLERRs seen (want >= %d)", n, threads*calls, pollErrs, faults)
		}
	})
}

// TestReceiveNotPollable: the runtime poller fails every wait with "not
// pollable" (as it does, until the listener's next event, after epoll_wait
// saw a lone EPOLLERR; injected here for good, with lone POLLERRs too).
// Receive waits outside the poller: every call is answered, none lost, and
// the fallback does not spin (one wait per notification or fewer).
func TestReceiveNotPollable(t *testing.T) {
	threads, calls := 4, sectest.Scale(2000)
	c, s := start(t, "threads", []string{strconv.Itoa(threads), strconv.Itoa(calls)})
	seccompstream.InjectPollFaults(s, 100, 1<<62)
	ctx, cancel := context.WithCancel(testCtx(t)) // a watcher that kicks the eventfd
	defer cancel()
	n := serveUntilEOF(t, ctx, s, func(n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(int64(n.Args[0] * 3))
	})
	wantExit0(t, c)
	_, fallbacks := seccompstream.PollStats(s)
	t.Logf("%d answered, %d fallback waits", n, fallbacks)
	if n < threads*calls {
		t.Fatalf("answered %d, want >= %d", n, threads*calls)
	}
	if fallbacks > uint64(n)+1 {
		t.Fatalf("%d fallback waits for %d notifications: spinning", fallbacks, n)
	}
}

// TestReceiveNotPollablePending: a notification that is pending when the
// poller fails is received (its wake-up is gone: only a poll of the
// listener finds it).
func TestReceiveNotPollablePending(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	c := sectest.StartChild(t, sectest.Opts{Scenario: "wait-once", Notify: []string{"getppid"}, Stdin: pr})
	s, err := seccompstream.New(c.Listener)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pw.Write([]byte("go\n"))
	pw.Close()
	// Wait until the call is pending, then make the poller fail.
	for !listenerReadable(t, s.FD()) {
		time.Sleep(time.Millisecond)
	}
	seccompstream.InjectPollFaults(s, 0, 1<<62)
	n, err := s.Receive(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Respond(n, seccompstream.Return(5)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Receive(testCtx(t)); err != io.EOF {
		t.Fatalf("Receive = %v, want io.EOF", err)
	}
	wantExit0(t, c)
	if out := c.Output(); !strings.Contains(out, "result 5 errno 0") {
		t.Fatalf("child output %q", out)
	}
}

func listenerReadable(t *testing.T, fd int) bool {
	t.Helper()
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if _, err := unix.Poll(p, 0); err != nil && err != unix.EINTR {
		t.Fatal(err)
	}
	return p[0].Revents&unix.POLLIN != 0
}

// TestReceiveNotPollableCancel: while the poller is unusable, Receive still
// ends with its context (deadline, cancel) and with Close.
func TestReceiveNotPollableCancel(t *testing.T) {
	_, s := start(t, "idle", nil)
	seccompstream.InjectPollFaults(s, 0, 1<<62)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Receive(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Receive = %v, want context.DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	errc := receiveAsync(s, ctx)
	time.Sleep(10 * time.Millisecond) // let it reach the wait; the result is right either way
	cancel()
	if err := waitErr(t, errc); err != context.Canceled {
		t.Fatalf("Receive = %v, want context.Canceled", err)
	}
	wantCloseEndsReceive(t, s, 10*time.Millisecond)
}

// receiveAsync calls s.Receive(ctx) in a goroutine and sends its error.
func receiveAsync(s *seccompstream.Stream, ctx context.Context) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := s.Receive(ctx)
		errc <- err
	}()
	return errc
}

// wantCloseEndsReceive closes s d after a Receive began, and checks that
// Receive returned an error matching os.ErrClosed.
func wantCloseEndsReceive(t *testing.T, s *seccompstream.Stream, d time.Duration) {
	t.Helper()
	errc := receiveAsync(s, context.Background())
	time.Sleep(d) // let it reach the wait; the result is right either way
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, errc); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Receive = %v, want os.ErrClosed", err)
	}
}

func waitErr(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Receive did not return")
		return nil
	}
}
