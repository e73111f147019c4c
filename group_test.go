package seccompstream_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/seccompstream/seccompstream/internal/nsthread"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// serveThreadCount returns the number of threads of the test process.
func serveThreadCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestGroupManyTargets serves 64 target processes at once, one Stream each,
// from one Group: all finish with right answers, and serving adds few
// threads (none per Stream).
func TestGroupManyTargets(t *testing.T) {
	const targets = 64
	calls := sectest.Scale(500)
	children := make([]*sectest.Child, targets)
	streams := make([]*seccompstream.Stream, targets)
	for i := range children {
		children[i], streams[i] = start(t, "getppid", []string{strconv.Itoa(calls)})
	}
	// sectest reaps each child with a blocking waitid: one thread each,
	// there before serving starts.
	before := serveThreadCount(t)
	var st seccompstream.Stats
	g := seccompstream.NewGroup(testCtx(t), seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(int64(1000 + n.Args[0]))
	}), seccompstream.WithStats(&st))
	stop := make(chan struct{})
	peak := make(chan int)
	go func() {
		m := 0
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			m = max(m, serveThreadCount(t))
			select {
			case <-stop:
				peak <- m
				return
			case <-tick.C:
			}
		}
	}()
	for _, s := range streams {
		g.Serve(s)
	}
	done := make(chan error)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("Group.Wait did not return; %+v", st.Snapshot())
	}
	close(stop)
	m := <-peak
	for _, c := range children {
		wantExit0(t, c)
	}
	limit := before + 2*runtime.GOMAXPROCS(0) + 16
	t.Logf("%d targets x %d calls: threads %d before serving, peak %d (limit %d); %+v",
		targets, calls, before, m, limit, st.Snapshot())
	if m > limit {
		t.Fatalf("peak thread count %d, want <= %d", m, limit)
	}
	if got := st.Snapshot().Returned; got < uint64(targets*calls) {
		t.Fatalf("returned %d, want >= %d", got, targets*calls)
	}
}

func TestGroupCanceled(t *testing.T) {
	const targets = 8
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := seccompstream.NewGroup(ctx, seccompstream.Answer(seccompstream.Return(0)))
	streams := make([]*seccompstream.Stream, targets)
	for i := range streams {
		_, streams[i] = start(t, "idle", nil)
		g.Serve(streams[i])
	}
	if n := g.Len(); n != targets {
		t.Fatalf("Len = %d, want %d", n, targets)
	}
	cancel()
	done := make(chan error)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}
	if n := g.Len(); n != 0 {
		t.Fatalf("Len = %d after Wait", n)
	}
	// The Group closed its streams.
	for _, s := range streams {
		if _, err := s.Receive(context.Background()); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Receive on a stream the Group is done with = %v, want os.ErrClosed", err)
		}
	}
}

func TestGroupStreamError(t *testing.T) {
	g := seccompstream.NewGroup(context.Background(), seccompstream.Answer(seccompstream.Return(0)))
	_, s := start(t, "idle", nil)
	s.Close() // Serve fails at once with os.ErrClosed
	g.Serve(s)
	c, s2 := start(t, "getppid", []string{"0"})
	g.Serve(s2)
	err := g.Wait()
	if !errors.Is(err, os.ErrClosed) || !strings.Contains(err.Error(), "listener fd") {
		t.Fatalf("Wait = %v, want an error naming the listener and matching os.ErrClosed", err)
	}
	wantExit0(t, c)
}

// orphanStream returns a Stream over a listener whose filter has no users
// any more (it was installed on a thread that has exited): its Serve ends
// at once, as for a target that exited, which makes short-lived Streams
// cheap.
func orphanStream(t testing.TB) *seccompstream.Stream {
	t.Helper()
	fd, err := -1, error(nil)
	nsthread.Run(func() {
		if err = unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return
		}
		prog := []unotify.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}
		fd, err = unotify.SetModeFilter(prog, unotify.FilterFlagNewListener)
	})
	if err != nil {
		t.Fatalf("creating a listener: %v", err)
	}
	s, err := seccompstream.New(fd)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return s
}

