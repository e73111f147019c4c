package seccompstream_test

// Ports of the kernel's user-notification selftests
// (tools/testing/selftests/seccomp/seccomp_bpf.c, the user_notification_*
// and user_ioctl_notification_* cases) to this package's API: each test
// plays the kernel test's scenario with a Stream as the supervisor, and is
// named after the selftest it ports. Where the kernel test pokes the raw
// ioctl interface with arguments our API cannot express (garbage in the
// RECV buffer, unknown flags), the port checks what our API does instead
// (refuses the answer before sending it) and says so.
//
// Targets are sectest children (re-executed test binaries under a filter
// with a listener) or, where the scenario needs exact control over signal
// handlers, the C target of the soak (internal/soak/csrc/target.c), whose
// SIGUSR1 handler has SA_RESTART and SIGUSR2's has not; it traps
// getpriority.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// userNotifMagic is the selftests' USER_NOTIF_MAGIC (INT_MAX).
const userNotifMagic = 1<<31 - 1

// The answer lines of the C target and of the "once" scenario.
var (
	magicResult = fmt.Sprintf("result %d 0", userNotifMagic)
	enosysLine  = fmt.Sprintf("result -1 %d", unix.ENOSYS)
)

func init() {
	// st-nested: the child is under sectest's filter, which has a
	// listener: installing a second filter with a listener must fail with
	// EBUSY, naming the problem.
	scenarios["st-nested"] = func([]string) int {
		f := filter.New(filter.Allow)
		if err := f.Add(filter.Notify, "getppid"); err != nil {
			fmt.Println(err)
			return 2
		}
		runtime.LockOSThread() // the thread is discarded with the process
		fd, err := f.Install(filter.WithListener())
		if fd != -1 || !errors.Is(err, unix.EBUSY) {
			fmt.Printf("second listener: fd %d, err %v; want -1, EBUSY\n", fd, err)
			return 1
		}
		fmt.Printf("second listener: %v\n", err)
		return 0
	}
	// st-dup: dup(2) is notified and answered Continue: it must really run.
	scenarios["st-dup"] = func([]string) int {
		var p [2]int
		if err := unix.Pipe(p[:]); err != nil {
			fmt.Println(err)
			return 2
		}
		r, _, e := unix.Syscall(unix.SYS_DUP, uintptr(p[0]), 0, 0)
		var a, b unix.Stat_t
		if e != 0 || int(r) == p[0] || unix.Fstat(p[0], &a) != nil || unix.Fstat(int(r), &b) != nil ||
			a.Dev != b.Dev || a.Ino != b.Ino {
			fmt.Printf("dup(%d) = %d, %v: not a copy\n", p[0], int(r), e)
			return 1
		}
		return 0
	}
	// st-threads-forks: threads that exit and child processes (which
	// inherit the filter) that exit, before the child itself exits.
	scenarios["st-threads-forks"] = func([]string) int {
		for range 2 {
			done := make(chan struct{})
			go func() {
				runtime.LockOSThread() // not unlocked: the thread exits
				close(done)
			}()
			<-done
		}
		for range 2 {
			if out, err := exec.Command("/bin/true").CombinedOutput(); err != nil {
				fmt.Printf("/bin/true: %v %s\n", err, out)
				return 1
			}
		}
		return 0
	}
	// st-fifo N: N threads call getppid(i) one after another, each once
	// the previous one waits in its call; then "pending" is printed. Each
	// call must return 1000+i.
	scenarios["st-fifo"] = func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		errc := make(chan error, n)
		for i := range n {
			tid := make(chan int)
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				tid <- unix.Gettid()
				r, _, e := unix.Syscall(unix.SYS_GETPPID, uintptr(i), 0, 0)
				if e != 0 || int(r) != 1000+i {
					errc <- fmt.Errorf("call %d: %d, %v", i, int(r), e)
					return
				}
				errc <- nil
			}()
			// Wait until thread i sleeps in getppid.
			path := fmt.Sprintf("/proc/self/task/%d/syscall", <-tid)
			want := strconv.Itoa(unix.SYS_GETPPID) + " "
			for {
				b, _ := os.ReadFile(path)
				if strings.HasPrefix(string(b), want) {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		fmt.Println("pending")
		bad := 0
		for range n {
			if err := <-errc; err != nil {
				fmt.Println(err)
				bad++
			}
		}
		return min(bad, 1)
	}
	// st-storm N: a 1ms SIGALRM timer (the Go runtime's handlers use
	// SA_RESTART) while N calls getppid(i) run; the supervisor answers an
	// even i with a file descriptor (RespondFD), an odd one with i. Prints
	// "bad B".
	scenarios["st-storm"] = func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, unix.SIGALRM)
		go func() {
			for range sig {
			}
		}()
		tick := unix.Itimerval{Interval: unix.Timeval{Usec: 1000}, Value: unix.Timeval{Usec: 1000}}
		if _, err := unix.Setitimer(unix.ItimerReal, tick); err != nil {
			fmt.Println(err)
			return 2
		}
		bad := 0
		for i := range n {
			r, _, e := unix.Syscall(unix.SYS_GETPPID, uintptr(i), 0, 0)
			switch {
			case e != 0:
				bad++
			case i%2 == 0:
				var st unix.Stat_t
				if unix.Fstat(int(r), &st) != nil {
					bad++
					continue // not ours to close
				}
				unix.Close(int(r))
			case int(r) != i:
				bad++
			}
		}
		_, _ = unix.Setitimer(unix.ItimerReal, unix.Itimerval{})
		fmt.Printf("bad %d\n", bad)
		return min(bad, 1)
	}
	// st-calls: for each line "call A" on stdin, getppid(A), printing
	// "result R ERRNO CLOEXEC" (CLOEXEC: FD_CLOEXEC of R as a descriptor,
	// -1 if it is none); "exit N" exits with N.
	scenarios["st-calls"] = func([]string) int {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			var a int
			if _, err := fmt.Sscanf(sc.Text(), "call %d", &a); err == nil {
				r, _, e := unix.Syscall(unix.SYS_GETPPID, uintptr(a), 0, 0)
				ret := int(r)
				if e != 0 {
					ret = -1
				}
				cloexec := -1
				if flags, err := unix.FcntlInt(uintptr(ret), unix.F_GETFD, 0); ret >= 0 && err == nil {
					cloexec = flags & unix.FD_CLOEXEC
				}
				fmt.Printf("result %d %d %d\n", ret, int(e), cloexec)
				continue
			}
			if _, err := fmt.Sscanf(sc.Text(), "exit %d", &a); err == nil {
				return a
			}
			fmt.Printf("bad command %q\n", sc.Text())
			return 2
		}
		return 0
	}
}

