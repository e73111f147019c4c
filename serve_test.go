package seccompstream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
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

func init() {
	// serve-seq N MOD: getppid(i) for i in 0..N-1; calls with i%MOD ==
	// MOD-1 must fail with ENOSYS, the others return 2*i.
	scenarios["serve-seq"] = func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		mod, _ := strconv.Atoi(args[1])
		bad := 0
		for i := 0; i < n; i++ {
			r, e := sectestGetppid(uintptr(i))
			if i%mod == mod-1 {
				if e != unix.ENOSYS {
					fmt.Printf("call %d: got %d, errno %v; want ENOSYS\n", i, int(r), e)
					bad++
				}
			} else if e != 0 || int(r) != 2*i {
				fmt.Printf("call %d: got %d, errno %v; want %d\n", i, int(r), e, 2*i)
				bad++
			}
		}
		if bad > 0 {
			return 1
		}
		return 0
	}
	// serve-each T: T locked threads make one call getppid(t) each and
	// print what they got.
	scenarios["serve-each"] = func(args []string) int {
		nt, _ := strconv.Atoi(args[0])
		var wg sync.WaitGroup
		lines := make([]string, nt)
		for t := range nt {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				r, e := sectestGetppid(uintptr(t))
				lines[t] = fmt.Sprintf("thread %d result %d errno %d", t, int64(r), int(e))
			}()
		}
		wg.Wait()
		fmt.Println(strings.Join(lines, "\n"))
		return 0
	}
	// serve-orphan: start a grandchild (which inherits the filter and keeps
	// it alive), then call getppid(grandchild pid) and print the result.
	scenarios["serve-orphan"] = func([]string) int {
		cmd := exec.Command("sleep", "3600")
		if err := cmd.Start(); err != nil {
			fmt.Println(err)
			return 1
		}
		r, e := sectestGetppid(uintptr(cmd.Process.Pid))
		fmt.Printf("result %d errno %d\n", int64(r), int(e))
		return 0
	}
	// serve-alarm N: call getppid(i) for i in 0..N-1 and expect 5*i+1,
	// while the calling thread gets SIGALRM (handled, SA_RESTART) every
	// millisecond; print how many signals were sent.
	scenarios["serve-alarm"] = func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		c := make(chan os.Signal, 1)
		signal.Notify(c, unix.SIGALRM)
		go func() {
			for range c {
			}
		}()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := unix.Gettid()
		stop := make(chan struct{})
		sent := make(chan int)
		go func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			k := 0
			for {
				select {
				case <-stop:
					sent <- k
					return
				case <-tick.C:
					unix.Tgkill(unix.Getpid(), tid, unix.SIGALRM)
					k++
				}
			}
		}()
		bad := 0
		for i := 0; i < n; i++ {
			r, e := sectestGetppid(uintptr(i))
			if e != 0 || int(r) != 5*i+1 {
				if bad < 10 {
					fmt.Printf("call %d: got %d, errno %v\n", i, int(r), e)
				}
				bad++
			}
		}
		close(stop)
		fmt.Printf("signals %d\n", <-sent)
		if bad > 0 {
			fmt.Printf("%d wrong answers\n", bad)
			return 1
		}
		return 0
	}
}

// startServe runs s.Serve in a goroutine and returns a function that waits for
// its result (failing the test if it takes longer than 60s).
func startServe(t *testing.T, ctx context.Context, s *seccompstream.Stream, h seccompstream.Handler, opts ...seccompstream.ServeOption) func() error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, h, opts...) }()
	t.Cleanup(func() {
		// Close makes a Serve still running return.
		s.Close()
		<-errc
	})
	var once sync.Once
	var err error
	return func() error {
		t.Helper()
		once.Do(func() {
			select {
			case err = <-errc:
			case <-time.After(60 * time.Second):
				t.Fatal("Serve did not return")
			}
			errc <- err // for the cleanup
		})
		return err
	}
}

func serveChildExit0(t *testing.T, c *sectest.Child, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("child still running after %v; output:\n%s", d, c.Output())
	}
	if code := c.ExitCode(); code != 0 {
		t.Fatalf("child exit %d; output:\n%s", code, c.Output())
	}
}