// TestGroupServeWhileWaiting is the regression test of issue 17's B2: Serve
// called while Wait waits, with the count of Streams dropping to zero and
// rising again meanwhile, made Wait panic ("WaitGroup is reused before
// previous Wait has returned"), and the race detector report a race.
func TestGroupServeWhileWaiting(t *testing.T) {
	g := seccompstream.NewGroup(testCtx(t), seccompstream.Answer(seccompstream.Return(0)))
	defer g.Close()
	rounds := sectest.Scale(3000)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range rounds / 4 {
				if err := <-g.Serve(orphanStream(t)); err != nil {
					failed.Add(1)
					t.Errorf("Stream result = %v, want nil", err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range rounds / 4 {
				if err := g.Wait(); err != nil {
					t.Errorf("Wait = %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if err := g.Wait(); err != nil || g.Len() != 0 {
		t.Fatalf("Wait = %v, Len = %d; want nil, 0", err, g.Len())
	}
}

// TestGroupResult checks each Stream's own result: nil for a Stream whose
// targets exited, os.ErrClosed for one that was closed before serving,
// while Wait joins only the failures.
func TestGroupResult(t *testing.T) {
	g := seccompstream.NewGroup(testCtx(t), seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(int64(1000 + n.Args[0]))
	}))
	defer g.Close()
	c, s := start(t, "getppid", []string{"20"})
	ok := g.Serve(s)
	_, bad := start(t, "idle", nil)
	bad.Close()
	failed := g.Serve(bad)
	if err := <-ok; err != nil {
		t.Errorf("result of a Stream whose target exited = %v, want nil", err)
	}
	wantExit0(t, c)
	if err := <-failed; !errors.Is(err, os.ErrClosed) {
		t.Errorf("result of a closed Stream = %v, want os.ErrClosed", err)
	}
	if err := g.Wait(); !errors.Is(err, os.ErrClosed) || strings.Count(err.Error(), "listener fd") != 1 {
		t.Errorf("Wait = %v, want the one failure", err)
	}
}

// TestGroupClose stops a Group with a handler running: its call gets the
// fallback (ENOSYS), Close returns once every Stream is closed, and a
// Stream handed over after Close is closed without being served.
func TestGroupClose(t *testing.T) {
	running := make(chan struct{})
	g := seccompstream.NewGroup(testCtx(t), seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		close(running)
		<-ctx.Done()
		return seccompstream.Return(1)
	}))
	c, s := start(t, "once", nil)
	res := g.Serve(s)
	_, idle := start(t, "idle", nil)
	idleRes := g.Serve(idle)
	select {
	case <-running:
	case <-time.After(60 * time.Second):
		t.Fatal("the handler never ran")
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close = %v, want nil", err)
	}
	if n := g.Len(); n != 0 {
		t.Fatalf("Len = %d after Close", n)
	}
	for _, r := range []<-chan error{res, idleRes} {
		select {
		case err := <-r:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("result of a Stream stopped by Close = %v, want context.Canceled", err)
			}
		default:
			t.Error("Close returned before a Stream's result was sent")
		}
	}
	wantExit0(t, c)
	if out, want := c.Output(), fmt.Sprintf("result -1 errno %d\n", unix.ENOSYS); out != want {
		t.Errorf("target saw %q, want %q (the fallback)", out, want)
	}
	// Both Streams are closed.
	for _, s := range []*seccompstream.Stream{s, idle} {
		if _, err := s.Receive(context.Background()); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Receive after Close = %v, want os.ErrClosed", err)
		}
	}
	late := orphanStream(t)
	if err := <-g.Serve(late); !errors.Is(err, os.ErrClosed) {
		t.Errorf("result of Serve after Close = %v, want os.ErrClosed", err)
	}
	if _, err := late.Receive(context.Background()); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Stream handed over after Close: Receive = %v, want os.ErrClosed", err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := g.Wait(); err != nil {
		t.Errorf("Wait after Close = %v, want nil", err)
	}
}

// BenchmarkGroup measures aggregate answered calls per second with 1, 4,
// 16 and 64 targets served by one Group (b.N calls in all, split among
// the targets).
func BenchmarkGroup(b *testing.B) {
	for _, targets := range []int{1, 4, 16, 64} {
		b.Run(strconv.Itoa(targets), func(b *testing.B) {
			per := max(1, b.N/targets)
			streams := make([]*seccompstream.Stream, targets)
			for i := range streams {
				c := sectest.StartChild(b, sectest.Opts{Scenario: "spin", Args: []string{strconv.Itoa(per)},
					Notify: []string{"getppid"}, WaitKillableRecv: true})
				s, err := seccompstream.New(c.Listener, seccompstream.WithSyncWakeup())
				if err != nil {
					sectest.SkipIfNotSupported(b, err)
					b.Fatal(err)
				}
				streams[i] = s
			}
			b.ResetTimer()
			begin := time.Now()
			g := seccompstream.NewGroup(context.Background(), seccompstream.Answer(seccompstream.Return(1)))
			for _, s := range streams {
				g.Serve(s)
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(per*targets)/time.Since(begin).Seconds(), "calls/s")
		})
	}
}

func ExampleGroup() {
	ctx := context.Background()
	var stats seccompstream.Stats
	mux := seccompstream.NewMux()
	mux.HandleDefault(seccompstream.Answer(seccompstream.Continue()))
	g := seccompstream.NewGroup(ctx, mux, seccompstream.WithStats(&stats))
	defer g.Close() // stops whatever is still served when we return

	// For each new target (a container started by a runtime, a sandboxed
	// command): hand its Stream to the Group, which serves and closes it,
	// and learn how that one ended from the channel Serve returns.
	var listeners []int // from Start, a container runtime, or seccomp(2)
	for i, fd := range listeners {
		s, err := seccompstream.New(fd)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			continue
		}
		done := g.Serve(s)
		go func() {
			if err := <-done; err != nil {
				fmt.Fprintf(os.Stderr, "target %d: %v\n", i, err)
			}
		}()
	}
	if err := g.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	fmt.Println(stats.Snapshot().Received, "calls served")
	// Output: 0 calls served
}