// selftestChildren: see envSelftestChild.
var selftestChildren = map[string]func() int{
	// tsync: install a filter with a listener on every thread (TSYNC)
	// through package filter, check that every thread has it, and answer
	// a call from a sibling thread on the listener.
	"tsync": func() int {
		f := filter.New(filter.Allow)
		if err := f.Add(filter.Notify, "getppid"); err != nil {
			fmt.Println(err)
			return 2
		}
		// A few parked threads besides the runtime's own.
		park := make(chan struct{})
		defer close(park)
		for range 3 {
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				<-park
			}()
		}
		runtime.LockOSThread()
		fd, err := f.Install(filter.WithListener(), filter.WithTSync())
		runtime.UnlockOSThread()
		if err != nil {
			fmt.Printf("Install(WithListener, WithTSync): %v\n", err)
			return 1
		}
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			fmt.Println(err)
			return 2
		}
		for _, e := range ents {
			b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/status")
			if err != nil || !strings.Contains(string(b), "\nSeccomp:\t2\n") {
				fmt.Printf("thread %s is not under the filter: %v\n", e.Name(), err)
				return 1
			}
		}
		s, err := seccompstream.New(fd)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer s.Close()
		tidc := make(chan int)
		res := make(chan uintptr)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tidc <- unix.Gettid()
			r, _, _ := unix.Syscall(unix.SYS_GETPPID, 5, 0, 0)
			res <- r
		}()
		tid := <-tidc
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		n, err := s.Receive(ctx)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		if n.PID != tid || tid == os.Getpid() || n.Args[0] != 5 {
			fmt.Printf("notification %v from thread %d, want the sibling thread %d\n", n, n.PID, tid)
			return 1
		}
		if err := s.Respond(n, seccompstream.Return(42)); err != nil {
			fmt.Println(err)
			return 1
		}
		if r := <-res; r != 42 {
			fmt.Printf("sibling thread got %d, want 42\n", r)
			return 1
		}
		return 0
	},
	// pid0-supervisor: the listener is fd 3 and this process runs in a
	// pid namespace where the target is not visible: the notification has
	// PID 0, its memory cannot be opened, and it can still be answered.
	"pid0-supervisor": func() int {
		s, err := seccompstream.New(3)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		n, err := s.Receive(ctx)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Printf("pid %d\n", n.PID)
		if n.PID != 0 {
			fmt.Println("want pid 0")
			return 1
		}
		if !n.Valid() {
			fmt.Println("not valid")
			return 1
		}
		if _, err := n.OpenMemory(); err == nil || errors.Is(err, seccompstream.ErrGone) {
			fmt.Printf("OpenMemory with pid 0: %v, want an error that is not ErrGone\n", err)
			return 1
		}
		if err := s.Respond(n, seccompstream.Return(userNotifMagic)); err != nil {
			fmt.Println(err)
			return 1
		}
		return 0
	},
}