func TestServeThreads(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		threads, calls := 16, sectest.Scale(2000)
		c, s := start(t, "threads", []string{strconv.Itoa(threads), strconv.Itoa(calls)}, opts...)
		var st seccompstream.Stats
		wait := startServe(t, testCtx(t), s, seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
			return seccompstream.Return(int64(n.Args[0] * 3))
		}), seccompstream.WithStats(&st))
		if err := wait(); err != nil {
			t.Fatalf("Serve = %v, want nil at the end of the stream", err)
		}
		wantExit0(t, c)
		snap := st.Snapshot()
		t.Logf("%+v", snap)
		if snap.Returned < uint64(threads*calls) {
			t.Fatalf("returned %d answers, want >= %d", snap.Returned, threads*calls)
		}
		if snap.InFlight != 0 {
			t.Fatalf("InFlight = %d after Serve returned", snap.InFlight)
		}
		if got := snap.Answered() + snap.Gone + snap.Failed; got != snap.Received {
			t.Fatalf("received %d, accounted for %d: %+v", snap.Received, got, snap)
		}
	})
}

func TestServePanic(t *testing.T) {
	const mod = 10
	calls := sectest.Scale(2000)
	c, s := start(t, "serve-seq", []string{strconv.Itoa(calls), strconv.Itoa(mod)})
	var st seccompstream.Stats
	var mu sync.Mutex
	var reported []error
	wait := startServe(t, testCtx(t), s, seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		if n.Args[0]%mod == mod-1 {
			panic(fmt.Sprintf("boom %d", n.Args[0]))
		}
		return seccompstream.Return(int64(2 * n.Args[0]))
	}), seccompstream.WithStats(&st), seccompstream.WithErrorHandler(func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}))
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	wantExit0(t, c)
	mu.Lock()
	defer mu.Unlock()
	if len(reported) < calls/mod {
		t.Fatalf("%d errors reported, want >= %d", len(reported), calls/mod)
	}
	var pe *seccompstream.PanicError
	if !errors.As(reported[0], &pe) {
		t.Fatalf("reported %T %v, want *PanicError", reported[0], reported[0])
	}
	if pe.Notification.SyscallName() != "getppid" || !strings.HasPrefix(fmt.Sprint(pe.Value), "boom ") ||
		!strings.Contains(string(pe.Stack), "serve_test.go") || !strings.Contains(pe.Error(), "getppid") {
		t.Fatalf("PanicError %v, stack:\n%s", pe, pe.Stack)
	}
	snap := st.Snapshot()
	if snap.Panics != uint64(len(reported)) || snap.Fallback < uint64(calls/mod) {
		t.Fatalf("stats %+v, %d reported", snap, len(reported))
	}
}

func TestServeInvalidResponse(t *testing.T) {
	const mod = 2
	c, s := start(t, "serve-seq", []string{"20", strconv.Itoa(mod)})
	var herrs atomic.Int32
	wait := startServe(t, testCtx(t), s, seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		if n.Args[0]%mod == mod-1 {
			return seccompstream.Response{}
		}
		return seccompstream.Return(int64(2 * n.Args[0]))
	}), seccompstream.WithErrorHandler(func(err error) {
		var he *seccompstream.HandlerError
		if errors.As(err, &he) && he.Notification != nil {
			if msg := err.Error(); strings.Count(msg, "seccompstream:") != 1 ||
				!strings.HasSuffix(msg, ": zero Response (build one with Return, Errno, Error or Continue)") {
				t.Errorf("HandlerError %q: want one prefix, the reason last", msg)
			}
			herrs.Add(1)
		} else {
			t.Errorf("reported %v", err)
		}
	}))
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	wantExit0(t, c)
	if herrs.Load() < 10 {
		t.Fatalf("%d HandlerErrors, want >= 10", herrs.Load())
	}
}

func TestServeFallbackOption(t *testing.T) {
	c, s := start(t, "errno", []string{strconv.Itoa(int(unix.EHWPOISON))})
	wait := startServe(t, testCtx(t), s, seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		panic("no")
	}), seccompstream.WithFallback(seccompstream.Errno(unix.EHWPOISON)))
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	wantExit0(t, c)
}

// serveParseEach reads serve-each's output: errno per thread.
func serveParseEach(t *testing.T, out string, threads int) map[int]int {
	t.Helper()
	got := map[int]int{}
	for _, line := range strings.Split(out, "\n") {
		var th, errno int
		var r int64
		if _, err := fmt.Sscanf(line, "thread %d result %d errno %d", &th, &r, &errno); err == nil {
			got[th] = errno
		}
	}
	if len(got) != threads {
		t.Fatalf("%d threads reported, want %d; output:\n%s", len(got), threads, out)
	}
	return got
}

