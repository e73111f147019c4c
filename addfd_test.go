package seccompstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/kernel"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

const fdContent = "seccompstream-memfd"

func init() {
	// fd-check WANTFD CLOEXEC: getppid returns a file descriptor; it must
	// read fdContent, be WANTFD (-1: any), and have FD_CLOEXEC iff CLOEXEC
	// is "1". Prints "fd N".
	scenarios["fd-check"] = func(args []string) int {
		wantFD, _ := strconv.Atoi(args[0])
		r, _, e := unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
		if e != 0 {
			fmt.Printf("getppid: %v\n", e)
			return 1
		}
		fd := int(r)
		fmt.Printf("fd %d\n", fd)
		if err := checkFD(fd); err != nil {
			fmt.Println(err)
			return 1
		}
		if wantFD >= 0 && fd != wantFD {
			fmt.Printf("fd %d, want %d\n", fd, wantFD)
			return 1
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || (flags&unix.FD_CLOEXEC != 0) != (args[1] == "1") {
			fmt.Printf("F_GETFD = %#x, %v\n", flags, err)
			return 1
		}
		return 0
	}
	// fd-limits: with RLIMIT_NOFILE 0, getppid must fail with EMFILE; with
	// 64, with EBADF; with the limit restored, it returns fd 50.
	scenarios["fd-limits"] = func([]string) int {
		var orig unix.Rlimit
		if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &orig); err != nil {
			fmt.Println(err)
			return 2
		}
		for _, step := range []struct {
			limit uint64
			errno unix.Errno
		}{{0, unix.EMFILE}, {64, unix.EBADF}} {
			lim := unix.Rlimit{Cur: step.limit, Max: orig.Max}
			if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
				fmt.Println(err)
				return 2
			}
			r, _, e := unix.Syscall(unix.SYS_GETPPID, uintptr(step.limit), 0, 0)
			if e != step.errno {
				fmt.Printf("limit %d: getppid = %d, %v; want %v\n", step.limit, int(r), e, step.errno)
				return 1
			}
		}
		if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &orig, nil); err != nil {
			fmt.Println(err)
			return 2
		}
		r, _, e := unix.Syscall(unix.SYS_GETPPID, 1000, 0, 0)
		if e != 0 || r != 50 {
			fmt.Printf("getppid = %d, %v; want 50\n", int(r), e)
			return 1
		}
		if err := checkFD(50); err != nil {
			fmt.Println(err)
			return 1
		}
		return 0
	}
	// fd-storm N INO DEV: N times, getppid returns a file descriptor that
	// must be the file with inode INO on device DEV; the child counts the
	// wrong answers and prints "wrong W zero Z".
	scenarios["fd-storm"] = func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		ino, _ := strconv.ParseUint(args[1], 10, 64)
		dev, _ := strconv.ParseUint(args[2], 10, 64)
		wrong, zero := 0, 0
		for range n {
			r, _, e := unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
			fd := int(r)
			var st unix.Stat_t
			if e != 0 || unix.Fstat(fd, &st) != nil || st.Ino != ino || st.Dev != dev {
				wrong++
				if e == 0 && fd == 0 {
					zero++
				}
				continue // never close what is not ours
			}
			unix.Close(fd)
		}
		fmt.Printf("wrong %d zero %d\n", wrong, zero)
		return 0
	}
	// fd-loop N: N times, getppid returns a file descriptor to close.
	scenarios["fd-loop"] = func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		for range n {
			r, _, e := unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
			if e != 0 {
				fmt.Printf("getppid: %v\n", e)
				return 1
			}
			unix.Close(int(r))
		}
		return 0
	}
}

// checkFD reads fd (in the child) and expects fdContent.
func checkFD(fd int) error {
	buf := make([]byte, 64)
	k, err := unix.Pread(fd, buf, 0)
	if err != nil || string(buf[:k]) != fdContent {
		return fmt.Errorf("fd %d reads %q, %v; want %q", fd, buf[:max(k, 0)], err, fdContent)
	}
	return nil
}

// newMemfd returns a memfd holding fdContent, closed when the test ends.
func newMemfd(t testing.TB) int {
	t.Helper()
	fd, err := unix.MemfdCreate("seccompstream-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.Write(fd, []byte(fdContent)); err != nil {
		t.Fatal(err)
	}
	return fd
}

// requireAddFD skips a test on kernels without ADDFD (before 5.9).
func requireAddFD(t testing.TB) {
	t.Helper()
	sectest.RequireKernel(t, sectest.AddFD)
}

