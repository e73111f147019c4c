// Package sectest holds what the tests of this module share: the one test
// gate, test targets (re-executed children, C programs built with BuildC,
// the GoWork workload), iteration scaling, the leak check, and small
// fixtures (Buffer for output a test waits on, PublicDir). The OCI
// fixtures (runc and crun, bundles) are internal/ocitest's.
//
// # The test gate
//
// A test that needs something the machine may lack says so with one call
// at its top, never with t.Skip of its own:
//
//	sectest.RequireKernel(t, sectest.AddFD)           // probed kernel features
//	have := sectest.HaveKernel(t, sectest.SyncWakeUp) // a test of both sides
//	sectest.SkipIfNotSupported(t, err)                // err from the code under test
//	sectest.RequireFeature(t, "IA32 emulation", "", ok)
//	gcc := sectest.RequireTool(t, "gcc")              // a program on PATH
//	bin := sectest.BuildC(t, cbuild.Program{...})     // a C program: gcc, or prebuilt
//
// The rules, in the spirit of cilium/ebpf's testutils.SkipIfNotSupported:
//
//   - A kernel feature that is missing skips the test on kernels older
//     than the feature's first release, and fails it on kernels at or past
//     that release (from uname): there the probe that said "missing" is
//     wrong, and a skip would hide it.
//   - A tool that is missing (RequireTool), or a feature that no release
//     number decides (RequireFeature with version ""), skips the test,
//     except in CI (SECCOMPSTREAM_CI=1, set by .ci/run), where it fails:
//     CI installs every tool a test asks for.
//
// BuildC follows the tool rule for gcc, except where the program's
// Prebuilt variable names a binary built beforehand (the qemu guest of
// scripts/kernel-test has no compiler; .ci/run builds its programs).
//
// Skips that are not about the machine's abilities (the race detector's
// allocations, a test for another GOARCH) stay plain t.Skip calls.
//
// # Test targets
//
// StartChild re-executes the test binary under a minimal seccomp filter
// and hands the listener to the test. It is for tests only; the library's
// own launcher is seccompstream.Start.
//
// A test package calls Main from TestMain. StartChild re-executes the test
// binary with an environment variable naming a scenario; Main sees it, puts
// the process under a filter that notifies the listed system calls (all
// threads, TSYNC), passes the listener fd number to the parent through a
// pipe, waits until the parent has copied the listener (pidfd_getfd), closes
// its own copy and runs the scenario function, whose return value becomes the
// exit status.
package sectest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

const (
	envScenario = "SECCOMPSTREAM_SECTEST_SCENARIO"
	envNotify   = "SECCOMPSTREAM_SECTEST_NOTIFY"
	envKillable = "SECCOMPSTREAM_SECTEST_KILLABLE"
	envArgs     = "SECCOMPSTREAM_SECTEST_ARGS"
)

// Scenario is the body of a child process. args are Opts.Args; the return
// value is the exit status.
type Scenario func(args []string) int

// Main runs the child side when the process was started by StartChild, and
// returns otherwise. Call it first thing in TestMain.
func Main(scenarios map[string]Scenario) {
	name := os.Getenv(envScenario)
	if name == "" {
		return
	}
	fn, ok := scenarios[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "sectest: unknown scenario %q\n", name)
		os.Exit(111)
	}
	var args []string
	if a := os.Getenv(envArgs); a != "" {
		args = strings.Split(a, "\x1f")
	}
	if err := installChild(); err != nil {
		fmt.Fprintf(os.Stderr, "sectest: %v\n", err)
		os.Exit(112)
	}
	os.Exit(fn(args))
}

func installChild() error {
	var nrs []uint32
	for _, name := range strings.Split(os.Getenv(envNotify), ",") {
		if name == "" {
			continue
		}
		if num, ok := strings.CutPrefix(name, "#"); ok {
			nr, err := strconv.ParseUint(num, 0, 32)
			if err != nil {
				return fmt.Errorf("bad call number %q: %w", name, err)
			}
			nrs = append(nrs, uint32(nr))
			continue
		}
		nr, ok := sysnames.Number(sysnames.Native(), name)
		if !ok {
			return fmt.Errorf("unknown syscall %q", name)
		}
		nrs = append(nrs, uint32(nr))
	}
	prog := Program(sysnames.Native(), nrs)
	flags := uintptr(unotify.FilterFlagNewListener | unotify.FilterFlagTSync | unotify.FilterFlagTSyncESRCH)
	if os.Getenv(envKillable) == "1" {
		flags |= unotify.FilterFlagWaitKillableRecv
	}
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(NO_NEW_PRIVS): %w", err)
	}
	l, err := unotify.SetModeFilter(prog, flags)
	if err != nil {
		return fmt.Errorf("seccomp(SET_MODE_FILTER): %w", err)
	}
	runtime.UnlockOSThread()
	report := os.NewFile(3, "report")
	ack := os.NewFile(4, "ack")
	if _, err := fmt.Fprintf(report, "%d\n", l); err != nil {
		return err
	}
	report.Close()
	var b [1]byte
	if _, err := ack.Read(b[:]); err != nil {
		return fmt.Errorf("waiting for parent: %w", err)
	}
	ack.Close()
	return unix.Close(l)
}