// TestServeCanceledDuring cancels Serve's context while 50 calls are in
// slow handlers: Serve returns ctx.Err(), every call was answered, no
// handler runs any more.
func TestServeCanceledDuring(t *testing.T) {
	const threads = 50
	for _, tc := range []struct {
		name  string
		grace time.Duration
		want  unix.Errno
	}{
		{"fallback", 0, unix.ENOSYS},           // answered at once, handler ignored
		{"grace", time.Minute, unix.ECANCELED}, // the handlers' own answers
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sectest.StartChild(t, sectest.Opts{Scenario: "serve-each", Args: []string{strconv.Itoa(threads)},
				Notify: []string{"getppid"}, WaitKillableRecv: true})
			s, err := seccompstream.New(c.Listener)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var started, running atomic.Int32
			all := make(chan struct{})
			var st seccompstream.Stats
			wait := startServe(t, ctx, s, seccompstream.HandlerFunc(func(hctx context.Context, n *seccompstream.Notification) seccompstream.Response {
				running.Add(1)
				defer running.Add(-1)
				if started.Add(1) == threads {
					close(all)
				}
				<-hctx.Done()
				if hctx.Err() != context.Canceled {
					t.Errorf("handler ctx.Err() = %v", hctx.Err())
				}
				return seccompstream.Errno(unix.ECANCELED)
			}), seccompstream.WithStopGrace(tc.grace), seccompstream.WithStats(&st))
			select {
			case <-all:
			case <-time.After(60 * time.Second):
				t.Fatalf("only %d handlers started", started.Load())
			}
			cancel()
			if err := wait(); err != context.Canceled {
				t.Fatalf("Serve = %v, want context.Canceled", err)
			}
			if n := running.Load(); n != 0 {
				t.Fatalf("%d handlers still running after Serve returned", n)
			}
			// Every thread had its answer: the child exits by itself.
			serveChildExit0(t, c, 30*time.Second)
			for th, errno := range serveParseEach(t, c.Output(), threads) {
				if errno != int(tc.want) {
					t.Errorf("thread %d saw errno %d, want %d", th, errno, tc.want)
				}
			}
			snap := st.Snapshot()
			t.Logf("%+v", snap)
			if snap.Received != threads || snap.InFlight != 0 {
				t.Fatalf("stats %+v", snap)
			}
		})
	}
}

// TestServeCanceledIgnored: a handler that ignores its context delays
// Serve's return, not its target's answer.
func TestServeCanceledIgnored(t *testing.T) {
	c := sectest.StartChild(t, sectest.Opts{Scenario: "serve-each", Args: []string{"1"},
		Notify: []string{"getppid"}, WaitKillableRecv: true})
	s, err := seccompstream.New(c.Listener)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started, release := make(chan struct{}), make(chan struct{})
	var returned atomic.Bool
	wait := startServe(t, ctx, s, seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
		close(started)
		<-release // ignores its context
		returned.Store(true)
		return seccompstream.Return(1)
	}))
	<-started
	cancel()
	// The target is answered while the handler still runs.
	serveChildExit0(t, c, 30*time.Second)
	if got := serveParseEach(t, c.Output(), 1)[0]; got != int(unix.ENOSYS) {
		t.Fatalf("errno %d, want ENOSYS", got)
	}
	close(release)
	if err := wait(); err != context.Canceled {
		t.Fatalf("Serve = %v", err)
	}
	if !returned.Load() {
		t.Fatal("Serve returned before its handler")
	}
}

