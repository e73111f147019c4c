package seccompstream_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// modes runs a test in both receive modes.
var modes = []struct {
	name string
	opts []seccompstream.Option
}{
	{"poller", nil},
	{"dedicated", []seccompstream.Option{seccompstream.WithDedicatedThread()}},
}

func forModes(t *testing.T, f func(t *testing.T, opts ...seccompstream.Option)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { f(t, m.opts...) })
	}
}

// start starts a child running scenario under a filter that notifies
// getppid, and returns it with a Stream over its listener.
func start(t *testing.T, scenario string, args []string, opts ...seccompstream.Option) (*sectest.Child, *seccompstream.Stream) {
	t.Helper()
	c := sectest.StartChild(t, sectest.Opts{Scenario: scenario, Args: args, Notify: []string{"getppid"}})
	s, err := seccompstream.New(c.Listener, opts...)
	if err != nil {
		unix.Close(c.Listener)
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c, s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serveUntilEOF answers every notification with answer(n) until the stream
// ends, and returns how many it answered.
func serveUntilEOF(t *testing.T, ctx context.Context, s *seccompstream.Stream, answer func(*seccompstream.Notification) seccompstream.Response) int {
	t.Helper()
	count := 0
	for n, err := range s.All(ctx) {
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if err := s.Respond(n, answer(n)); err != nil && !errors.Is(err, seccompstream.ErrGone) {
			t.Fatalf("Respond: %v", err)
		}
		count++
	}
	return count
}

func wantExit0(t *testing.T, c *sectest.Child) {
	t.Helper()
	if code := c.ExitCode(); code != 0 {
		t.Fatalf("child exit %d; output:\n%s", code, c.Output())
	}
}

func TestRoundTripReturn(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		const calls = 50
		c, s := start(t, "getppid", []string{strconv.Itoa(calls)}, opts...)
		ctx := testCtx(t)
		n := serveUntilEOF(t, ctx, s, func(n *seccompstream.Notification) seccompstream.Response {
			if got := n.SyscallName(); got != "getppid" {
				t.Errorf("SyscallName = %q", got)
			}
			if n.PID != c.Cmd.Process.Pid && n.PID == 0 {
				t.Errorf("PID = %d", n.PID)
			}
			return seccompstream.Return(int64(1000 + n.Args[0]))
		})
		wantExit0(t, c)
		if n < calls {
			t.Fatalf("answered %d notifications, want >= %d", n, calls)
		}
		// The end is sticky.
		if _, err := s.Receive(ctx); err != io.EOF {
			t.Fatalf("Receive after EOF = %v, want io.EOF", err)
		}
	})
}

func TestRoundTripErrno(t *testing.T) {
	c, s := start(t, "errno", []string{strconv.Itoa(int(unix.EACCES))})
	serveUntilEOF(t, testCtx(t), s, func(*seccompstream.Notification) seccompstream.Response {
		return seccompstream.Errno(unix.EACCES)
	})
	wantExit0(t, c)
}

func TestRoundTripError(t *testing.T) {
	c, s := start(t, "errno", []string{strconv.Itoa(int(unix.ENOENT))})
	serveUntilEOF(t, testCtx(t), s, func(*seccompstream.Notification) seccompstream.Response {
		_, err := os.Open("/nonexistent/seccompstream")
		return seccompstream.Error(err) // *PathError wrapping ENOENT
	})
	wantExit0(t, c)
}

func TestContinue(t *testing.T) {
	c, s := start(t, "continue", nil)
	serveUntilEOF(t, testCtx(t), s, func(*seccompstream.Notification) seccompstream.Response {
		return seccompstream.Continue()
	})
	wantExit0(t, c)
}

func TestRespondTargetKilled(t *testing.T) {
	c, s := start(t, "once", nil)
	ctx := testCtx(t)
	n, err := s.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !n.Valid() {
		t.Fatal("fresh notification not valid")
	}
	c.Cmd.Process.Kill()
	c.Wait()
	if n.Valid() {
		t.Fatal("notification still valid after the target was killed")
	}
	err = s.Respond(n, seccompstream.Return(1))
	if !errors.Is(err, seccompstream.ErrGone) || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Respond to a dead target = %v, want ErrGone matching ENOENT", err)
	}
	if _, err := s.Receive(ctx); err != io.EOF {
		t.Fatalf("Receive = %v, want io.EOF", err)
	}
}