func TestRespondFDMemfd(t *testing.T) {
	requireAddFD(t)
	memfd := newMemfd(t)
	c, s := startNotify(t, "fd-check", []string{"-1", "0"}, "getppid")
	n := receiveMarked(t, s, "getppid", 0, 0)
	fd, err := s.RespondFD(n, memfd)
	if err != nil {
		t.Fatal(err)
	}
	exitZero(t, c)
	if out := c.Output(); !strings.Contains(out, "fd "+strconv.Itoa(fd)+"\n") {
		t.Fatalf("RespondFD returned %d, child: %q", fd, out)
	}
	// The supervisor's copy stays open and ours.
	var st unix.Stat_t
	if err := unix.Fstat(memfd, &st); err != nil {
		t.Fatalf("memfd after RespondFD: %v", err)
	}
}

func TestAddFDThenRespond(t *testing.T) {
	requireAddFD(t)
	memfd := newMemfd(t)
	c, s := startNotify(t, "fd-check", []string{"-1", "1"}, "getppid")
	n := receiveMarked(t, s, "getppid", 0, 0)
	fd, err := n.AddFD(memfd, seccompstream.CloseOnExec())
	if err != nil {
		t.Fatal(err)
	}
	if !n.Valid() {
		t.Fatal("AddFD answered the notification")
	}
	if err := s.Respond(n, seccompstream.Return(int64(fd))); err != nil {
		t.Fatal(err)
	}
	exitZero(t, c)
}

func TestRespondFDTargetFD42(t *testing.T) {
	requireAddFD(t)
	memfd := newMemfd(t)
	c, s := startNotify(t, "fd-check", []string{"42", "1"}, "getppid")
	n := receiveMarked(t, s, "getppid", 0, 0)
	fd, err := s.RespondFD(n, memfd, seccompstream.TargetFD(42), seccompstream.CloseOnExec())
	if err != nil || fd != 42 {
		t.Fatalf("RespondFD(TargetFD(42)) = %d, %v", fd, err)
	}
	exitZero(t, c)
}

func TestAddFDLimits(t *testing.T) {
	requireAddFD(t)
	memfd := newMemfd(t)
	c, s := startNotify(t, "fd-limits", nil, "getppid")

	// RLIMIT_NOFILE 0: EMFILE, a message naming the limit, and the call
	// still waits for an answer.
	n := receiveMarked(t, s, "getppid", 0, 0)
	_, err := n.AddFD(memfd)
	if !errors.Is(err, unix.EMFILE) || !strings.Contains(err.Error(), "RLIMIT_NOFILE") || errors.Is(err, seccompstream.ErrGone) {
		t.Fatalf("AddFD with the target's RLIMIT_NOFILE at 0 = %v", err)
	}
	if _, err := s.RespondFD(n, memfd); !errors.Is(err, unix.EMFILE) {
		t.Fatalf("RespondFD with the target's RLIMIT_NOFILE at 0 = %v", err)
	}
	if !n.Valid() {
		t.Fatal("notification not valid after a failed AddFD")
	}
	if err := s.Respond(n, seccompstream.Error(err)); err != nil {
		t.Fatal(err)
	}

	// RLIMIT_NOFILE 64, TargetFD(100): EBADF naming the number.
	n = receiveMarked(t, s, "getppid", 0, 64)
	_, err = s.RespondFD(n, memfd, seccompstream.TargetFD(100))
	if !errors.Is(err, unix.EBADF) || !strings.Contains(err.Error(), "target fd 100") || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		t.Fatalf("RespondFD(TargetFD(100)) with the target's RLIMIT_NOFILE at 64 = %v", err)
	}
	if err := s.Respond(n, seccompstream.Error(err)); err != nil {
		t.Fatal(err)
	}

	n = receiveMarked(t, s, "getppid", 0, 1000)
	// A source fd the supervisor does not have.
	if _, err := n.AddFD(1 << 20); !errors.Is(err, unix.EBADF) || !strings.Contains(err.Error(), "supervisor") {
		t.Fatalf("AddFD(unopened fd) = %v", err)
	}
	if _, err := n.AddFD(-1); !errors.Is(err, unix.EBADF) {
		t.Fatalf("AddFD(-1) = %v", err)
	}
	if _, err := n.AddFD(memfd, seccompstream.TargetFD(-5)); !errors.Is(err, unix.EBADF) {
		t.Fatalf("AddFD(TargetFD(-5)) = %v", err)
	}
	if _, err := n.AddFD(memfd, seccompstream.AddFDOption{}); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("AddFD(zero option) = %v", err)
	}
	if fd, err := s.RespondFD(n, memfd, seccompstream.TargetFD(50)); err != nil || fd != 50 {
		t.Fatalf("RespondFD(TargetFD(50)) = %d, %v", fd, err)
	}
	exitZero(t, c)
}

