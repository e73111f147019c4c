package seccompstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// envStartTarget names the function a test binary started by Start runs
// (as the program, not the launcher) instead of the tests.
const envStartTarget = "SECCOMPSTREAM_STARTTEST_TARGET"

// startTargets are the bodies of Go programs run under Start. Their return
// value is the exit status. A name not found here is looked up in the
// sectest scenarios of main_test.go (e.g. "getppid"), which need no filter
// of their own when run this way.
var startTargets = map[string]func(args []string) int{
	// threads T N: T goroutines each make N getppid(t<<20|i) calls, expect
	// (t<<20|i)*3, while the program allocates (GC) and gets preempted.
	"threads": func(args []string) int {
		nt, _ := strconv.Atoi(args[0])
		n, _ := strconv.Atoi(args[1])
		stop := make(chan struct{})
		defer close(stop)
		go func() { // garbage, to keep the GC busy
			var keep [][]byte
			for {
				select {
				case <-stop:
					return
				default:
				}
				keep = append(keep, make([]byte, 64<<10))
				if len(keep) > 64 {
					keep = nil
				}
			}
		}()
		return getppidThreads(nt, n, false)
	},
	// env: print the environment, the working directory, and copy fd 3 to
	// stdout.
	"env": func([]string) int {
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
		wd, _ := os.Getwd()
		fmt.Println("WD=" + wd)
		b, _ := io.ReadAll(os.NewFile(3, "extra"))
		fmt.Println("EXTRA=" + string(b))
		return 0
	},
	// fd-signalled N INO DEV: on one locked thread, with SIGUSR1 handled
	// (SA_RESTART, as Go installs every handler), N times getppid returns
	// a file descriptor that must be the file INO on DEV, which is then
	// closed. At the end every fd still open on that file is an orphan:
	// installed by the supervisor, never returned. Prints "wrong W
	// orphans O".
	"fd-signalled": func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		ino, _ := strconv.ParseUint(args[1], 10, 64)
		dev, _ := strconv.ParseUint(args[2], 10, 64)
		signal.Notify(make(chan os.Signal, 1), unix.SIGUSR1)
		runtime.LockOSThread()
		isFile := func(fd int) bool {
			var st unix.Stat_t
			return unix.Fstat(fd, &st) == nil && st.Ino == ino && st.Dev == dev
		}
		wrong := 0
		for range n {
			r, _, e := unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
			if e != 0 || !isFile(int(r)) {
				wrong++
				continue // never close what is not ours
			}
			unix.Close(int(r))
		}
		ents, _ := os.ReadDir("/proc/self/fd")
		orphans := 0
		for _, e := range ents {
			if fd, err := strconv.Atoi(e.Name()); err == nil && isFile(fd) {
				orphans++
			}
		}
		fmt.Printf("wrong %d orphans %d\n", wrong, orphans)
		return 0
	},
	// exit N
	"exit": func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		return n
	},
}

func init() {
	if name := os.Getenv(envStartTarget); name != "" {
		fn, ok := startTargets[name]
		if !ok {
			fn, ok = scenarios[name]
		}
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown start target %q\n", name)
			os.Exit(111)
		}
		os.Exit(fn(os.Args[1:]))
	}
	// start-ebusy runs inside a sectest child, which is already under a
	// filter with a listener: Start must fail with EBUSY and leave no
	// process. With the kernel probed before that filter (below), the
	// launcher meets the EBUSY; otherwise Start's probe does.
	if os.Getenv("SECCOMPSTREAM_SECTEST_SCENARIO") == "start-ebusy" && os.Getenv("SECCOMPSTREAM_SECTEST_ARGS") == "launcher" {
		seccompstream.KernelFeatures()
	}
	scenarios["start-ebusy"] = func([]string) int {
		f := filter.New(filter.Allow)
		cmd := exec.Command("/bin/true")
		s, err := seccompstream.Start(cmd, f)
		if err == nil {
			s.Close()
			cmd.Wait()
			fmt.Println("Start succeeded")
			return 1
		}
		if !errors.Is(err, unix.EBUSY) {
			fmt.Printf("Start: %v, want EBUSY\n", err)
			return 1
		}
		if strings.Count(err.Error(), "seccompstream: ") != 1 {
			fmt.Printf("Start: %v: want the package prefix once\n", err)
			return 1
		}
		if _, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); err != unix.ECHILD {
			fmt.Printf("a child is left: wait4: %v\n", err)
			return 1
		}
		fmt.Printf("ok: %v\n", err)
		return 0
	}
}