func TestSignalRestart(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		c, s := start(t, "restart", nil, opts...)
		ctx := testCtx(t)
		n1, err := s.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Interrupt the waiting thread itself. The handler was installed
		// with SA_RESTART, so the call is notified again.
		if err := unix.Tgkill(c.Cmd.Process.Pid, n1.PID, unix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		n2, err := s.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n2.ID == n1.ID || n2.Args != n1.Args || n2.Syscall != n1.Syscall {
			t.Fatalf("restarted call: %v after %v", n2, n1)
		}
		if err := s.Respond(n1, seccompstream.Return(1)); !errors.Is(err, seccompstream.ErrGone) {
			t.Fatalf("Respond to the interrupted call = %v, want ErrGone", err)
		}
		if err := s.Respond(n2, seccompstream.Return(42)); err != nil {
			t.Fatal(err)
		}
		serveUntilEOF(t, ctx, s, func(*seccompstream.Notification) seccompstream.Response {
			return seccompstream.Return(42)
		})
		wantExit0(t, c)
	})
}

func TestReceiveCanceledBefore(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		_, s := start(t, "idle", nil, opts...)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Receive(ctx); err != context.Canceled {
			t.Fatalf("Receive = %v, want context.Canceled", err)
		}
	})
}

func TestReceiveCanceledDuring(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		pr, pw := io.Pipe()
		defer pw.Close()
		c := sectest.StartChild(t, sectest.Opts{Scenario: "wait-once", Notify: []string{"getppid"}, Stdin: pr})
		s, err := seccompstream.New(c.Listener, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for range 3 {
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, err := s.Receive(ctx)
				errc <- err
			}()
			time.Sleep(10 * time.Millisecond) // let it reach the wait; the result is right either way
			cancel()
			select {
			case err := <-errc:
				if err != context.Canceled {
					t.Fatalf("Receive = %v, want context.Canceled", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Receive did not return after cancel")
			}
		}
		// Still usable: release the child's call and answer it.
		pw.Write([]byte("go\n"))
		pw.Close()
		serveUntilEOF(t, testCtx(t), s, func(*seccompstream.Notification) seccompstream.Response {
			return seccompstream.Return(5)
		})
		wantExit0(t, c)
		if out := c.Output(); !strings.Contains(out, "result 5 errno 0") {
			t.Fatalf("child output %q", out)
		}
	})
}

func TestReceiveDeadlineExceeded(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		_, s := start(t, "idle", nil, opts...)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := s.Receive(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Receive = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestCloseDuringReceive(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		_, s := start(t, "idle", nil, opts...)
		errc := make(chan error, 2)
		for range 2 { // one waits in the kernel/poller, one for its turn
			go func() {
				_, err := s.Receive(context.Background())
				errc <- err
			}()
		}
		time.Sleep(10 * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			select {
			case err := <-errc:
				if !errors.Is(err, os.ErrClosed) {
					t.Fatalf("Receive = %v, want os.ErrClosed", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Receive did not return after Close")
			}
		}
		if _, err := s.Receive(context.Background()); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Receive after Close = %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
	})
}

func TestListenerClosedENOSYS(t *testing.T) {
	c, s := start(t, "once", nil)
	n, err := s.Receive(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Respond(n, seccompstream.Return(1)); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Respond after Close = %v, want os.ErrClosed", err)
	}
	wantExit0(t, c)
	if out := c.Output(); !strings.Contains(out, "errno "+strconv.Itoa(int(unix.ENOSYS))) {
		t.Fatalf("child saw %q, want ENOSYS", out)
	}
}

func TestThreads(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		threads, calls := 16, sectest.Scale(1000)
		c, s := start(t, "threads", []string{strconv.Itoa(threads), strconv.Itoa(calls)}, opts...)
		n := serveUntilEOF(t, testCtx(t), s, func(n *seccompstream.Notification) seccompstream.Response {
			return seccompstream.Return(int64(n.Args[0] * 3))
		})
		wantExit0(t, c)
		if n < threads*calls {
			t.Fatalf("answered %d, want >= %d", n, threads*calls)
		}
	})
}

func TestConcurrentReceivers(t *testing.T) {
	threads, calls := 8, sectest.Scale(500)
	c, s := start(t, "threads", []string{strconv.Itoa(threads), strconv.Itoa(calls)})
	ctx := testCtx(t)
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := s.Receive(ctx)
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				dup := seen[n.ID]
				seen[n.ID] = true
				mu.Unlock()
				if dup {
					t.Errorf("notification %d received twice", n.ID)
				}
				if err := s.Respond(n, seccompstream.Return(int64(n.Args[0]*3))); err != nil && !errors.Is(err, seccompstream.ErrGone) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	wantExit0(t, c)
}