// TestServeAbandoned: the target of a blocked handler is SIGKILLed (the
// filter stays in use by its child): the handler's context is cancelled.
func TestServeAbandoned(t *testing.T) {
	c := sectest.StartChild(t, sectest.Opts{Scenario: "serve-orphan", Notify: []string{"getppid"}})
	s, err := seccompstream.New(c.Listener)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var st seccompstream.Stats
	type start struct {
		orphan int
		done   <-chan struct{}
	}
	started := make(chan start, 1)
	canceled := make(chan time.Time, 1)
	const threshold = 100 * time.Millisecond
	wait := startServe(t, testCtx(t), s, seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		started <- start{int(n.Args[0]), ctx.Done()}
		<-ctx.Done()
		canceled <- time.Now()
		return seccompstream.Return(1)
	}), seccompstream.WithStats(&st), seccompstream.WithAbandonCheck(threshold, threshold/2))
	var st0 start
	select {
	case st0 = <-started:
	case <-time.After(60 * time.Second):
		t.Fatal("no notification")
	}
	defer unix.Kill(st0.orphan, unix.SIGKILL)
	killed := time.Now()
	c.Cmd.Process.Kill()
	c.Wait()
	var at time.Time
	select {
	case at = <-canceled:
	case <-time.After(30 * time.Second):
		t.Fatal("handler context not cancelled 30s after its target was killed")
	}
	d := at.Sub(killed)
	t.Logf("handler context cancelled %v after the kill (threshold %v)", d, threshold)
	// The stream lives on (the orphan still uses the filter) until the
	// orphan is killed.
	unix.Kill(st0.orphan, unix.SIGKILL)
	if err := wait(); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	// Only now is the call's outcome surely counted: the handler's return
	// above races with the test's reading of the counters.
	snap := st.Snapshot()
	if snap.Abandoned != 1 || snap.Gone != 1 {
		t.Fatalf("stats %+v, want 1 abandoned and 1 gone", snap)
	}
}

func TestServeSignalStorm(t *testing.T) {
	calls := sectest.Scale(20000)
	c, s := start(t, "serve-alarm", []string{strconv.Itoa(calls)})
	var st seccompstream.Stats
	wait := startServe(t, testCtx(t), s, seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(int64(5*n.Args[0] + 1))
	}), seccompstream.WithStats(&st))
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	wantExit0(t, c)
	snap := st.Snapshot()
	t.Logf("%d calls, %s: %d received, %d answered, %d gone (interrupted), %d skipped by Receive",
		calls, strings.TrimSpace(c.Output()), snap.Received, snap.Answered(), snap.Gone, s.Skipped())
	if snap.Returned < uint64(calls) {
		t.Fatalf("returned %d, want >= %d", snap.Returned, calls)
	}
	if got := snap.Answered() + snap.Gone + snap.Failed; got != snap.Received || snap.InFlight != 0 {
		t.Fatalf("received %d, accounted for %d: %+v", snap.Received, got, snap)
	}
}

func TestServeBadOptions(t *testing.T) {
	_, s := start(t, "idle", nil)
	h := seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(0)
	})
	ctx := testCtx(t)
	for _, tc := range []struct {
		h    seccompstream.Handler
		opts []seccompstream.ServeOption
		want string
	}{
		{nil, nil, "nil Handler"},
		{h, []seccompstream.ServeOption{seccompstream.WithMaxInFlight(0)}, "WithMaxInFlight(0)"},
		{h, []seccompstream.ServeOption{seccompstream.WithFallback(seccompstream.Errno(0))}, "WithFallback"},
		{h, []seccompstream.ServeOption{seccompstream.WithAbandonCheck(time.Second, 0)}, "period"},
		{h, []seccompstream.ServeOption{seccompstream.WithStopGrace(-1)}, "WithStopGrace"},
		{h, []seccompstream.ServeOption{seccompstream.WithStats(new(seccompstream.Stats)), seccompstream.WithStats(new(seccompstream.Stats))}, "WithStats given 2 times"},
	} {
		err := s.Serve(ctx, tc.h, tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Serve = %v, want an error naming %q", err, tc.want)
		}
		if err != nil && strings.Count(err.Error(), "seccompstream:") != 1 {
			t.Errorf("Serve = %q, want one \"seccompstream:\" prefix", err)
		}
	}
	// The whole message, once: the option's context, then the reason.
	err := s.Serve(ctx, h, seccompstream.WithFallback(seccompstream.Errno(0)))
	if want := "seccompstream: Serve: WithFallback: errno 0 out of range 1..4095"; err == nil || err.Error() != want {
		t.Errorf("Serve(WithFallback(Errno(0))) = %v, want %q", err, want)
	}
}

func TestServeCanceledBefore(t *testing.T) {
	_, s := start(t, "idle", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Serve(ctx, seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
		t.Error("handler called")
		return seccompstream.Return(0)
	}))
	if err != context.Canceled {
		t.Fatalf("Serve = %v, want context.Canceled", err)
	}
}