// newStream makes a Stream over fd, closed when the test ends.
func newStream(t *testing.T, fd int, opts ...seccompstream.Option) *seccompstream.Stream {
	t.Helper()
	s, err := seccompstream.New(fd, opts...)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// receive returns the next notification, failing the test otherwise.
func receive(t *testing.T, s *seccompstream.Stream) *seccompstream.Notification {
	t.Helper()
	n, err := s.Receive(testCtx(t))
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return n
}

// respond answers n, failing the test on any error.
func respond(t *testing.T, s *seccompstream.Stream, n *seccompstream.Notification, r seccompstream.Response) {
	t.Helper()
	if err := s.Respond(n, r); err != nil {
		t.Fatalf("Respond(%v, %v): %v", n, r, err)
	}
}

// wantEOF checks that the stream has ended (its targets are gone).
func wantEOF(t *testing.T, s *seccompstream.Stream) {
	t.Helper()
	if n, err := s.Receive(testCtx(t)); err != io.EOF {
		t.Fatalf("Receive = %v, %v; want io.EOF", n, err)
	}
}

// wantExited checks that the C target exited with status 0.
func (c *cTarget) wantExit0() {
	c.t.Helper()
	if ws := c.wait(); !ws.Exited() || ws.ExitStatus() != 0 {
		c.t.Fatalf("target ended with %v, want exit 0", ws)
	}
}

// pollListener polls the listener for POLLIN|POLLOUT and returns revents.
func pollListener(t *testing.T, s *seccompstream.Stream) int16 {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(s.FD()), Events: unix.POLLIN | unix.POLLOUT}}
	for {
		n, err := unix.Poll(pfd, 60_000)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n != 1 {
			t.Fatalf("poll(listener) = %d, %v", n, err)
		}
		return pfd[0].Revents
	}
}

// TestSelftestUserNotificationBasic ports user_notification_basic: a
// notified call without a listener fails with ENOSYS; a second listener in
// one filter chain is refused with EBUSY; the listener polls POLLIN while a
// notification waits and POLLOUT once it was received; an answer the
// kernel would refuse is refused before it is sent (the kernel test sends
// SEND with flags 1; our Response cannot express that, but the zero
// Response is as invalid) and the call still waits; the right answer gets
// through.
func TestSelftestUserNotificationBasic(t *testing.T) {
	t.Run("no listener", func(t *testing.T) {
		c := startC(t, "-nolistener")
		c.send("call 7")
		if got := c.expect("result"); got != enosysLine {
			t.Fatalf("notified call without a listener: %q, want %q", got, enosysLine)
		}
		c.send("exit 0")
		c.wantExit0()
	})
	t.Run("second listener", func(t *testing.T) {
		// The listener must stay open: once every copy is closed the
		// kernel detaches it, and the chain may get a new one.
		c := sectest.StartChild(t, sectest.Opts{Scenario: "st-nested", Notify: []string{"getppid"}})
		newStream(t, c.Listener)
		wantExit0(t, c)
	})
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		c, s := start(t, "once", nil, opts...)
		if re := pollListener(t, s); re != unix.POLLIN {
			t.Fatalf("poll before receiving: revents %#x, want POLLIN", re)
		}
		n := receive(t, s)
		if re := pollListener(t, s); re != unix.POLLOUT {
			t.Fatalf("poll after receiving: revents %#x, want POLLOUT", re)
		}
		if n.SyscallName() != "getppid" || n.Args[0] != 7 {
			t.Fatalf("notification %v, want getppid(7)", n)
		}
		err := s.Respond(n, seccompstream.Response{})
		if err == nil || errors.Is(err, seccompstream.ErrGone) {
			t.Fatalf("Respond(zero Response) = %v, want an error refusing it", err)
		}
		if !n.Valid() {
			t.Fatal("the call no longer waits after a refused answer")
		}
		respond(t, s, n, seccompstream.Return(userNotifMagic))
		wantExit0(t, c)
		if out := strings.TrimSpace(c.Output()); out != fmt.Sprintf("result %d errno 0", userNotifMagic) {
			t.Fatalf("target saw %q", out)
		}
	})
}

// TestSelftestUserNotificationWithTSync ports user_notification_with_tsync:
// a filter with a listener installed on every thread at once (package
// filter adds SECCOMP_FILTER_FLAG_TSYNC_ESRCH, without which the kernel
// refuses the combination with EINVAL) puts every thread under it, and a
// call from a sibling thread of the installer is notified on the listener
// with that thread's id.
func TestSelftestUserNotificationWithTSync(t *testing.T) {
	sectest.RequireKernel(t, sectest.TSyncESRCH)
	out, ws := runGoChild(t, "tsync", nil, nil)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("child: %v\n%s", ws, out)
	}
}