func TestAddFDTargetKilled(t *testing.T) {
	requireAddFD(t)
	memfd := newMemfd(t)
	c, s := startNotify(t, "fd-check", []string{"-1", "0"}, "getppid")
	n := receiveMarked(t, s, "getppid", 0, 0)
	c.Cmd.Process.Kill()
	c.Wait()
	if _, err := n.AddFD(memfd); !errors.Is(err, seccompstream.ErrGone) {
		t.Fatalf("AddFD after the kill = %v, want ErrGone", err)
	}
	if _, err := s.RespondFD(n, memfd); !errors.Is(err, seccompstream.ErrGone) {
		t.Fatalf("RespondFD after the kill = %v, want ErrGone", err)
	}
	s.Close()
	if _, err := s.RespondFD(n, memfd); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("RespondFD after Close = %v, want os.ErrClosed", err)
	}
}

// respondFunc answers n with the file descriptor fd, returning the number
// installed.
type respondFunc func(s *seccompstream.Stream, n *seccompstream.Notification, fd int) (int, error)

// The ways to answer with a file descriptor that TestRespondFDSignalStorm
// compares: the library's RespondFD, and the kernel's one-step
// ADDFD|SEND, plain and with every signal blocked on the calling thread.
type fdResponder struct {
	name string
	fn   respondFunc
	safe bool // must give zero wrong results
}

var fdResponders = []fdResponder{
	{"RespondFD", func(s *seccompstream.Stream, n *seccompstream.Notification, fd int) (int, error) {
		return s.RespondFD(n, fd)
	}, true},
	{"ADDFD|SEND", addFDSend, false},
	{"ADDFD|SEND-sigmasked", func(s *seccompstream.Stream, n *seccompstream.Notification, fd int) (int, error) {
		// The caller's goroutine is locked to its thread.
		var all, old unix.Sigset_t
		for i := range all.Val {
			all.Val[i] = ^uint64(0)
		}
		if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, &old); err != nil {
			return -1, err
		}
		r, err := addFDSend(s, n, fd)
		unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
		return r, err
	}, false},
}

func addFDSend(s *seccompstream.Stream, n *seccompstream.Notification, fd int) (int, error) {
	a := unotify.AddFD{ID: n.ID, Flags: unotify.AddFDFlagSend, SrcFD: uint32(fd)}
	for {
		r, err := unotify.AddFDIoctl(s.FD(), &a)
		if err != unix.EINTR {
			return r, err
		}
	}
}

// signalStorm sends SIGURG and SIGCHLD, alternately, to thread tid of this
// process every interval until stop is called; stop returns how many it sent.
func signalStorm(tid int, interval time.Duration) (stop func() int) {
	var done atomic.Bool
	sent := make(chan int)
	go func() {
		// The thread's timer slack changes: never hand it back.
		runtime.LockOSThread()
		unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
		pid := unix.Getpid()
		start := time.Now()
		count := 0
		for !done.Load() {
			sig := unix.SIGURG
			if count%2 == 1 {
				sig = unix.SIGCHLD
			}
			if unix.Tgkill(pid, tid, sig) == nil {
				count++
			}
			// Keep the average rate: sleep only when ahead of schedule
			// (a nanosleep alone takes longer than 20µs here).
			if ahead := time.Until(start.Add(time.Duration(count) * interval)); ahead > 0 {
				ts := unix.NsecToTimespec(ahead.Nanoseconds())
				unix.Nanosleep(&ts, nil)
			}
		}
		sent <- count
	}()
	return func() int {
		done.Store(true)
		return <-sent
	}
}

// TestRespondFDSignalStorm answers calls with file descriptors while the
// answering thread is signalled every 20µs (SIGURG and SIGCHLD, the signals
// Go sends itself), and counts in the target the answers that are not the
// file. The one-step ADDFD|SEND is known to complete the call with 0 when a
// signal interrupts it (KERNEL.md); the library's RespondFD must never be
// wrong.
func TestRespondFDSignalStorm(t *testing.T) {
	stormTest(t, sectest.Scale(100_000), fdResponders, func(t *testing.T, tid int) func() int {
		return signalStorm(tid, 20*time.Microsecond)
	})
}