func TestServeClosed(t *testing.T) {
	_, s := start(t, "idle", nil)
	wait := startServe(t, context.Background(), s, seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(0)
	}))
	s.Close()
	if err := wait(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Serve after Close = %v, want os.ErrClosed", err)
	}
}

// A call is settled once, whatever its answer met: closing the Stream
// under a running handler makes Serve's stop answer it (the fallback
// fails: the Stream is closed), and the handler's late answer is not
// sent again. (Serve sent it and counted a second failure, so its Stats
// showed more outcomes than calls: the soak's "answered twice".)
func TestServeClosedUnderHandler(t *testing.T) {
	c, s := start(t, "once", nil)
	entered, release := make(chan struct{}), make(chan struct{})
	var st seccompstream.Stats
	wait := startServe(t, context.Background(), s, seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
		close(entered)
		<-release
		return seccompstream.Return(0)
	}), seccompstream.WithStats(&st))
	<-entered
	s.Close()
	sectest.Eventually(t, "Serve's stop to answer the call", func() bool { return st.Snapshot().Failed > 0 })
	close(release)
	if err := wait(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Serve after Close = %v, want os.ErrClosed", err)
	}
	c.Cmd.Process.Kill()
	c.Wait()
	snap := st.Snapshot()
	if snap.Received != 1 || snap.Failed != 1 || snap.Late != 1 || snap.Answered()+snap.Gone+snap.Failed != 1 {
		t.Fatalf("one call closed under its handler: %+v, want received 1, failed 1, late 1", snap)
	}
}

// TestServeMaxInFlight: with a limit of 1, handlers never overlap.
func TestServeMaxInFlight(t *testing.T) {
	c, s := start(t, "threads", []string{"4", strconv.Itoa(sectest.Scale(200))})
	var running, peak atomic.Int32
	wait := startServe(t, testCtx(t), s, seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		r := running.Add(1)
		if r > peak.Load() {
			peak.Store(r)
		}
		runtime.Gosched()
		running.Add(-1)
		return seccompstream.Return(int64(n.Args[0] * 3))
	}), seccompstream.WithMaxInFlight(1))
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	wantExit0(t, c)
	if p := peak.Load(); p != 1 {
		t.Fatalf("%d handlers ran at once, want 1", p)
	}
}

func TestServeHandlerContextValues(t *testing.T) {
	type key struct{}
	c, s := start(t, "once", nil)
	ctx := context.WithValue(testCtx(t), key{}, "v")
	wait := startServe(t, ctx, s, seccompstream.HandlerFunc(func(hctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		if hctx.Value(key{}) != "v" {
			t.Error("handler context lacks Serve's values")
		}
		if _, ok := hctx.Deadline(); !ok {
			t.Error("handler context lacks Serve's deadline")
		}
		if hctx.Err() != nil {
			t.Errorf("Err = %v", hctx.Err())
		}
		if context.Cause(hctx) != nil {
			t.Errorf("Cause = %v", context.Cause(hctx))
		}
		return seccompstream.Return(9)
	}))
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	wantExit0(t, c)
	if !strings.Contains(c.Output(), "result 9 errno 0") {
		t.Fatalf("output %q", c.Output())
	}
}

func TestServeAllocs(t *testing.T) {
	if sectest.RaceEnabled() {
		t.Skip("the race detector adds allocations")
	}
	const calls = 5000
	c, s := start(t, "spin", []string{strconv.Itoa(calls)})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := s.Serve(context.Background(), seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(1)
	}))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	wantExit0(t, c)
	per := float64(after.Mallocs-before.Mallocs) / calls
	t.Logf("%.2f allocations per notification through Serve (whole process)", per)
	if per > 3 {
		t.Fatalf("%.2f allocations per notification, want <= 3", per)
	}
}

func Example_serve() {
	var listenerFD int // from Start, a container runtime, or seccomp(2)
	s, err := seccompstream.New(listenerFD)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer s.Close()

	var st seccompstream.Stats
	err = s.Serve(context.Background(), seccompstream.HandlerFunc(
		func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
			if n.SyscallName() == "mkdir" {
				return seccompstream.Errno(unix.EACCES)
			}
			return seccompstream.Continue()
		}),
		seccompstream.WithMaxInFlight(64),
		seccompstream.WithStats(&st),
		seccompstream.WithErrorHandler(func(err error) { fmt.Fprintln(os.Stderr, err) }),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	fmt.Println(st.Snapshot().Answered(), "calls answered")
}