// TestSelftestUserNotificationKillInMiddle ports
// user_notification_kill_in_middle: a target killed while its received
// call waits leaves a notification that is no longer valid, whose answer
// (and fd injection, and memory) fails with ErrGone, and the stream goes
// on to its end.
func TestSelftestUserNotificationKillInMiddle(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		c, s := start(t, "once", nil, opts...)
		n := receive(t, s)
		if !n.Valid() {
			t.Fatal("received notification not valid")
		}
		if err := c.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = c.Wait()
		if n.Valid() {
			t.Fatal("notification of a killed target still valid")
		}
		if err := s.Respond(n, seccompstream.Return(userNotifMagic)); !errors.Is(err, seccompstream.ErrGone) || !errors.Is(err, unix.ENOENT) {
			t.Fatalf("Respond after the target was killed = %v, want ErrGone (ENOENT)", err)
		}
		if _, err := n.OpenMemory(); !errors.Is(err, seccompstream.ErrGone) {
			t.Fatalf("OpenMemory after the target was killed = %v, want ErrGone", err)
		}
		if feat, _ := seccompstream.KernelFeatures(); feat.AddFD {
			if _, err := n.AddFD(0); !errors.Is(err, seccompstream.ErrGone) {
				t.Fatalf("AddFD after the target was killed = %v, want ErrGone", err)
			}
		}
		wantEOF(t, s)
	})
}

// TestSelftestUserNotificationSignal ports user_notification_signal: a
// signal to a target whose call was received withdraws the notification
// (its answer fails with ErrGone); with SA_RESTART the call comes back as
// a new notification, and the errno of its answer gets through unchanged
// (the kernel test answers -ERESTARTSYS, 512); without SA_RESTART the
// target sees EINTR.
func TestSelftestUserNotificationSignal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sig     unix.Signal
		restart bool
	}{
		{"restart", unix.SIGUSR1, true},
		{"no restart", unix.SIGUSR2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startC(t, "-filter", "-say-signals")
			s := newStream(t, c.TakeListener())
			c.send("call 7")
			n := receive(t, s)
			c.signal(tc.sig)
			c.expect("handled") // the target left the call to run the handler
			if err := s.Respond(n, seccompstream.Errno(unix.EPERM)); !errors.Is(err, seccompstream.ErrGone) {
				t.Fatalf("Respond after the signal = %v, want ErrGone", err)
			}
			if !tc.restart {
				if got, want := c.expect("result"), fmt.Sprintf("result -1 %d", unix.EINTR); got != want {
					t.Fatalf("target saw %q, want %q", got, want)
				}
			} else {
				n2 := receive(t, s)
				if n2.ID == n.ID || n2.Args[0] != 7 {
					t.Fatalf("restarted call: %v, want getppid(7) with a new ID (old %d)", n2, n.ID)
				}
				respond(t, s, n2, seccompstream.Errno(512))
				if got := c.expect("result"); got != "result -1 512" {
					t.Fatalf("target saw %q, want errno 512", got)
				}
			}
			c.send("exit 0")
			c.wantExit0()
			wantEOF(t, s)
		})
	}
}

// TestSelftestUserNotificationClosedListener ports
// user_notification_closed_listener: once the listener is closed, a
// notified call fails with ENOSYS: a call made afterwards, one waiting to
// be received, and one received and not answered (whose late answer then
// fails with os.ErrClosed).
func TestSelftestUserNotificationClosedListener(t *testing.T) {
	enosys := fmt.Sprintf("result -1 errno %d", unix.ENOSYS)
	t.Run("before the call", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		c := sectest.StartChild(t, sectest.Opts{Scenario: "wait-once", Notify: []string{"getppid"}, Stdin: r})
		s := newStream(t, c.Listener)
		s.Close()
		fmt.Fprintln(w, "go")
		wantExit0(t, c)
		if out := strings.TrimSpace(c.Output()); out != enosys {
			t.Fatalf("target saw %q, want %q", out, enosys)
		}
	})
	t.Run("waiting", func(t *testing.T) {
		c, s := start(t, "once", nil)
		waitInSyscall(t, c.Cmd.Process.Pid, unix.SYS_GETPPID)
		s.Close()
		wantExit0(t, c)
		if out := strings.TrimSpace(c.Output()); out != enosys {
			t.Fatalf("target saw %q, want %q", out, enosys)
		}
	})
	t.Run("received", func(t *testing.T) {
		c, s := start(t, "once", nil)
		n := receive(t, s)
		s.Close()
		wantExit0(t, c)
		if out := strings.TrimSpace(c.Output()); out != enosys {
			t.Fatalf("target saw %q, want %q", out, enosys)
		}
		if err := s.Respond(n, seccompstream.Return(1)); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Respond after Close = %v, want os.ErrClosed", err)
		}
	})
}

// TestSelftestUserNotificationChildPidNs ports
// user_notification_child_pid_ns: a target in a child pid namespace (here
// started by Start with CLONE_NEWPID: it is pid 1 in there) shows up with
// its thread id in ours.
func TestSelftestUserNotificationChildPidNs(t *testing.T) {
	const calls = 3
	cmd := goTarget(t, "getppid", strconv.Itoa(calls))
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "getppid"))
	var tgids []int // of the calling threads, read while each call waits
	seen := serveStart(t, p.s, func(n *seccompstream.Notification) seccompstream.Response {
		tgids = append(tgids, threadGroup(t, n.PID))
		return seccompstream.Return(int64(1000 + n.Args[0]))
	})
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v\n%s", err, p.out)
	}
	if len(seen) < calls {
		t.Fatalf("%d notifications, want %d", len(seen), calls)
	}
	for i, n := range seen {
		if tgids[i] != cmd.Process.Pid {
			t.Fatalf("notification from thread %d of process %d, want a thread of %d as our namespace sees it", n.PID, tgids[i], cmd.Process.Pid)
		}
	}
}

