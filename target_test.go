package seccompstream_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
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
)

// markTarget is the first argument of the getppid call that target tests
// wait for; the second is a directory fd of the target's (or -1).
const markTarget = 0x7a7a0001

// Registered from a variable initializer, so the scenarios exist before
// start_test.go's init runs a Start target.
var _ = registerTargetScenarios()

func registerTargetScenarios() bool {
	// target-call OPTIONS...: on a thread that is not the main thread, set
	// up what the options say, then call getppid(markTarget, dirfd) and
	// print its result. Options, in order:
	//	chdir=DIR       chdir (the whole process)
	//	dirfd=DIR       open DIR (O_PATH) and pass its number as dirfd
	//	umask=OCTAL     set the umask
	//	ns=DIR:HOST     on the thread only: new mount, uts, net and ipc
	//	                namespaces, a tmpfs on DIR holding "file", the
	//	                hostname HOST
	//	ttl=N           write N to /proc/sys/net/ipv4/ip_default_ttl (of
	//	                the thread's network namespace)
	//	chroot=DIR      chroot to DIR (the whole process) and chdir to /
	//	userns=UID      re-execute target-call with the remaining options
	//	                in a new user namespace that maps 0 to UID
	//	                (the caller's), and exit with its status
	scenarios["target-call"] = func(args []string) int {
		for i, a := range args {
			if v, ok := strings.CutPrefix(a, "userns="); ok {
				return reexecInUserNS(v, args[i+1:])
			}
		}
		var code int
		onOtherThread(func() { code = targetCall(args) })
		return code
	}
	return true
}

// onOtherThread runs fn on a locked thread that is not the main thread.
func onOtherThread(fn func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			go func() {
				runtime.LockOSThread()
				defer close(done)
				fn()
			}()
			<-done
			runtime.UnlockOSThread()
			return
		}
		defer close(done)
		fn()
	}()
	<-done
}

func targetCall(args []string) int {
	dirfd := -1
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "chdir":
			if err := os.Chdir(v); err != nil {
				fmt.Println(err)
				return 2
			}
		case "dirfd":
			fd, err := unix.Open(v, unix.O_PATH|unix.O_DIRECTORY, 0)
			if err != nil {
				fmt.Println(err)
				return 2
			}
			dirfd = fd
		case "umask":
			m, _ := strconv.ParseUint(v, 8, 32)
			unix.Umask(int(m))
		case "ns":
			dir, host, _ := strings.Cut(v, ":")
			if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWIPC); err != nil {
				fmt.Println("unshare:", err)
				return 2
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				fmt.Println("make-rprivate:", err)
				return 2
			}
			if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
				fmt.Println("mount:", err)
				return 2
			}
			if err := os.WriteFile(dir+"/file", []byte("tmpfs-secret"), 0o644); err != nil {
				fmt.Println(err)
				return 2
			}
			if err := unix.Sethostname([]byte(host)); err != nil {
				fmt.Println("sethostname:", err)
				return 2
			}
		case "ttl":
			if err := os.WriteFile("/proc/sys/net/ipv4/ip_default_ttl", []byte(v), 0); err != nil {
				fmt.Println(err)
				return 2
			}
		case "chroot":
			if err := unix.Chroot(v); err != nil {
				fmt.Println("chroot:", err)
				return 2
			}
			if err := os.Chdir("/"); err != nil {
				fmt.Println(err)
				return 2
			}
		default:
			fmt.Printf("unknown option %q\n", a)
			return 2
		}
	}
	r, _, e := unix.Syscall(unix.SYS_GETPPID, markTarget, uintptr(dirfd), 0)
	fmt.Printf("result %d errno %d\n", int64(r), int(e))
	return 0
}

// reexecInUserNS runs target-call with args in a new user namespace that
// maps 0 to uid, the caller's own: what an unprivileged user may do.
func reexecInUserNS(uid string, args []string) int {
	id, _ := strconv.Atoi(uid)
	// Through /proc/self/exe: the test binary's directory is only root's.
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Env = append(os.Environ(), envStartTarget+"=target-call")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: id, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: id, Size: 1}},
	}
	if err := cmd.Run(); err != nil {
		fmt.Println("userns child:", err)
		return 3
	}
	return 0
}