// goTarget returns a command that runs startTargets[name] in a copy of the
// test binary.
func goTarget(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envStartTarget+"="+name)
	return cmd
}

// started is a command running under Start, reaped concurrently.
type started struct {
	cmd    *exec.Cmd
	s      *seccompstream.Stream
	out    *bytes.Buffer
	waited chan struct{}
	err    error
}

func (p *started) wait() error { <-p.waited; return p.err }

// startCmd starts cmd under f with Start, reaps it in the background (as
// Start's documentation asks) and cleans up at the end of the test.
func startCmd(t testing.TB, cmd *exec.Cmd, f *filter.Filter, opts ...seccompstream.Option) *started {
	t.Helper()
	p := &started{cmd: cmd, waited: make(chan struct{})}
	if cmd.Stdout == nil {
		p.out = new(bytes.Buffer)
		cmd.Stdout = p.out
		cmd.Stderr = p.out
	}
	s, err := seccompstream.Start(cmd, f, opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	p.s = s
	go func() {
		p.err = cmd.Wait()
		close(p.waited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.waited
		s.Close()
	})
	return p
}

// serveStart answers every notification with answer until the stream ends and
// returns the notifications it saw.
func serveStart(t *testing.T, s *seccompstream.Stream, answer func(*seccompstream.Notification) seccompstream.Response) []seccompstream.Notification {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var seen []seccompstream.Notification
	for n, err := range s.All(ctx) {
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		seen = append(seen, *n)
		if err := s.Respond(n, answer(n)); err != nil && !errors.Is(err, seccompstream.ErrGone) {
			t.Fatalf("Respond(%v): %v", n, err)
		}
	}
	return seen
}

func notifyFilter(t testing.TB, def filter.Action, names ...string) *filter.Filter {
	t.Helper()
	f := filter.New(def)
	if len(names) > 0 {
		if err := f.Add(filter.Notify, names...); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestStartGoTarget(t *testing.T) {
	const calls = 200
	p := startCmd(t, goTarget(t, "getppid", strconv.Itoa(calls)), notifyFilter(t, filter.Allow, "getppid"))
	seen := serveStart(t, p.s, func(n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(int64(1000 + n.Args[0]))
	})
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
	if len(seen) < calls {
		t.Fatalf("saw %d notifications, want >= %d", len(seen), calls)
	}
	for _, n := range seen {
		if n.SyscallName() != "getppid" {
			t.Errorf("unexpected notification %v", &n)
		}
		if n.PID == 0 {
			t.Errorf("PID 0 in %v", &n)
		}
	}
	if seen[0].Args[0] != 0 {
		t.Errorf("first notification %v, want getppid(0)", &seen[0])
	}
}

// Filters that notify what the launcher itself does (the Go runtime's
// futex, mmap, reads and writes, its execve) must neither deadlock nor show
// the launcher's calls.
func TestStartLauncherCallsNotified(t *testing.T) {
	heavy := []string{"futex", "read", "write", "mmap", "munmap", "close", "execve", "execveat",
		"dup3", "rt_sigreturn", "rt_sigprocmask", "sched_yield", "nanosleep", "clone", "clone3",
		"openat", "fcntl", "epoll_pwait", "getpid", "gettid", "tgkill", "madvise", "prctl", "seccomp"}
	for _, tc := range []struct {
		name string
		f    func(t *testing.T) *filter.Filter
	}{
		{"heavy", func(t *testing.T) *filter.Filter { return notifyFilter(t, filter.Allow, heavy...) }},
		{"default-notify", func(t *testing.T) *filter.Filter { return filter.New(filter.Notify) }},
	} {
		for _, target := range []string{"true", "go"} {
			t.Run(tc.name+"/"+target, func(t *testing.T) {
				var cmd *exec.Cmd
				if target == "go" {
					cmd = goTarget(t, "exit", "7")
				} else {
					cmd = exec.Command("/bin/true")
				}
				p := startCmd(t, cmd, tc.f(t))
				pid := p.cmd.Process.Pid
				seen := serveStart(t, p.s, func(*seccompstream.Notification) seccompstream.Response {
					return seccompstream.Continue()
				})
				err := p.wait()
				want := 0
				if target == "go" {
					want = 7
				}
				if code := p.cmd.ProcessState.ExitCode(); code != want {
					t.Fatalf("exit status %d (%v), want %d; output:\n%s", code, err, want, p.out)
				}
				if len(seen) == 0 {
					t.Fatal("no notification at all")
				}
				for _, n := range seen {
					name := n.SyscallName()
					if name == "execveat" || name == "execve" || name == "seccomp" {
						t.Errorf("launcher call leaked to the user: %v", &n)
					}
				}
				if seen[0].PID != pid {
					t.Errorf("first notification from %d, want %d", seen[0].PID, pid)
				}
				t.Logf("%d notifications, first %s", len(seen), seen[0].SyscallName())
			})
		}
	}
}

// The listener is never in the target, and the supervisor's threads carry
// no filter.
func TestStartListenerNotInTarget(t *testing.T) {
	p := startCmd(t, goTarget(t, "getppid", "1"), notifyFilter(t, filter.Allow, "getppid"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := p.s.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The target waits in getppid: look at its fds now.
	dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		link, _ := os.Readlink(filepath.Join(dir, e.Name()))
		// The Go runtime of the target keeps cgroup files open; anything
		// else beyond stdio came from the launcher.
		if fd, _ := strconv.Atoi(e.Name()); fd > 2 && !strings.HasPrefix(link, "/sys/fs/cgroup/") {
			t.Errorf("target holds fd %s -> %s", e.Name(), link)
		}
	}
	checkNoFilterOnOurThreads(t)
	if err := p.s.Respond(n, seccompstream.Return(1000)); err != nil {
		t.Fatal(err)
	}
	serveStart(t, p.s, func(n *seccompstream.Notification) seccompstream.Response { return seccompstream.Return(1000) })
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
}

func checkNoFilterOnOurThreads(t *testing.T) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "status"))
		if err != nil {
			continue // the thread exited
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Seccomp:"); ok && strings.TrimSpace(v) != "0" {
				t.Errorf("thread %s of the supervisor: %s", task.Name(), line)
			}
		}
	}
}