// TestRespondFDStopStorm stops and continues the whole supervisor process
// (SIGSTOP and SIGCONT, which no mask blocks: a debugger, a cgroup freezer
// or a job-control stop do the same) while it answers with file
// descriptors. RespondFD must never be wrong; the one-step form with
// signals blocked is shown not to be safe against this.
func TestRespondFDStopStorm(t *testing.T) {
	sectest.RequireTool(t, "sh") // sends the stop signals
	rs := []fdResponder{fdResponders[0], fdResponders[2]}
	stormTest(t, sectest.Scale(5_000), rs, func(t *testing.T, tid int) func() int {
		// A separate process stops and continues this one; it always
		// sends SIGCONT after SIGSTOP, stops on its own once told (a file
		// appears), and is waited for, never killed: killing it between
		// the two signals would leave the test stopped.
		flag := t.TempDir() + "/stop"
		cmd := exec.Command("sh", "-c", `n=0; while [ ! -e "$2" ]; do kill -STOP $1; kill -CONT $1; n=$((n+1)); done; echo $n`, "sh", strconv.Itoa(os.Getpid()), flag)
		var out strings.Builder
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return func() int {
			os.WriteFile(flag, nil, 0o600)
			cmd.Wait()
			n, _ := strconv.Atoi(strings.TrimSpace(out.String()))
			return n
		}
	})
}

// stormTest runs calls file-descriptor answers with each responder while
// storm (started with the answering thread's id) disturbs the supervisor.
func stormTest(t *testing.T, calls int, responders []fdResponder, storm func(t *testing.T, tid int) (stop func() int)) {
	requireAddFD(t)
	memfd := newMemfd(t)
	var st unix.Stat_t
	if err := unix.Fstat(memfd, &st); err != nil {
		t.Fatal(err)
	}
	for _, r := range responders {
		t.Run(r.name, func(t *testing.T) {
			if !r.safe {
				sectest.RequireKernel(t, sectest.AddFDSend)
			}
			calls := calls
			if !r.safe {
				calls = max(calls/5, 1) // enough to show the race
			}
			c, s := startNotify(t, "fd-storm", []string{strconv.Itoa(calls), strconv.FormatUint(st.Ino, 10), strconv.FormatUint(st.Dev, 10)}, "getppid")
			var answered, gone, inProgress, otherErr int
			var firstErr error
			var signals int
			var elapsed time.Duration
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				// On an early end, the child's waiting call gets ENOSYS.
				defer s.Close()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				start := time.Now()
				stop := storm(t, unix.Gettid())
				defer func() { elapsed = time.Since(start) }()
				defer func() { signals = stop() }()
				for {
					n, err := s.Receive(ctx)
					if err != nil {
						if err != io.EOF {
							firstErr = err
						}
						return
					}
					if n.SyscallName() != "getppid" {
						s.Respond(n, seccompstream.Continue())
						continue
					}
					_, err = r.fn(s, n, memfd)
					switch {
					case err == nil:
						answered++
					case errors.Is(err, seccompstream.ErrGone) || err == unix.ENOENT:
						gone++
					case errors.Is(err, seccompstream.ErrAlreadyAnswered) || err == unix.EINPROGRESS:
						inProgress++
					default:
						otherErr++
						if firstErr == nil {
							firstErr = err
						}
					}
				}
			}()
			wg.Wait()
			exitZero(t, c)
			out := c.Output()
			var wrong, zero int
			if _, err := fmt.Sscanf(out[strings.LastIndex(out, "wrong "):], "wrong %d zero %d", &wrong, &zero); err != nil {
				t.Fatalf("child output %q: %v", out, err)
			}
			t.Logf("%s: %d calls in %v, %d disturbances of the supervisor (one per %v): %d wrong results in the target (%d of them 0); supervisor saw %d ok, %d gone, %d already answered, %d other errors",
				r.name, calls, elapsed.Round(time.Millisecond), signals, elapsed/time.Duration(max(signals, 1)), wrong, zero, answered, gone, inProgress, otherErr)
			if firstErr != nil {
				t.Errorf("error: %v", firstErr)
			}
			if r.safe && wrong > 0 {
				t.Fatalf("%s handed the target %d wrong results", r.name, wrong)
			}
			if !r.safe && wrong == 0 {
				t.Logf("%s: no wrong result in this run", r.name)
			}
		})
	}
}

func TestAddFDNotSupportedMessage(t *testing.T) {
	// The error a kernel without ADDFD gets, checked for its shape.
	err := fmt.Errorf("seccompstream: AddFD: %w", &kernel.UnsupportedFeatureError{Name: "SECCOMP_IOCTL_NOTIF_ADDFD", MinimumVersion: kernel.VersionAddFD})
	if !errors.Is(err, seccompstream.ErrNotSupported) || !strings.Contains(err.Error(), "5.9") {
		t.Fatal(err)
	}
}