// TestSelftestUserNotificationSiblingPidNs ports
// user_notification_sibling_pid_ns: a supervisor in a pid namespace where
// the target is not visible (a child namespace of ours; the target stays
// in ours) gets the notification with PID 0, cannot open the target's
// memory, and can still answer.
func TestSelftestUserNotificationSiblingPidNs(t *testing.T) {
	c := sectest.StartChild(t, sectest.Opts{Scenario: "once", Notify: []string{"getppid"}})
	l := os.NewFile(uintptr(c.Listener), "listener")
	defer l.Close()
	out, ws := runGoChild(t, "pid0-supervisor", []*os.File{l}, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID})
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("supervisor: %v\n%s", ws, out)
	}
	l.Close()
	wantExit0(t, c)
	if got := strings.TrimSpace(c.Output()); got != fmt.Sprintf("result %d errno 0", userNotifMagic) {
		t.Fatalf("target saw %q", got)
	}
}

// TestSelftestUserNotificationFaultRecv ports user_notification_fault_recv:
// a RECV into a bad buffer fails with EFAULT and loses nothing: the
// Stream then receives the notification and answers it.
func TestSelftestUserNotificationFaultRecv(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		c, s := start(t, "once", nil, opts...)
		waitInSyscall(t, c.Cmd.Process.Pid, unix.SYS_GETPPID)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(s.FD()), unotify.IoctlRecv, 0)
		if e != unix.EFAULT {
			t.Fatalf("RECV into NULL: %v, want EFAULT", e)
		}
		n := receive(t, s)
		if threadGroup(t, n.PID) != c.Cmd.Process.Pid {
			t.Fatalf("notification from %d, want a thread of %d", n.PID, c.Cmd.Process.Pid)
		}
		respond(t, s, n, seccompstream.Return(userNotifMagic))
		wantExit0(t, c)
	})
}

// TestSelftestUserNotificationContinue ports user_notification_continue:
// a call answered with Continue is carried out by the kernel (dup(2)
// really makes a copy). The kernel test also checks that CONTINUE with a
// value or an error set is refused (EINVAL); Continue takes neither.
func TestSelftestUserNotificationContinue(t *testing.T) {
	sectest.RequireKernel(t, sectest.Continue)
	c := sectest.StartChild(t, sectest.Opts{Scenario: "st-dup", Notify: []string{"dup"}})
	s := newStream(t, c.Listener)
	if re := pollListener(t, s); re != unix.POLLIN {
		t.Fatalf("poll before receiving: revents %#x, want POLLIN", re)
	}
	n := receive(t, s)
	if n.SyscallName() != "dup" {
		t.Fatalf("notification %v, want dup", n)
	}
	respond(t, s, n, seccompstream.Continue())
	// Any later dup (none expected) runs as well.
	serveUntilEOF(t, testCtx(t), s, func(*seccompstream.Notification) seccompstream.Response { return seccompstream.Continue() })
	wantExit0(t, c)
}

// TestSelftestUserNotificationFilterEmpty ports
// user_notification_filter_empty: once the filter has no users (its only
// target exited), the stream ends: Receive returns io.EOF.
func TestSelftestUserNotificationFilterEmpty(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		c, s := start(t, "getppid", []string{"0"}, opts...)
		wantExit0(t, c)
		wantEOF(t, s)
	})
}

// TestSelftestUserIoctlNotificationFilterEmpty ports
// user_ioctl_notification_filter_empty: on a listener whose filter has no
// users, Receive returns io.EOF at once in both modes, and, since Linux
// 6.11, a raw RECV fails with ENOENT instead of blocking forever.
func TestSelftestUserIoctlNotificationFilterEmpty(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		s := orphanStream(t)
		defer s.Close()
		if len(opts) > 0 {
			// orphanStream uses the default mode; the same listener in
			// dedicated mode.
			fd, err := unix.Dup(s.FD())
			if err != nil {
				t.Fatal(err)
			}
			s = newStream(t, fd, opts...)
		}
		wantEOF(t, s)
	})
	t.Run("raw RECV", func(t *testing.T) {
		sectest.RequireKernel(t, sectest.HUPOnExit)
		s := orphanStream(t)
		defer s.Close()
		var buf unotify.Notif
		if err := unotify.Recv(s.FD(), &buf); err != unix.ENOENT {
			t.Fatalf("RECV on a listener without users: %v, want ENOENT", err)
		}
	})
}

// TestSelftestUserNotificationFilterEmptyThreaded ports
// user_notification_filter_empty_threaded: a target whose threads and
// child processes (which inherit the filter) all exited ends the stream.
func TestSelftestUserNotificationFilterEmptyThreaded(t *testing.T) {
	c := sectest.StartChild(t, sectest.Opts{Scenario: "st-threads-forks", Notify: []string{"getppid"}})
	s := newStream(t, c.Listener)
	wantExit0(t, c)
	wantEOF(t, s)
}