func TestStartMissingBinary(t *testing.T) {
	for _, path := range []string{"/nonexistent/seccompstream-test", "no-such-program-seccompstream"} {
		cmd := exec.Command(path)
		s, err := seccompstream.Start(cmd, filter.New(filter.Allow))
		if err == nil {
			s.Close()
			cmd.Wait()
			t.Fatalf("Start(%s) succeeded", path)
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, exec.ErrNotFound) {
			t.Errorf("Start(%s) = %v, want not-exist", path, err)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name %s", err, path)
		}
		if cmd.Process != nil && cmd.ProcessState == nil {
			t.Errorf("Start(%s): child %d not reaped", path, cmd.Process.Pid)
		}
		t.Logf("%s: %v", path, err)
	}
	// Not executable.
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(noexec)
	cmd.Path = noexec // bypass LookPath's check
	s, err := seccompstream.Start(cmd, filter.New(filter.Allow))
	if err == nil {
		s.Close()
		cmd.Wait()
		if os.Geteuid() == 0 {
			// root may execute files without x bits only if some x bit is set.
			t.Fatal("Start of a non-executable file succeeded")
		}
	} else if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Start(noexec) = %v, want permission error", err)
	}
	if _, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); err != unix.ECHILD {
		t.Errorf("a child is left: wait4: %v", err)
	}
}