// BenchmarkServe measures one trapped call answered through Serve, to set
// beside BenchmarkRoundTrip (a bare Receive/Respond loop).
func BenchmarkServe(b *testing.B) {
	benchModes(b, func(b *testing.B, opts ...seccompstream.Option) {
		c := sectest.StartChild(b, sectest.Opts{Scenario: "spin", Args: []string{strconv.Itoa(b.N)}, Notify: []string{"getppid"}, WaitKillableRecv: true})
		s, err := seccompstream.New(c.Listener, opts...)
		if err != nil {
			sectest.SkipIfNotSupported(b, err)
			b.Fatal(err)
		}
		defer s.Close()
		b.ReportAllocs()
		b.ResetTimer()
		if err := s.Serve(context.Background(), seccompstream.Answer(seccompstream.Return(1))); err != nil {
			b.Fatal(err)
		}
	})
}

// TestServeDependentHandlers: the handler of one call waits for the
// handler of another to start, so Serve must receive while a handler
// blocks, whatever path it took.
func TestServeDependentHandlers(t *testing.T) {
	for range sectest.Scale(20) {
		c := sectest.StartChild(t, sectest.Opts{Scenario: "serve-each", Args: []string{"2"},
			Notify: []string{"getppid"}, WaitKillableRecv: true})
		s, err := seccompstream.New(c.Listener)
		if err != nil {
			t.Fatal(err)
		}
		second := make(chan struct{})
		var once sync.Once
		var first atomic.Bool
		err = s.Serve(testCtx(t), seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
			if first.CompareAndSwap(false, true) {
				select {
				case <-second:
				case <-ctx.Done():
				}
				return seccompstream.Return(1)
			}
			once.Do(func() { close(second) })
			return seccompstream.Return(2)
		}))
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		serveChildExit0(t, c, 30*time.Second)
	}
}

// TestServeGoexit: a handler that calls runtime.Goexit (t.FailNow in a
// test handler, say) is treated like a panic, without a report.
func TestServeGoexit(t *testing.T) {
	c, s := start(t, "serve-seq", []string{"100", "10"})
	var reports atomic.Int32
	wait := startServe(t, testCtx(t), s, seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		if n.Args[0]%10 == 9 {
			runtime.Goexit()
		}
		return seccompstream.Return(int64(2 * n.Args[0]))
	}), seccompstream.WithErrorHandler(func(error) { reports.Add(1) }))
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	wantExit0(t, c)
	if reports.Load() != 0 {
		t.Fatalf("%d reports for Goexit", reports.Load())
	}
}

// TestServeDerivedContext: contexts derived from a handler's context are
// cancelled with it, and context.AfterFunc works on it.
func TestServeDerivedContext(t *testing.T) {
	c := sectest.StartChild(t, sectest.Opts{Scenario: "serve-each", Args: []string{"1"},
		Notify: []string{"getppid"}, WaitKillableRecv: true})
	s, err := seccompstream.New(c.Listener)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	after := make(chan struct{})
	wait := startServe(t, ctx, s, seccompstream.HandlerFunc(func(hctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		for range 20 { // derived and released: must not pile up
			_, c := context.WithCancel(hctx)
			c()
		}
		context.AfterFunc(hctx, func() { close(after) })
		stopped := context.AfterFunc(hctx, func() { t.Error("stopped AfterFunc ran") })
		stopped()
		dctx, dcancel := context.WithTimeout(hctx, time.Hour)
		defer dcancel()
		close(started)
		<-dctx.Done()
		if dctx.Err() != context.Canceled {
			t.Errorf("derived ctx.Err() = %v", dctx.Err())
		}
		return seccompstream.Return(1)
	}), seccompstream.WithStopGrace(time.Minute))
	<-started
	cancel()
	if err := wait(); err != context.Canceled {
		t.Fatalf("Serve = %v", err)
	}
	select {
	case <-after:
	case <-time.After(30 * time.Second):
		t.Fatal("AfterFunc did not run")
	}
	serveChildExit0(t, c, 30*time.Second)
	if got := serveParseEach(t, c.Output(), 1)[0]; got != 0 {
		t.Fatalf("errno %d, want the handler's answer", got)
	}
}