// sameFile reports whether fd of process pid is the same open file as our
// fd: kcmp(KCMP_FILE) where the kernel has it, else the same inode.
func sameFile(t *testing.T, pid, fd, ours int) bool {
	t.Helper()
	r, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(os.Getpid()), uintptr(pid), 0 /* KCMP_FILE */, uintptr(ours), uintptr(fd), 0)
	if e == 0 {
		return r == 0
	}
	var a, b unix.Stat_t
	if err := unix.Fstat(ours, &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/fd/%d", pid, fd), &b); err != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// callsChild starts the st-calls scenario and returns it, its Stream and
// the writer of its commands.
func callsChild(t *testing.T) (*sectest.Child, *seccompstream.Stream, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	c := sectest.StartChild(t, sectest.Opts{Scenario: "st-calls", Notify: []string{"getppid"}, Stdin: r})
	return c, newStream(t, c.Listener), w
}

// lastLine waits until the child has printed n lines and returns the nth.
func lastLine(t *testing.T, c *sectest.Child, n int) string {
	t.Helper()
	var line string
	if !sectest.Poll(func() bool {
		lines := strings.Split(strings.TrimSpace(c.Output()), "\n")
		if len(lines) >= n && lines[0] != "" {
			line = lines[n-1]
			return true
		}
		return false
	}) {
		t.Fatalf("child printed no line %d within %v: %q", n, sectest.Patience, c.Output())
	}
	return line
}

// TestSelftestUserNotificationAddFD ports user_notification_addfd:
// AddFD installs a copy of our file in the waiting target (at the lowest
// free number, or at a chosen one with TargetFD, replacing what was there)
// and leaves the call waiting; once the call is answered, AddFD on it
// fails with ErrGone; RespondFD installs and answers in one call
// (replacing the kernel's ADDFD_FLAG_SEND, see RespondFD), with
// CloseOnExec as asked. The kernel test also feeds ADDFD bad flags, a bad
// newfd and wrong struct sizes; AddFDOption cannot express those.
func TestSelftestUserNotificationAddFD(t *testing.T) {
	requireAddFD(t)
	memfd := newMemfd(t)
	c, s, cmds := callsChild(t)
	pid := c.Cmd.Process.Pid

	fmt.Fprintln(cmds, "call 1")
	n := receive(t, s)
	fd, err := n.AddFD(memfd)
	if err != nil || fd < 0 || !sameFile(t, pid, fd, memfd) {
		t.Fatalf("AddFD = %d, %v; want a copy of our memfd", fd, err)
	}
	fd42, err := n.AddFD(memfd, seccompstream.TargetFD(42))
	if err != nil || fd42 != 42 || !sameFile(t, pid, 42, memfd) {
		t.Fatalf("AddFD(TargetFD(42)) = %d, %v; want 42, a copy of our memfd", fd42, err)
	}
	// TargetFD replaces the file at that number, as dup2 does.
	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pipeR.Close()
	defer pipeW.Close()
	if got, err := n.AddFD(int(pipeR.Fd()), seccompstream.TargetFD(42)); err != nil || got != 42 || !sameFile(t, pid, 42, int(pipeR.Fd())) {
		t.Fatalf("AddFD(pipe, TargetFD(42)) = %d, %v; want 42 replaced by the pipe", got, err)
	}
	if !n.Valid() {
		t.Fatal("call no longer waits after AddFD")
	}
	respond(t, s, n, seccompstream.Return(userNotifMagic))
	if got, want := lastLine(t, c, 1), fmt.Sprintf("result %d 0 -1", userNotifMagic); got != want {
		t.Fatalf("target saw %q, want %q", got, want)
	}
	if _, err := n.AddFD(memfd); !errors.Is(err, seccompstream.ErrGone) {
		t.Fatalf("AddFD on an answered call = %v, want ErrGone", err)
	}

	for i, tc := range []struct {
		opts    []seccompstream.AddFDOption
		cloexec int
	}{
		{nil, 0},
		{[]seccompstream.AddFDOption{seccompstream.CloseOnExec()}, 1},
		{[]seccompstream.AddFDOption{seccompstream.TargetFD(50), seccompstream.CloseOnExec()}, 1},
	} {
		fmt.Fprintf(cmds, "call %d\n", 2+i)
		n := receive(t, s)
		got, err := s.RespondFD(n, memfd, tc.opts...)
		if err != nil {
			t.Fatalf("RespondFD: %v", err)
		}
		want := fmt.Sprintf("result %d 0 %d", got, tc.cloexec)
		if line := lastLine(t, c, 2+i); line != want {
			t.Fatalf("target saw %q, want %q", line, want)
		}
		if !sameFile(t, pid, got, memfd) {
			t.Fatalf("fd %d in the target is not our memfd", got)
		}
		if err := s.Respond(n, seccompstream.Return(1)); err == nil {
			t.Fatal("Respond after RespondFD succeeded: answered twice")
		}
	}
	fmt.Fprintln(cmds, "exit 0")
	wantExit0(t, c)
}

// TestSelftestUserNotificationAddFDRlimit ports
// user_notification_addfd_rlimit: with the target's RLIMIT_NOFILE at 0,
// AddFD fails with EMFILE and with TargetFD(100) with EBADF, RespondFD
// fails with EMFILE without answering, and the call can still be answered
// (here with that error, as the kernel would have).
func TestSelftestUserNotificationAddFDRlimit(t *testing.T) {
	requireAddFD(t)
	memfd := newMemfd(t)
	c, s, cmds := callsChild(t)
	fmt.Fprintln(cmds, "call 1")
	n := receive(t, s)
	if err := unix.Prlimit(c.Cmd.Process.Pid, unix.RLIMIT_NOFILE, &unix.Rlimit{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddFD(memfd); !errors.Is(err, unix.EMFILE) {
		t.Fatalf("AddFD at RLIMIT_NOFILE 0 = %v, want EMFILE", err)
	}
	if _, err := n.AddFD(memfd, seccompstream.TargetFD(100)); !errors.Is(err, unix.EBADF) {
		t.Fatalf("AddFD(TargetFD(100)) at RLIMIT_NOFILE 0 = %v, want EBADF", err)
	}
	_, err := s.RespondFD(n, memfd)
	if !errors.Is(err, unix.EMFILE) {
		t.Fatalf("RespondFD at RLIMIT_NOFILE 0 = %v, want EMFILE", err)
	}
	if !n.Valid() {
		t.Fatal("failed RespondFD answered the call")
	}
	respond(t, s, n, seccompstream.Error(err))
	if got, want := lastLine(t, c, 1), fmt.Sprintf("result -1 %d -1", unix.EMFILE); got != want {
		t.Fatalf("target saw %q, want %q", got, want)
	}
	fmt.Fprintln(cmds, "exit 0")
	wantExit0(t, c)
}

// TestSelftestUserNotificationSync ports user_notification_sync:
// WithSyncWakeup sets SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6), and
// calls are answered as usual with it; before 6.6 New refuses the option
// with ErrNotSupported naming the version.
func TestSelftestUserNotificationSync(t *testing.T) {
	if !sectest.HaveKernel(t, sectest.SyncWakeUp) {
		c := sectest.StartChild(t, sectest.Opts{Scenario: "idle", Notify: []string{"getppid"}})
		_, err := seccompstream.New(c.Listener, seccompstream.WithSyncWakeup())
		unix.Close(c.Listener)
		if !errors.Is(err, seccompstream.ErrNotSupported) || !strings.Contains(err.Error(), "6.6") {
			t.Fatalf("New(WithSyncWakeup) without the feature = %v, want ErrNotSupported naming 6.6", err)
		}
	}
	sectest.RequireKernel(t, sectest.SyncWakeUp)
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		const calls = 20
		c, s := start(t, "getppid", []string{strconv.Itoa(calls)}, append(opts, seccompstream.WithSyncWakeup())...)
		if got := serveUntilEOF(t, testCtx(t), s, func(n *seccompstream.Notification) seccompstream.Response {
			return seccompstream.Return(int64(1000 + n.Args[0]))
		}); got < calls {
			t.Fatalf("answered %d, want %d", got, calls)
		}
		wantExit0(t, c)
	})
}

// TestSelftestUserNotificationFIFO ports user_notification_fifo (Linux
// 5.19): notifications pending at once are received in the order the calls
// were made, with increasing IDs.
func TestSelftestUserNotificationFIFO(t *testing.T) {
	const calls = 3
	c := sectest.StartChild(t, sectest.Opts{Scenario: "st-fifo", Args: []string{strconv.Itoa(calls)}, Notify: []string{"getppid"}})
	s := newStream(t, c.Listener)
	if got := lastLine(t, c, 1); got != "pending" {
		t.Fatalf("child said %q", got)
	}
	var ns []*seccompstream.Notification
	for i := range calls {
		n := receive(t, s)
		if n.Args[0] != uint64(i) || i > 0 && n.ID <= ns[i-1].ID {
			t.Fatalf("notification %d: %v (id %d); want getppid(%d) with an id above the last", i, n, n.ID, i)
		}
		ns = append(ns, n)
	}
	for _, n := range ns {
		respond(t, s, n, seccompstream.Return(int64(1000+n.Args[0])))
	}
	wantExit0(t, c)
	wantEOF(t, s)
}

// killableCall starts the C target under WAIT_KILLABLE_RECV (skipping on
// kernels without it) with flags, has it make one call (getpriority(7)),
// and returns once the call waits in the kernel.
func killableCall(t *testing.T, flags ...string) (*cTarget, *seccompstream.Stream) {
	t.Helper()
	sectest.RequireKernel(t, sectest.WaitKillableRecv)
	c := startC(t, append([]string{"-filter", "-killable"}, flags...)...)
	s := newStream(t, c.TakeListener())
	c.send("call 7")
	waitInSyscall(t, c.Pid(), unix.SYS_GETPRIORITY)
	return c, s
}

// signal sends sig to the target.
func (c *cTarget) signal(sig unix.Signal) {
	c.t.Helper()
	if err := unix.Kill(c.Pid(), sig); err != nil {
		c.t.Fatal(err)
	}
}

// TestSelftestUserNotificationWaitKillablePreNotification ports
// user_notification_wait_killable_pre_notification: under
// WAIT_KILLABLE_RECV a signal that arrives before the notification is
// received still interrupts the call (EINTR without SA_RESTART), and the
// Stream skips the withdrawn notification.
func TestSelftestUserNotificationWaitKillablePreNotification(t *testing.T) {
	c, s := killableCall(t, "-say-signals")
	c.signal(unix.SIGUSR2)
	c.expect("handled")
	if got, want := c.expect("result"), fmt.Sprintf("result -1 %d", unix.EINTR); got != want {
		t.Fatalf("target saw %q, want %q", got, want)
	}
	c.send("exit 0")
	c.wantExit0()
	wantEOF(t, s)
}

// TestSelftestUserNotificationWaitKillable ports
// user_notification_wait_killable: once received, a call under
// WAIT_KILLABLE_RECV ignores a non-fatal signal (the target waits in a
// killable sleep, state D), takes our answer, and runs the handler after.
func TestSelftestUserNotificationWaitKillable(t *testing.T) {
	c, s := killableCall(t, "-say-signals")
	n := receive(t, s)
	c.signal(unix.SIGUSR2)
	waitTaskState(t, c.Pid(), 'D')
	respond(t, s, n, seccompstream.Return(userNotifMagic))
	c.expect("handled")
	if got := c.expect("result"); got != magicResult {
		t.Fatalf("target saw %q, want %q", got, magicResult)
	}
	c.send("exit 0")
	c.wantExit0()
	wantEOF(t, s)
}

// TestSelftestUserNotificationWaitKillableFatal ports
// user_notification_wait_killable_fatal: a fatal signal (SIGTERM with no
// handler) still ends a target whose call was received under
// WAIT_KILLABLE_RECV; its answer then fails with ErrGone.
//
// A Go target differs here: the Go runtime handles SIGTERM itself (to run
// its exit path), so the kernel sees a non-fatal signal and the target
// keeps waiting until it is answered; only SIGKILL ends it.
func TestSelftestUserNotificationWaitKillableFatal(t *testing.T) {
	c, s := killableCall(t)
	n := receive(t, s)
	c.signal(unix.SIGTERM)
	if ws := c.wait(); !ws.Signaled() || ws.Signal() != unix.SIGTERM {
		t.Fatalf("target ended with %v, want killed by SIGTERM", ws)
	}
	if err := s.Respond(n, seccompstream.Return(userNotifMagic)); !errors.Is(err, seccompstream.ErrGone) {
		t.Fatalf("Respond to a target killed by SIGTERM = %v, want ErrGone", err)
	}
	wantEOF(t, s)
}

// TestSelftestUserNotificationWaitKillableAfterReply ports
// user_notification_wait_killable_after_reply: under a 1ms timer signal
// (SA_RESTART) and WAIT_KILLABLE_RECV, no call comes back after it was
// received, however fast the answer (a restarted call would show up as a
// second notification with the same argument), for answers by RespondFD
// and by Respond alike.
func TestSelftestUserNotificationWaitKillableAfterReply(t *testing.T) {
	sectest.RequireKernel(t, sectest.WaitKillableRecv)
	requireAddFD(t)
	memfd := newMemfd(t)
	calls := sectest.Scale(20000)
	c := sectest.StartChild(t, sectest.Opts{Scenario: "st-storm", Args: []string{strconv.Itoa(calls)},
		Notify: []string{"getppid"}, WaitKillableRecv: true})
	s := newStream(t, c.Listener)
	next, repeats, gone := uint64(0), 0, 0
	for n, err := range s.All(testCtx(t)) {
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		switch a := n.Args[0]; {
		case a+1 == next:
			repeats++ // received before, and came back
		case a != next:
			t.Fatalf("call %d notified while %d was expected", a, next)
		}
		next = n.Args[0] + 1
		if n.Args[0]%2 == 0 {
			_, err = s.RespondFD(n, memfd)
		} else {
			err = s.Respond(n, seccompstream.Return(int64(n.Args[0])))
		}
		if errors.Is(err, seccompstream.ErrGone) {
			gone++
		} else if err != nil {
			t.Fatalf("answering %v: %v", n, err)
		}
	}
	wantExit0(t, c)
	if repeats > 0 || gone > 0 || next != uint64(calls) {
		t.Fatalf("%d calls: %d came back after they were received, %d answers found the call gone, last call %d", calls, repeats, gone, next)
	}
}