func TestStartEBUSY(t *testing.T) {
	t.Run("probe", func(t *testing.T) { testStartEBUSY(t, "probe") })
	t.Run("launcher", func(t *testing.T) { testStartEBUSY(t, "launcher") })
}

func testStartEBUSY(t *testing.T, where string) {
	c := sectest.StartChild(t, sectest.Opts{Scenario: "start-ebusy", Args: []string{where}})
	// Keep the listener open: once its last fd is closed, the filter has
	// no listener any more and a new one may be created.
	defer unix.Close(c.Listener)
	if code := c.ExitCode(); code != 0 {
		t.Fatalf("child exit %d; output:\n%s", code, c.Output())
	}
	t.Log(strings.TrimSpace(c.Output()))
}

// exec.Cmd's fields keep their meaning.
func TestStartCmdFields(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := goTarget(t, "env")
	cmd.Env = append(cmd.Env, "SECCOMPSTREAM_TEST_VAR=hello")
	cmd.Dir = dir
	cmd.ExtraFiles = []*os.File{r}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	p := startCmd(t, cmd, filter.New(filter.Allow))
	r.Close()
	if len(cmd.ExtraFiles) != 1 || cmd.Path == "/proc/self/exe" {
		t.Errorf("Start changed cmd: Path %q, ExtraFiles %v", cmd.Path, cmd.ExtraFiles)
	}
	w.WriteString("from fd 3")
	w.Close()
	serveStart(t, p.s, func(*seccompstream.Notification) seccompstream.Response { return seccompstream.Continue() })
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, &out)
	}
	got := out.String()
	for _, want := range []string{"SECCOMPSTREAM_TEST_VAR=hello\n", "WD=" + dir + "\n", "EXTRA=from fd 3\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "SECCOMPSTREAM_START_FD") || strings.Contains(got, "asyncpreemptoff") {
		t.Errorf("launcher marker leaked into the environment:\n%s", got)
	}
	// Exit status and stdin through a shell.
	cmd = exec.Command("/bin/sh", "-c", "read x; echo got $x; exit 3")
	cmd.Stdin = strings.NewReader("line\n")
	p = startCmd(t, cmd, filter.New(filter.Allow))
	serveStart(t, p.s, func(*seccompstream.Notification) seccompstream.Response { return seccompstream.Continue() })
	err = p.wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("exit %d (%v), want 3", code, err)
	}
	if p.out.String() != "got line\n" {
		t.Errorf("output %q", p.out)
	}
}

// Descendants stay under the filter and are served by the same Stream.
func TestStartDescendants(t *testing.T) {
	dir := t.TempDir()
	children := sectest.Scale(20)
	script := fmt.Sprintf(`for i in $(seq %d); do mkdir %s/d$i & done; wait`, children, dir)
	cmd := exec.Command("/bin/sh", "-c", script)
	p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "mkdir", "mkdirat"))
	pids := map[int]bool{}
	seen := serveStart(t, p.s, func(n *seccompstream.Notification) seccompstream.Response {
		pids[n.PID] = true
		return seccompstream.Errno(unix.EACCES)
	})
	p.wait()
	if len(seen) < children || len(pids) < children {
		t.Fatalf("%d notifications from %d processes, want %d", len(seen), len(pids), children)
	}
	if pids[cmd.Process.Pid] {
		t.Errorf("the shell itself made a mkdir call")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("denied mkdir created %d entries", len(ents))
	}
	if !strings.Contains(p.out.String(), "Permission denied") {
		t.Errorf("output lacks EACCES message:\n%s", p.out)
	}
}