func TestRespondInvalid(t *testing.T) {
	c, s := start(t, "once", nil)
	ctx := testCtx(t)
	n, err := s.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []seccompstream.Response{
		{}, seccompstream.Errno(0), seccompstream.Errno(4096), seccompstream.Errno(1 << 40),
	} {
		if err := s.Respond(n, r); err == nil || errors.Is(err, seccompstream.ErrGone) {
			t.Errorf("Respond(%v) = %v, want a validation error", r, err)
		} else if strings.Count(err.Error(), "seccompstream:") != 1 {
			t.Errorf("Respond(%v) = %q, want one \"seccompstream:\" prefix", r, err)
		}
	}
	if err, want := s.Respond(n, seccompstream.Errno(4096)), "seccompstream: Respond: errno 4096 out of range 1..4095"; err == nil || err.Error() != want {
		t.Errorf("Respond(Errno(4096)) = %v, want %q", err, want)
	}
	if err := s.Respond(nil, seccompstream.Return(0)); err == nil {
		t.Error("Respond(nil) succeeded")
	}
	// Nothing was sent: the notification still waits.
	if !n.Valid() {
		t.Fatal("an invalid Response reached the kernel")
	}
	if err := s.Respond(n, seccompstream.Errno(unix.EHWPOISON)); err != nil {
		t.Fatal(err)
	}
	err = s.Respond(n, seccompstream.Return(0))
	if !errors.Is(err, seccompstream.ErrAlreadyAnswered) && !errors.Is(err, seccompstream.ErrGone) {
		t.Fatalf("second Respond = %v, want ErrAlreadyAnswered", err)
	}
	wantExit0(t, c)
	if out := c.Output(); !strings.Contains(out, "errno "+strconv.Itoa(int(unix.EHWPOISON))) {
		t.Fatalf("child saw %q", out)
	}
}

func TestNewRejectsNonListener(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	_, err = seccompstream.New(int(r.Fd()))
	if err == nil || !strings.Contains(err.Error(), "not a seccomp listener") {
		t.Fatalf("New(pipe) = %v", err)
	}
	if _, err := seccompstream.New(-1); err == nil {
		t.Fatal("New(-1) succeeded")
	}
	if _, err := seccompstream.New(1 << 20); err == nil {
		t.Fatal("New(closed fd) succeeded")
	}
}

func TestWithSyncWakeup(t *testing.T) {
	have := sectest.HaveKernel(t, sectest.SyncWakeUp)
	c := sectest.StartChild(t, sectest.Opts{Scenario: "getppid", Args: []string{"20"}, Notify: []string{"getppid"}})
	s, err := seccompstream.New(c.Listener, seccompstream.WithSyncWakeup())
	if !have {
		defer unix.Close(c.Listener)
		if !errors.Is(err, seccompstream.ErrNotSupported) || !strings.Contains(err.Error(), "6.6") {
			t.Fatalf("WithSyncWakeup on a kernel without it: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	serveUntilEOF(t, testCtx(t), s, func(n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(int64(1000 + n.Args[0]))
	})
	wantExit0(t, c)
}

func TestSyscallNameUnknown(t *testing.T) {
	n := &seccompstream.Notification{Arch: unix.AUDIT_ARCH_X86_64, Syscall: 9999}
	if got := n.SyscallName(); got != "syscall_9999" {
		t.Fatalf("SyscallName = %q", got)
	}
	n = &seccompstream.Notification{Arch: unix.AUDIT_ARCH_I386, Syscall: 11}
	if got := n.SyscallName(); got != "execve" {
		t.Fatalf("i386 11 = %q, want execve", got)
	}
	n = &seccompstream.Notification{Arch: unix.AUDIT_ARCH_AARCH64, Syscall: 56}
	if got := n.SyscallName(); got != "openat" {
		t.Fatalf("aarch64 56 = %q, want openat", got)
	}
	if n.Valid() {
		t.Fatal("a Notification not from a Stream is valid")
	}
}

func TestResponseString(t *testing.T) {
	for r, want := range map[seccompstream.Response]string{
		seccompstream.Return(3):          "return 3",
		seccompstream.Errno(unix.EPERM):  "errno EPERM",
		seccompstream.Continue():         "continue",
		seccompstream.Error(nil):         "return 0",
		seccompstream.Error(io.EOF):      "errno EPERM",
		seccompstream.Error(unix.EACCES): "errno EACCES",
		{}:                               "invalid response",
	} {
		if got := r.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", r, got, want)
		}
	}
}