func BenchmarkRespondFD(b *testing.B) {
	requireAddFD(b)
	memfd := newMemfd(b)
	baseline := fdResponder{name: "Respond-no-fd", fn: func(s *seccompstream.Stream, n *seccompstream.Notification, fd int) (int, error) {
		// The same round trip without a descriptor: the target closes
		// a number it does not have.
		return 1 << 20, s.Respond(n, seccompstream.Return(1<<20))
	}}
	for _, r := range append([]fdResponder{baseline}, fdResponders...) {
		if r.name == "ADDFD|SEND" {
			continue // unsafe, measured for comparison only under a mask
		}
		b.Run(r.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c, s := startNotify(b, "fd-loop", []string{strconv.Itoa(b.N)}, "getppid")
			ctx := timeout(b)
			gone := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; {
				n, err := s.Receive(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if n.SyscallName() != "getppid" {
					s.Respond(n, seccompstream.Continue())
					continue
				}
				if _, err := r.fn(s, n, memfd); err != nil {
					if errors.Is(err, seccompstream.ErrGone) || err == unix.ENOENT {
						// The target was interrupted; its call comes back.
						gone++
						continue
					}
					b.Fatal(err)
				}
				i++
			}
			b.StopTimer()
			b.ReportMetric(float64(gone), "gone")
			exitZero(b, c)
		})
	}
}

func init() {
	// fd-target: open a memfd holding "target-file" and pass its number
	// to getppid, from a thread other than the main one and then from the
	// main one; each must return 0.
	scenarios["fd-target"] = func([]string) int {
		fd, err := unix.MemfdCreate("target", 0)
		if err != nil {
			fmt.Println(err)
			return 2
		}
		unix.Write(fd, []byte("target-file"))
		call := func() unix.Errno {
			r, _, e := unix.Syscall(unix.SYS_GETPPID, uintptr(fd), 0, 0)
			if e == 0 && r != 0 {
				return unix.EBADMSG
			}
			return e
		}
		done := make(chan unix.Errno)
		go func() {
			// A goroutine that locks a thread and never unlocks it makes
			// the runtime start a new thread for others: this one is not
			// the main thread while the main goroutine runs elsewhere.
			runtime.LockOSThread()
			done <- call()
		}()
		if e := <-done; e != 0 {
			fmt.Printf("getppid from a thread: %v\n", e)
			return 1
		}
		if e := call(); e != 0 {
			fmt.Printf("getppid: %v\n", e)
			return 1
		}
		return 0
	}
}

func TestGetFDAndPidfd(t *testing.T) {
	c, s := startNotify(t, "fd-target", nil, "getppid")
	for range 2 {
		n := receiveMarked(t, s, "getppid", 1, 0)
		f, err := n.GetFD(int(n.Args[0]))
		if err != nil {
			t.Fatalf("GetFD(%d) of thread %d: %v", n.Args[0], n.PID, err)
		}
		buf := make([]byte, 32)
		k, err := f.ReadAt(buf, 0)
		f.Close()
		if string(buf[:k]) != "target-file" {
			t.Fatalf("GetFD file reads %q, %v", buf[:k], err)
		}
		if _, err := n.GetFD(999); !errors.Is(err, unix.EBADF) {
			t.Fatalf("GetFD(999) = %v, want EBADF", err)
		}
		pf, err := n.OpenPidfd()
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.PidfdSendSignal(int(pf.Fd()), 0, nil, 0); err != nil {
			t.Fatalf("pidfd_send_signal(0) through OpenPidfd's pidfd: %v", err)
		}
		pf.Close()
		if err := s.Respond(n, seccompstream.Return(0)); err != nil {
			t.Fatal(err)
		}
	}
	serveAll(t, s, func(*seccompstream.Notification) seccompstream.Response { return seccompstream.Continue() })
	exitZero(t, c)
}

func TestGetFDTargetKilled(t *testing.T) {
	c, s := startNotify(t, "fd-target", nil, "getppid")
	n := receiveMarked(t, s, "getppid", 1, 0)
	c.Cmd.Process.Kill()
	c.Wait()
	if _, err := n.GetFD(int(n.Args[0])); !errors.Is(err, seccompstream.ErrGone) {
		t.Fatalf("GetFD after the kill = %v, want ErrGone", err)
	}
	if _, err := n.OpenPidfd(); !errors.Is(err, seccompstream.ErrGone) {
		t.Fatalf("OpenPidfd after the kill = %v, want ErrGone", err)
	}
}