// A Go target with many threads, with and without WAIT_KILLABLE_RECV:
// every call is answered correctly.
func TestStartGoThreads(t *testing.T) {
	for _, killable := range []bool{true, false} {
		t.Run(fmt.Sprintf("waitkillable=%v", killable), func(t *testing.T) {
			if killable {
				sectest.RequireKernel(t, sectest.WaitKillableRecv)
			}
			n := sectest.Scale(2000)
			p := startCmd(t, goTarget(t, "threads", "4", strconv.Itoa(n)), notifyFilter(t, filter.Allow, "getppid"), seccompstream.WithWaitKillableRecv(killable))
			seen := serveStart(t, p.s, func(n *seccompstream.Notification) seccompstream.Response {
				return seccompstream.Return(int64(n.Args[0] * 3))
			})
			if err := p.wait(); err != nil {
				t.Fatalf("target: %v; output:\n%s", err, p.out)
			}
			if len(seen) < 4*n {
				t.Fatalf("%d notifications, want >= %d", len(seen), 4*n)
			}
			t.Logf("%d notifications for %d calls, %d skipped", len(seen), 4*n, p.s.Skipped())
		})
	}
}

// A filter without Notify rules still gives a Stream that ends at exit,
// and its other actions apply to the program.
func TestStartNoNotify(t *testing.T) {
	f := filter.New(filter.Allow)
	if err := f.Add(filter.Errno(unix.EROFS), "mkdir", "mkdirat"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := startCmd(t, exec.Command("mkdir", filepath.Join(dir, "x")), f)
	if seen := serveStart(t, p.s, nil); len(seen) != 0 {
		t.Fatalf("%d notifications", len(seen))
	}
	err := p.wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("mkdir: %v, want failure", err)
	}
	if !strings.Contains(p.out.String(), "Read-only file system") {
		t.Errorf("output %q lacks EROFS", p.out)
	}
}

func TestStartKilledBySignal(t *testing.T) {
	p := startCmd(t, exec.Command("/bin/sh", "-c", "kill -TERM $$"), filter.New(filter.Allow))
	serveStart(t, p.s, nil)
	p.wait()
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != unix.SIGTERM {
		t.Fatalf("status %v, want killed by SIGTERM", p.cmd.ProcessState)
	}
}

func TestStartBadArgs(t *testing.T) {
	if _, err := seccompstream.Start(nil, filter.New(filter.Allow)); err == nil {
		t.Error("Start(nil cmd) succeeded")
	}
	if _, err := seccompstream.Start(exec.Command("/bin/true"), nil); err == nil {
		t.Error("Start(nil filter) succeeded")
	}
	_ = runtime.NumGoroutine
}

// The launcher makes no call under the filter but its marked execveat, so
// a filter that denies or kills what the Go runtime uses (futex, mmap,
// signals, reads and writes) does not stop it, with one CPU or several.
func TestStartLauncherImmuneToDenyRules(t *testing.T) {
	for _, procs := range []string{"1", "4"} {
		for _, action := range []filter.Action{filter.Errno(unix.EPERM), filter.KillProcess} {
			t.Run(fmt.Sprintf("GOMAXPROCS=%s/%v", procs, action), func(t *testing.T) {
				f := filter.New(filter.Allow)
				// Everything the Go runtime of the launcher may call that
				// /bin/true itself (dynamically linked) does not.
				if err := f.Add(action, "futex", "rt_sigreturn", "nanosleep", "write", "madvise",
					"sched_yield", "tgkill", "rt_sigprocmask", "rt_sigaction", "sigaltstack", "clone",
					"clone3", "execve", "epoll_pwait", "epoll_ctl", "fcntl", "getpid", "gettid",
					"sched_getaffinity", "exit"); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command("/bin/true")
				cmd.Env = append(os.Environ(), "GOMAXPROCS="+procs)
				p := startCmd(t, cmd, f)
				serveStart(t, p.s, nil)
				if err := p.wait(); err != nil {
					t.Fatalf("true: %v; output:\n%s", err, p.out)
				}
			})
		}
	}
}

// With one CPU for the launcher's runtime, its helper thread still gets to
// run while the filtered thread waits.
func TestStartGOMAXPROCS1(t *testing.T) {
	cmd := goTarget(t, "getppid", "50")
	cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	p := startCmd(t, cmd, filter.New(filter.Notify))
	serveStart(t, p.s, func(n *seccompstream.Notification) seccompstream.Response {
		if n.SyscallName() == "getppid" {
			return seccompstream.Return(int64(1000 + n.Args[0]))
		}
		return seccompstream.Continue()
	})
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
}