// targetOf waits for the target-call notification on s and pins its
// target; it is closed when the test ends.
func targetOf(t *testing.T, s *seccompstream.Stream) (*seccompstream.Notification, *seccompstream.Target) {
	t.Helper()
	n := receiveMarked(t, s, "getppid", 0, markTarget)
	tg, err := n.Target()
	if err != nil {
		t.Fatalf("Target: %v", err)
	}
	t.Cleanup(func() { tg.Close() })
	return n, tg
}

// requireOpenat2 gates a test on openat2(2) (Linux 5.6), which Open and
// OpenParent need.
func requireOpenat2(t testing.TB) {
	t.Helper()
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC})
	if err == nil {
		unix.Close(fd)
	}
	sectest.RequireFeature(t, "openat2", "5.6", err != unix.ENOSYS)
}

// pidfdThreadKernel reports whether the running kernel has PIDFD_THREAD
// (Linux 6.9), by its release: Target's pidfd must name the thread there
// and the leader before.
func pidfdThreadKernel(t testing.TB) bool {
	t.Helper()
	at, err := sectest.KernelAtLeast("6.9")
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func respondZero(t *testing.T, s *seccompstream.Stream, n *seccompstream.Notification) {
	t.Helper()
	if err := s.Respond(n, seccompstream.Return(0)); err != nil {
		t.Fatal(err)
	}
}

// A thread that is not its process's main thread, in namespaces of its own:
// Do runs in that thread's namespaces (its hostname, its tmpfs, only lo),
// on every kernel: with the thread's pidfd from Linux 6.9, through
// /proc/<tid>/ns before.
func TestTargetDoThreadNamespaces(t *testing.T) {
	mnt := t.TempDir()
	c, s := startNotify(t, "target-call", []string{"ns=" + mnt + ":thread-ns"}, "getppid")
	n, tg := targetOf(t, s)
	if n.PID == c.Cmd.Process.Pid {
		t.Fatalf("the call came from the main thread %d", n.PID)
	}
	if got, want := seccompstream.TargetPidfdNamesThread(tg), pidfdThreadKernel(t); got != want {
		t.Errorf("pidfd names the thread: %v, want %v on this kernel (PIDFD_THREAD is Linux 6.9)", got, want)
	}
	checkInTargetNS(t, tg, "thread-ns", mnt)
	respondZero(t, s, n)
	exitZero(t, c)
}

// checkInTargetNS checks from Do that the target's hostname is host, that
// mnt holds its tmpfs file and that its only interface is lo, and that the
// supervisor sees none of that.
func checkInTargetNS(t *testing.T, tg *seccompstream.Target, host, mnt string) {
	t.Helper()
	var hostname, file string
	var ifaces []string
	err := tg.Do(timeout(t), func() error {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return err
		}
		hostname = unix.ByteSliceToString(u.Nodename[:])
		b, err := os.ReadFile(mnt + "/file")
		if err != nil {
			return err
		}
		file = string(b)
		l, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, i := range l {
			ifaces = append(ifaces, i.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if hostname != host || file != "tmpfs-secret" || len(ifaces) != 1 || ifaces[0] != "lo" {
		t.Fatalf("in the target's namespaces: hostname %q, %s/file %q, interfaces %v; want %q, \"tmpfs-secret\", [lo]", hostname, mnt, file, ifaces, host)
	}
	ours, _ := os.Hostname()
	if ours == host {
		t.Errorf("the supervisor's hostname is the target's %q", host)
	}
	if _, err := os.Stat(mnt + "/file"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the supervisor sees %s/file: %v", mnt, err)
	}
}

// A target process in new mount, uts and net namespaces (Start with
// SysProcAttr.Unshareflags).
func TestTargetDoProcessNamespaces(t *testing.T) {
	mnt := t.TempDir()
	cmd := goTarget(t, "target-call", "ns="+mnt+":proc-ns")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWNET}
	p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "getppid"))
	n, tg := targetOf(t, p.s)
	checkInTargetNS(t, tg, "proc-ns", mnt)
	respondZero(t, p.s, n)
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
}

func TestTargetGone(t *testing.T) {
	t.Run("before Target", func(t *testing.T) {
		c, s := startNotify(t, "target-call", nil, "getppid")
		n := receiveMarked(t, s, "getppid", 0, markTarget)
		c.Cmd.Process.Kill()
		c.Wait()
		if tg, err := n.Target(); !errors.Is(err, seccompstream.ErrGone) {
			if tg != nil {
				tg.Close()
			}
			t.Fatalf("Target after the kill: %v, want ErrGone", err)
		}
	})
	t.Run("before Do", func(t *testing.T) {
		c, s := startNotify(t, "target-call", nil, "getppid")
		_, tg := targetOf(t, s)
		c.Cmd.Process.Kill()
		c.Wait()
		ran := false
		if err := tg.Do(timeout(t), func() error { ran = true; return nil }); !errors.Is(err, seccompstream.ErrGone) {
			t.Fatalf("Do after the kill: %v, want ErrGone", err)
		}
		if ran {
			t.Error("fn ran for a target that is gone")
		}
		for name, f := range map[string]func() error{
			"Creds":   func() error { _, err := tg.Creds(); return err },
			"Open":    func() error { _, err := tg.Open(unix.AT_FDCWD, "/etc/passwd", unix.O_RDONLY, 0); return err },
			"GetFD":   func() error { _, err := tg.GetFD(0); return err },
			"DoCreds": func() error { return tg.DoWithCreds(timeout(t), func() error { return nil }) },
		} {
			if err := f(); !errors.Is(err, seccompstream.ErrGone) {
				t.Errorf("%s after the kill: %v, want ErrGone", name, err)
			}
		}
	})
	t.Run("during Do", func(t *testing.T) {
		before := threadCount(t)
		c, s := startNotify(t, "target-call", nil, "getppid")
		_, tg := targetOf(t, s)
		started, release := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- tg.Do(context.Background(), func() error {
				close(started)
				<-release
				return nil
			})
		}()
		<-started
		c.Cmd.Process.Kill()
		c.Wait()
		close(release)
		select {
		case err := <-done:
			if !errors.Is(err, seccompstream.ErrGone) {
				t.Fatalf("Do with the target killed during fn: %v, want ErrGone", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("Do hangs")
		}
		waitThreads(t, before)
	})
}

// threadCount returns the number of threads of the test process.
func threadCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// waitThreads waits until the process has at most a few threads more than
// before (the runtime keeps some idle ones).
func waitThreads(t testing.TB, before int) {
	t.Helper()
	limit := before + runtime.GOMAXPROCS(0) + 4
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := threadCount(t)
		if n <= limit {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d threads, was %d before", n, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// After many Do calls, no thread of the supervisor is in another
// namespace, has another fsuid, root or working directory, and the thread
// count is back near where it started.
func TestTargetDoLeavesNothing(t *testing.T) {
	mnt := t.TempDir()
	c, s := startNotify(t, "target-call", []string{"ns=" + mnt + ":leave-ns"}, "getppid")
	n, tg := targetOf(t, s)
	before := threadCount(t)
	host := make(map[string]string)
	for _, ns := range []string{"mnt", "net", "uts", "ipc", "cgroup"} {
		host[ns], _ = os.Readlink("/proc/self/ns/" + ns)
	}
	wd, _ := os.Getwd()
	calls := sectest.Scale(400)
	for i := range calls {
		err := tg.Do(timeout(t), func() error {
			if i%50 == 0 {
				// Let the runtime start threads from here, too.
				runtime.Gosched()
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Do %d: %v", i, err)
		}
	}
	waitThreads(t, before)
	// Threads of the last calls may still be on their way out: wait for
	// them, but no thread may stay.
	deadline := time.Now().Add(30 * time.Second)
	for {
		bad := strangeThreads(host, wd)
		if len(bad) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads left in the target's view: %v", bad)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for ns, want := range host {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/self/task/%d/ns/%s", os.Getpid(), ns)); l != want {
			t.Errorf("the main thread is in %s, want %s", l, want)
		}
	}
	respondZero(t, s, n)
	exitZero(t, c)
}

// strangeThreads lists the threads of the process that are not in the
// namespaces host, have an fsuid or fsgid other than 0, a root other than
// "/" or a working directory other than wd.
func strangeThreads(host map[string]string, wd string) []string {
	var bad []string
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		dir := "/proc/self/task/" + e.Name()
		for ns, want := range host {
			if l, err := os.Readlink(dir + "/ns/" + ns); err == nil && l != want {
				bad = append(bad, e.Name()+" in "+l)
			}
		}
		if b, err := os.ReadFile(dir + "/status"); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) == 5 && (f[0] == "Uid:" || f[0] == "Gid:") && f[4] != "0" {
					bad = append(bad, e.Name()+" "+l)
				}
			}
		}
		if l, err := os.Readlink(dir + "/cwd"); err == nil && l != wd {
			bad = append(bad, e.Name()+" in "+l)
		}
		if l, err := os.Readlink(dir + "/root"); err == nil && l != "/" {
			bad = append(bad, e.Name()+" rooted at "+l)
		}
	}
	return bad
}

func TestDoCanceledBefore(t *testing.T) {
	c, s := startNotify(t, "target-call", nil, "getppid")
	n, tg := targetOf(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	for _, do := range []func(context.Context, func() error) error{tg.Do, tg.DoWithCreds} {
		if err := do(ctx, func() error { ran = true; return nil }); err != context.Canceled {
			t.Errorf("with a canceled context: %v, want context.Canceled", err)
		}
	}
	if ran {
		t.Error("fn ran")
	}
	// fn's error comes back as is; a panic reaches the caller.
	errFn := errors.New("fn failed")
	if err := tg.Do(timeout(t), func() error { return errFn }); err != errFn {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "fn panicked" {
				t.Errorf("recovered %v", r)
			}
		}()
		tg.Do(timeout(t), func() error { panic("fn panicked") })
	}()
	respondZero(t, s, n)
	exitZero(t, c)
}

func TestTargetClose(t *testing.T) {
	c, s := startNotify(t, "target-call", nil, "getppid")
	n, tg := targetOf(t, s)
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := tg.Open(unix.AT_FDCWD, "/", unix.O_RDONLY, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Open after Close: %v, want os.ErrClosed", err)
	}
	if err := tg.Do(timeout(t), func() error { return nil }); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Do after Close: %v, want os.ErrClosed", err)
	}
	if _, err := tg.Creds(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Creds after Close: %v, want os.ErrClosed", err)
	}
	respondZero(t, s, n)
	exitZero(t, c)
	// A notification that did not come from a Stream cannot be pinned.
	if _, err := (&seccompstream.Notification{PID: os.Getpid()}).Target(); err == nil {
		t.Error("Target of a hand-made Notification succeeded")
	}
}

// Target's GetFD duplicates the thread's descriptor.
func TestTargetGetFD(t *testing.T) {
	dir := t.TempDir()
	c, s := startNotify(t, "target-call", []string{"dirfd=" + dir}, "getppid")
	n, tg := targetOf(t, s)
	f, err := tg.GetFD(int(n.Args[1]))
	sectest.SkipIfNotSupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var a, b unix.Stat_t
	unix.Fstat(int(f.Fd()), &a)
	unix.Stat(dir, &b)
	if a.Ino != b.Ino {
		t.Errorf("GetFD(%d) is not %s", n.Args[1], dir)
	}
	if _, err := tg.GetFD(4000); !errors.Is(err, unix.EBADF) {
		t.Errorf("GetFD(4000) = %v, want EBADF", err)
	}
	respondZero(t, s, n)
	exitZero(t, c)
}
