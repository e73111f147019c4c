package seccompstream_test

// Helpers of the ported kernel selftests (selftest_test.go): a C target, a
// re-executed Go child without a filter, the one "feature missing" rule,
// and waits on the state of a target task in /proc.

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/cbuild"
	"github.com/seccompstream/seccompstream/internal/procstatus"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// cTargetSource is the C target, shared with the soak harness.
//
//go:embed internal/soak/csrc/target.c
var cTargetSource []byte

// cTargetBinary returns the C target: the prebuilt one named by
// SECCOMPSTREAM_C_TARGET (cTargetSource built with gcc -static, for
// machines without a compiler such as the qemu guest of
// scripts/kernel-test; see .ci/run; the soak takes it too), or one built
// with gcc for this test.
func cTargetBinary(t *testing.T) string {
	t.Helper()
	return sectest.BuildC(t, cbuild.Program{
		Name: "target", Source: cTargetSource, Flags: []string{"-O2", "-Wall"}, Prebuilt: "SECCOMPSTREAM_C_TARGET",
	})
}

// cTarget is a running C target in its -interactive mode (see
// cTargetSource).
type cTarget struct {
	t        *testing.T
	cmd      *exec.Cmd
	stdin    *os.File
	Listener int // the test's copy of the listener, -1 without one; the test owns it

	lines  chan string   // the target's output lines
	read   chan struct{} // closed when the output reader is done
	exited chan struct{} // closed once the target was reaped
	state  *os.ProcessState
}

// startC starts the C target with flags (see target.c) and -interactive.
// With -filter it returns once the test holds a copy of the listener and
// the target has been told to go on. The target is killed and reaped when
// the test ends.
func startC(t *testing.T, flags ...string) *cTarget {
	t.Helper()
	bin := cTargetBinary(t)
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &cTarget{t: t, stdin: inW, Listener: -1, lines: make(chan string, 1024),
		read: make(chan struct{}), exited: make(chan struct{})}
	c.cmd = exec.Command(bin, append(flags, "-interactive")...)
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = inR, outW, outW
	err = c.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		t.Fatal(err)
	}
	go func() {
		defer close(c.read)
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	go func() {
		_ = c.cmd.Wait()
		c.state = c.cmd.ProcessState
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.exited
		c.stdin.Close()
		<-c.read
		if c.Listener >= 0 {
			unix.Close(c.Listener)
		}
	})
	if slices.Contains(flags, "-filter") {
		line := c.expect("listener")
		n, err := strconv.Atoi(strings.TrimPrefix(line, "listener "))
		if err != nil {
			t.Fatalf("target said %q", line)
		}
		c.Listener = copyFD(t, c.cmd.Process.Pid, n)
		if _, err := c.stdin.WriteString("A"); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// copyFD returns a copy of fd n of process pid (pidfd_getfd), close-on-exec.
func copyFD(t testing.TB, pid, n int) int {
	t.Helper()
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	defer unix.Close(pidfd)
	fd, err := unix.PidfdGetfd(pidfd, n, 0)
	if err != nil {
		t.Fatalf("pidfd_getfd(%d, %d): %v", pid, n, err)
	}
	unix.CloseOnExec(fd)
	return fd
}

// TakeListener hands the listener over to the caller (typically to
// seccompstream.New, which owns it from then on).
func (c *cTarget) TakeListener() int {
	fd := c.Listener
	c.Listener = -1
	return fd
}

// Pid returns the target's pid (also its only thread's id).
func (c *cTarget) Pid() int { return c.cmd.Process.Pid }

// send writes one command line to the target.
func (c *cTarget) send(line string) {
	c.t.Helper()
	if _, err := c.stdin.WriteString(line + "\n"); err != nil {
		c.t.Fatalf("telling the target %q: %v", line, err)
	}
}

// expect returns the next output line, which must start with prefix.
func (c *cTarget) expect(prefix string) string {
	c.t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("target ended its output; want a line %q...", prefix)
		}
		if !strings.HasPrefix(line, prefix) {
			c.t.Fatalf("target said %q, want a line %q...", line, prefix)
		}
		return line
	case <-time.After(60 * time.Second):
		c.t.Fatalf("no line %q... from the target within 60s", prefix)
	}
	return ""
}

// wait waits for the target to exit and returns how it ended.
func (c *cTarget) wait() unix.WaitStatus {
	c.t.Helper()
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		c.t.Fatal("target did not exit within 60s")
	}
	return unix.WaitStatus(c.state.Sys().(syscall.WaitStatus))
}

// waitInSyscall waits until a thread of process pid sleeps in system call
// nr, and returns its thread id. It reads /proc, as the kernel's selftests
// do: no timing assumption, only a bound on the whole wait.
func waitInSyscall(t testing.TB, pid int, nr int) int {
	t.Helper()
	want := strconv.Itoa(nr) + " "
	var found int
	sectest.Eventually(t, fmt.Sprintf("thread of process %d in system call %d", pid, nr), func() bool {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, e := range ents {
			tid, _ := strconv.Atoi(e.Name())
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid))
			if err == nil && strings.HasPrefix(string(b), want) && taskState(tid) == 'S' {
				found = tid
				return true
			}
		}
		return false
	})
	return found
}

// waitTaskState waits until task tid is in state st (as /proc/<tid>/stat
// shows it: 'S' sleeping, 'D' uninterruptible or killable wait).
func waitTaskState(t testing.TB, tid int, st byte) {
	t.Helper()
	if !sectest.Poll(func() bool { return taskState(tid) == st }) {
		t.Fatalf("task %d not in state %c within %v (state %c)", tid, st, sectest.Patience, taskState(tid))
	}
}

// taskState returns the state letter of task tid, 0 if it is gone.
func taskState(tid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tid))
	if err != nil {
		return 0
	}
	f := procstatus.StatFields(b)
	if len(f) == 0 {
		return 0
	}
	return f[0][0]
}

// threadGroup returns the thread group (process) id of thread tid.
func threadGroup(t testing.TB, tid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		t.Fatalf("thread %d: %v", tid, err)
	}
	n, ok := procstatus.Int(b, "Tgid")
	if !ok {
		t.Fatalf("thread %d: no Tgid", tid)
	}
	return n
}

// envSelftestChild names a function of selftestChildren that a re-executed
// test binary runs, with no filter, instead of the tests.
const envSelftestChild = "SECCOMPSTREAM_SELFTEST_CHILD"

func init() {
	// Runs before TestMain and after every package-level variable, so
	// selftestChildren (selftest_test.go) is filled in.
	name := os.Getenv(envSelftestChild)
	if name == "" {
		return
	}
	fn, ok := selftestChildren[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown selftest child %q\n", name)
		os.Exit(111)
	}
	os.Exit(fn())
}

// runGoChild runs selftestChildren[name] in a re-executed test binary with
// extra files (fd 3 onwards) and attr, and returns its output and status.
func runGoChild(t *testing.T, name string, extra []*os.File, attr *syscall.SysProcAttr) (string, unix.WaitStatus) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envSelftestChild+"="+name)
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = attr
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("child %s timed out:\n%s", name, out)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("child %s: %v", name, err)
	}
	return string(out), unix.WaitStatus(cmd.ProcessState.Sys().(syscall.WaitStatus))
}