// An exec that fails after the launcher let it go (here ENOEXEC: not a
// program) is Start's error, and no process is left.
func TestStartExecFails(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(bad, []byte("\x00\x01\x02 not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*filter.Filter{filter.New(filter.Allow), filter.New(filter.Notify)} {
		cmd := exec.Command(bad)
		s, err := seccompstream.Start(cmd, f)
		if err == nil {
			s.Close()
			cmd.Wait()
			t.Fatal("Start succeeded")
		}
		if !errors.Is(err, unix.ENOEXEC) || !strings.Contains(err.Error(), bad) {
			t.Errorf("Start = %v, want ENOEXEC naming %s", err, bad)
		}
		if cmd.ProcessState == nil {
			t.Error("launcher not reaped")
		}
	}
	if _, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); err != unix.ECHILD {
		t.Errorf("a child is left: wait4: %v", err)
	}
}

// Several Starts at once, from several goroutines, each get their own
// program's notifications only.
func TestStartConcurrent(t *testing.T) {
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf("exit %d", i))
			s, err := seccompstream.Start(cmd, notifyFilter(t, filter.Allow, "exit_group"))
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			waited := make(chan struct{})
			go func() { cmd.Wait(); close(waited) }()
			for n, err := range s.All(context.Background()) {
				if err != nil {
					errs <- err
					break
				}
				if n.PID != cmd.Process.Pid || n.Args[0] != uint64(i) {
					errs <- fmt.Errorf("program %d (pid %d) got %v", i, cmd.Process.Pid, n)
				}
				s.Respond(n, seccompstream.Continue())
			}
			<-waited
			if code := cmd.ProcessState.ExitCode(); code != i {
				errs <- fmt.Errorf("program %d: exit %d", i, code)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A command made with exec.CommandContext is killed when its context ends,
// and the stream ends.
func TestStartCommandContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "read x")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	// Every call notifies: shells differ in what they call first (dash
	// reads, busybox polls), and the first call of the program is enough.
	p := startCmd(t, cmd, notifyFilter(t, filter.Notify))
	first := true
	serveStart(t, p.s, func(*seccompstream.Notification) seccompstream.Response {
		if first {
			first = false
			cancel() // kill the program while a call of it waits
		}
		return seccompstream.Continue()
	})
	p.wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Fatalf("status %v, want killed", cmd.ProcessState)
	}
}