// Program returns a filter that notifies the calls nrs of arch and allows
// everything else, including calls of other architectures.
//
// It is built by hand, jump offsets counted, on purpose: it is the test
// oracle, the one program in the module that does not come from
// internal/cbpf, so that a fault in the assembler cannot hide in the
// tests that serve the library's notifications.
func Program(arch uint32, nrs []uint32) []unotify.SockFilter {
	const (
		ldw  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retk = unix.BPF_RET | unix.BPF_K
	)
	n := len(nrs)
	prog := []unotify.SockFilter{
		{Code: ldw, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 0, Jf: uint8(n + 2), K: arch},
		{Code: ldw, K: 0}, // seccomp_data.nr
	}
	for i, nr := range nrs {
		prog = append(prog, unotify.SockFilter{Code: jeq, Jt: uint8(n - i), Jf: 0, K: nr})
	}
	return append(prog,
		unotify.SockFilter{Code: retk, K: unix.SECCOMP_RET_ALLOW},
		unotify.SockFilter{Code: retk, K: unix.SECCOMP_RET_USER_NOTIF},
	)
}

// Opts describes a child.
type Opts struct {
	Scenario string   // a key of the map given to Main
	Args     []string // passed to the scenario
	// Notify names the calls that notify (native arch), or gives their
	// numbers after a '#' ("#0x40000204": x32's writev).
	Notify []string
	// WaitKillableRecv sets SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV.
	WaitKillableRecv bool
	// Stdin is the child's standard input (nil: /dev/null).
	Stdin io.Reader
	// Env is added to the child's environment ("NAME=value").
	Env []string
}

// Child is a started child process.
type Child struct {
	Cmd *exec.Cmd
	// Listener is the parent's copy of the child's listener fd. The test
	// owns it (typically it passes it to seccompstream.New).
	Listener int

	out     Buffer
	exited  chan struct{} // closed once the child was reaped
	waitErr error
}

// Output returns what the child wrote to stdout and stderr so far.
func (c *Child) Output() string {
	return c.out.String()
}

// Wait waits for the child to exit and returns what exec.Cmd.Wait did.
// The child is reaped as soon as it exits, whether or not anybody waits:
// before Linux 6.11 a listener hangs up only when its last target is reaped.
func (c *Child) Wait() error {
	<-c.exited
	return c.waitErr
}

// ExitCode waits for the child and returns its exit status (-1 if killed).
func (c *Child) ExitCode() int {
	_ = c.Wait()
	return c.Cmd.ProcessState.ExitCode()
}

// StartChild starts a child for o and returns it once its filter is
// installed and the listener copied. The child is killed and reaped when
// the test ends.
func StartChild(t testing.TB, o Opts) *Child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	reportR, reportW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ackR, ackW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &Child{exited: make(chan struct{})}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envScenario+"="+o.Scenario,
		envNotify+"="+strings.Join(o.Notify, ","),
		envArgs+"="+strings.Join(o.Args, "\x1f"),
	)
	if o.WaitKillableRecv {
		cmd.Env = append(cmd.Env, envKillable+"=1")
	}
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.ExtraFiles = []*os.File{reportW, ackR}
	cmd.Stdin = o.Stdin
	cmd.Stdout = &c.out
	cmd.Stderr = &c.out
	c.Cmd = cmd
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reportW.Close()
	ackR.Close()
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = c.Wait()
	})
	defer ackW.Close()
	defer reportR.Close()

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(reportR).ReadString('\n')
		line <- s
	}()
	var l string
	select {
	case l = <-line:
	case <-time.After(60 * time.Second):
		t.Fatalf("child did not report its listener; output: %s", c.Output())
	}
	fdnum, err := strconv.Atoi(strings.TrimSpace(l))
	if err != nil {
		_ = c.Wait()
		t.Fatalf("child did not report its listener (%q): %s", l, c.Output())
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open: %v", err)
	}
	defer unix.Close(pidfd)
	fd, err := unix.PidfdGetfd(pidfd, fdnum, 0)
	if err != nil {
		t.Fatalf("pidfd_getfd(%d): %v", fdnum, err)
	}
	unix.CloseOnExec(fd)
	c.Listener = fd
	if _, err := ackW.Write([]byte{1}); err != nil {
		unix.Close(fd)
		t.Fatalf("releasing child: %v", err)
	}
	return c
}

// PublicDir returns a new directory that every user may enter (mode
// 0755), removed when the test ends: t.TempDir's parents are 0700, which
// keeps out a target or a container that runs as another user.
func PublicDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "seccompstream-public-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