func TestStartWithOptions(t *testing.T) {
	f := filter.New(filter.Allow)
	if err := f.Add(filter.Notify, "getppid"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/true")
	s, err := seccompstream.Start(cmd, f, seccompstream.WithSyncWakeup(), seccompstream.WithDedicatedThread())
	if !sectest.HaveKernel(t, sectest.SyncWakeUp) {
		if !errors.Is(err, seccompstream.ErrNotSupported) {
			t.Fatalf("Start with WithSyncWakeup on a kernel without it: %v", err)
		}
		if strings.Count(err.Error(), "seccompstream: ") != 1 {
			t.Errorf("Start: %v: want the package prefix once", err)
		}
		if cmd.Process != nil {
			if _, err := os.FindProcess(cmd.Process.Pid); err == nil && unix.Kill(cmd.Process.Pid, 0) == nil {
				t.Fatal("child left behind")
			}
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for _, err := range s.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestStartRespondFDSignalledTarget answers every call of a Go target with
// RespondFD while its calling thread gets a storm of SIGUSR1 (handled,
// SA_RESTART), with and without WAIT_KILLABLE_RECV. Every descriptor the
// target gets back must be the right file. With WAIT_KILLABLE_RECV no
// descriptor may be orphaned (installed, then the answer lost because the
// call was interrupted between ADDFD and SEND); without it some are, and
// the test reports how many: that figure is quoted in RespondFD's
// documentation (set SECCOMPSTREAM_ORPHAN_CALLS for a longer run).
func TestStartRespondFDSignalledTarget(t *testing.T) {
	requireAddFD(t)
	calls := sectest.Scale(5000)
	if v := os.Getenv("SECCOMPSTREAM_ORPHAN_CALLS"); v != "" {
		var err error
		if calls, err = strconv.Atoi(v); err != nil {
			t.Fatalf("SECCOMPSTREAM_ORPHAN_CALLS=%q: %v", v, err)
		}
	}
	memfd := newMemfd(t)
	var st unix.Stat_t
	if err := unix.Fstat(memfd, &st); err != nil {
		t.Fatal(err)
	}
	for _, killable := range []bool{true, false} {
		t.Run(fmt.Sprintf("waitkillable=%v", killable), func(t *testing.T) {
			if killable {
				sectest.RequireKernel(t, sectest.WaitKillableRecv)
			}
			cmd := goTarget(t, "fd-signalled", strconv.Itoa(calls), strconv.FormatUint(st.Ino, 10), strconv.FormatUint(st.Dev, 10))
			p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "getppid"), seccompstream.WithWaitKillableRecv(killable))

			// The storm starts with the first notification, aimed at the
			// thread that makes the calls, and ends with the stream.
			tid := make(chan int, 1)
			done := make(chan struct{})
			var signals int
			var storm time.Duration
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				var target int
				select {
				case target = <-tid:
				case <-done:
					return
				}
				start := time.Now()
				defer func() { storm = time.Since(start) }()
				pause := unix.NsecToTimespec(int64(100 * time.Microsecond))
				for {
					select {
					case <-done:
						return
					default:
					}
					if unix.Tgkill(cmd.Process.Pid, target, unix.SIGUSR1) != nil {
						return // the target is gone
					}
					signals++
					_ = unix.Nanosleep(&pause, nil)
				}
			}()

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			answered, gone := 0, 0
			for n, err := range p.s.All(ctx) {
				if err != nil {
					t.Fatalf("Receive: %v", err)
				}
				if answered+gone == 0 {
					tid <- n.PID
				}
				switch _, err := p.s.RespondFD(n, memfd); {
				case err == nil:
					answered++
				case errors.Is(err, seccompstream.ErrGone):
					gone++
				default:
					t.Fatalf("RespondFD: %v", err)
				}
			}
			close(done)
			wg.Wait()
			if err := p.wait(); err != nil {
				t.Fatalf("target: %v; output:\n%s", err, p.out)
			}
			var wrong, orphans int
			if _, err := fmt.Sscanf(p.out.String(), "wrong %d orphans %d", &wrong, &orphans); err != nil {
				t.Fatalf("target output %q: %v", p.out, err)
			}
			rate := float64(signals) / max(storm.Seconds(), 1e-9)
			t.Logf("%d calls, %d answered, %d gone, %d signals (%.0f/s): %d wrong, %d orphaned fds (%.2f%% of calls)",
				calls, answered, gone, signals, rate, wrong, orphans, 100*float64(orphans)/float64(calls))
			if wrong != 0 {
				t.Errorf("%d wrong answers", wrong)
			}
			if answered < calls {
				t.Errorf("%d answers for %d calls", answered, calls)
			}
			if killable && orphans != 0 {
				t.Errorf("%d orphaned fds with WAIT_KILLABLE_RECV", orphans)
			}
		})
	}
}

// A configuration too large for the launcher is refused before anything
// starts, naming the limit.
func TestStartConfigTooLarge(t *testing.T) {
	cmd := exec.Command("/bin/true")
	cmd.Env = []string{"BIG=" + strings.Repeat("x", 200<<10)}
	s, err := seccompstream.Start(cmd, filter.New(filter.Allow))
	if err == nil {
		s.Close()
		cmd.Wait()
		t.Fatal("Start succeeded with a 200 KiB environment")
	}
	if !strings.Contains(err.Error(), "more than the launcher takes") || cmd.Process != nil {
		t.Fatalf("Start: %v (process %v)", err, cmd.Process)
	}
}
