package filter_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/cbuild"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// The kernel tests re-execute the test binary (x/sys's
// GO_WANT_HELPER_PROCESS pattern): the child runs one scenario under a real
// filter and reports through its exit status and output.
const (
	envScenario = "SECCOMPSTREAM_FILTER_TEST_SCENARIO"
	envArg      = "SECCOMPSTREAM_FILTER_TEST_ARG"
)

var scenarios = map[string]func(arg string) error{
	"errno":   scenarioErrno,
	"kill":    scenarioKill,
	"notify":  scenarioNotify,
	"tsync":   scenarioTSync,
	"ebusy":   scenarioEBUSY,
	"exec":    scenarioExec,
	"options": scenarioOptions,
}

func TestMain(m *testing.M) {
	if name := os.Getenv(envScenario); name != "" {
		os.Exit(runScenario(name))
	}
	// The runtime's poller (an epoll fd and an eventfd) starts with the
	// first pipe the tests make; start it before RunMain counts fds.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	os.Exit(sectest.RunMain(m.Run, "github.com/seccompstream/seccompstream/filter"))
}

func runScenario(name string) int {
	fn, ok := scenarios[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown scenario %q\n", name)
		return 2
	}
	// SIGSYS from KillProcess would dump core.
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	// The filter goes on this thread, which stays locked to this goroutine
	// until the process exits.
	runtime.LockOSThread()
	if err := fn(os.Getenv(envArg)); err != nil {
		fmt.Fprintf(os.Stderr, "scenario %s: %v\n", name, err)
		return 1
	}
	return 0
}

// runChild runs a scenario in a child and returns its output and status.
func runChild(t *testing.T, scenario, arg string) (string, unix.WaitStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envScenario+"="+scenario, envArg+"="+arg)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running child %s: %v", scenario, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("child %s timed out:\n%s", scenario, out)
	}
	return string(out), unix.WaitStatus(cmd.ProcessState.Sys().(syscall.WaitStatus))
}

func expectSuccess(t *testing.T, scenario, arg string) string {
	t.Helper()
	out, ws := runChild(t, scenario, arg)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("child %s: status %v\n%s", scenario, describe(ws), out)
	}
	return out
}

func describe(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return "exit " + strconv.Itoa(ws.ExitStatus())
}

func rawErr(trap uintptr, a ...uintptr) (uintptr, unix.Errno) {
	var args [3]uintptr
	copy(args[:], a)
	r, _, e := unix.RawSyscall(trap, args[0], args[1], args[2])
	return r, e
}

func scenarioErrno(string) error {
	f := filter.New(filter.Allow)
	if err := f.Add(filter.Errno(unix.EXDEV), "getppid"); err != nil {
		return err
	}
	if err := f.AddIf(filter.Errno(unix.EACCES), "umask", filter.Arg(0).Eq(0o027)); err != nil {
		return err
	}
	if _, err := f.Install(); err != nil {
		return err
	}
	if _, e := rawErr(unix.SYS_GETPPID); e != unix.EXDEV {
		return fmt.Errorf("getppid: errno %v, want EXDEV", e)
	}
	if _, e := rawErr(unix.SYS_UMASK, 0o027); e != unix.EACCES {
		return fmt.Errorf("umask(027): errno %v, want EACCES", e)
	}
	if _, e := rawErr(unix.SYS_UMASK, 0o022); e != 0 {
		return fmt.Errorf("umask(022): errno %v, want success", e)
	}
	if pid, e := rawErr(unix.SYS_GETPID); e != 0 || int(pid) != os.Getpid() {
		return fmt.Errorf("getpid: %d, %v", pid, e)
	}
	// No_new_privs was set by Install.
	if nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err != nil || nnp != 1 {
		return fmt.Errorf("no_new_privs = %d, %v", nnp, err)
	}
	return nil
}

func scenarioKill(string) error {
	f := filter.New(filter.Allow)
	if err := f.Add(filter.KillProcess, "getppid"); err != nil {
		return err
	}
	if _, err := f.Install(); err != nil {
		return err
	}
	rawErr(unix.SYS_GETPPID)
	return errors.New("still alive after getppid")
}

// answer receives one notification and answers it with val, checking its
// fields against want.
func answer(l int, want unotify.Notif, val int64) error {
	var n unotify.Notif
	for {
		err := unotify.Recv(l, &n)
		if err == unix.EINTR || err == unix.ENOENT {
			continue
		}
		if err != nil {
			return fmt.Errorf("RECV: %w", err)
		}
		break
	}
	if n.Nr != want.Nr || n.Arch != want.Arch || (want.PID != 0 && n.PID != want.PID) || n.Args[0] != want.Args[0] {
		return fmt.Errorf("notification %+v, want nr %d arch %#x pid %d arg0 %d", n, want.Nr, want.Arch, want.PID, want.Args[0])
	}
	resp := unotify.Resp{ID: n.ID, Val: val}
	if err := unotify.Send(l, &resp); err != nil {
		return fmt.Errorf("SEND: %w", err)
	}
	return nil
}

func scenarioNotify(string) error {
	f := filter.New(filter.Allow)
	if err := f.AddIf(filter.Notify, "getppid"); err != nil {
		return err
	}
	if err := f.AddIf(filter.Notify, "umask", filter.Arg(0).Eq(0o077)); err != nil {
		return err
	}
	l, err := f.Install(filter.WithListener())
	if err != nil {
		return err
	}
	defer unix.Close(l)
	if fl, err := unix.FcntlInt(uintptr(l), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		return fmt.Errorf("listener flags %#x, %v: want FD_CLOEXEC", fl, err)
	}
	tid := uint32(unix.Gettid())
	done := make(chan error, 1)
	go func() {
		// Another goroutine, on another (unfiltered) thread.
		if err := answer(l, unotify.Notif{Nr: unix.SYS_GETPPID, Arch: sysnames.Native(), PID: tid}, 4242); err != nil {
			done <- err
			return
		}
		done <- answer(l, unotify.Notif{Nr: unix.SYS_UMASK, Arch: sysnames.Native(), PID: tid, Args: [6]uint64{0o077}}, 7)
	}()
	if r, e := rawErr(unix.SYS_GETPPID); e != 0 || r != 4242 {
		return fmt.Errorf("getppid = %d, %v; want the supervisor's 4242", r, e)
	}
	if r, e := rawErr(unix.SYS_UMASK, 0o022); e != 0 || r == 7 {
		return fmt.Errorf("umask(022) = %d, %v: should not have been notified", r, e)
	}
	if r, e := rawErr(unix.SYS_UMASK, 0o077); e != 0 || r != 7 {
		return fmt.Errorf("umask(077) = %d, %v; want the supervisor's 7", r, e)
	}
	return <-done
}

// scenarioTSync installs on every thread, with a listener (so TSYNC_ESRCH
// is added) and WAIT_KILLABLE_RECV, and makes the calls from a goroutine
// that is not the installing one.
func scenarioTSync(string) error {
	f := filter.New(filter.Allow)
	if err := f.Add(filter.Notify, "getppid"); err != nil {
		return err
	}
	if err := f.Add(filter.Errno(unix.EXDEV), "getpgid"); err != nil {
		return err
	}
	l, err := f.Install(filter.WithListener(), filter.WithTSync(), filter.WithWaitKillableRecv())
	if errors.Is(err, filter.ErrNotSupported) {
		fmt.Println("SKIP:", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(l)
	done := make(chan error, 1)
	go func() { done <- answer(l, unotify.Notif{Nr: unix.SYS_GETPPID, Arch: sysnames.Native()}, 4343) }()
	res := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // a thread other than the installing one
		defer runtime.UnlockOSThread()
		if r, e := rawErr(unix.SYS_GETPPID); e != 0 || r != 4343 {
			res <- fmt.Errorf("getppid on another thread = %d, %v; want 4343", r, e)
			return
		}
		if _, e := rawErr(unix.SYS_GETPGID, 0); e != unix.EXDEV {
			res <- fmt.Errorf("getpgid on another thread: %v, want EXDEV", e)
			return
		}
		res <- nil
	}()
	if err := <-res; err != nil {
		return err
	}
	return <-done
}

func scenarioEBUSY(string) error {
	f := filter.New(filter.Allow)
	if err := f.Add(filter.Notify, "getppid"); err != nil {
		return err
	}
	l, err := f.Install(filter.WithListener())
	if err != nil {
		return err
	}
	defer unix.Close(l)
	_, err = f.Install(filter.WithListener())
	if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "listener already") {
		return fmt.Errorf("second listener: %v, want EBUSY", err)
	}
	return nil
}

// scenarioOptions checks option validation and the remaining flags.
func scenarioOptions(string) error {
	f := filter.New(filter.Allow)
	if _, err := f.Install(filter.WithWaitKillableRecv()); err == nil || !strings.Contains(err.Error(), "needs WithListener") {
		return fmt.Errorf("WAIT_KILLABLE_RECV without listener: %v", err)
	}
	if l, err := f.Install(filter.WithLogging(), filter.WithSpecAllow(), filter.WithNoNewPrivsHandled()); err != nil || l != -1 {
		// Root has CAP_SYS_ADMIN, so no_new_privs is not needed.
		return fmt.Errorf("LOG|SPEC_ALLOW: %d, %v", l, err)
	}
	if nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); nnp != 0 {
		return errors.New("no_new_privs set despite WithNoNewPrivsHandled")
	}
	if _, err := filter.InstallProgram(nil); err == nil {
		return errors.New("empty program accepted")
	}
	return nil
}

// scenarioExec installs a filter described by arg and executes a program
// under it: "mode:path:nr".
func scenarioExec(arg string) error {
	mode, rest, _ := strings.Cut(arg, ":")
	path, nr, _ := strings.Cut(rest, ":")
	f := filter.New(filter.Allow)
	switch mode {
	case "none":
		f = nil
	case "x86_64-only":
	case "i386-getpid":
		if err := f.AddArch(unix.AUDIT_ARCH_I386); err != nil {
			return err
		}
		if err := f.Add(filter.Errno(unix.EXDEV), "getpid"); err != nil {
			return err
		}
	case "i386-writev":
		if err := f.AddArch(unix.AUDIT_ARCH_I386); err != nil {
			return err
		}
		if err := f.Add(filter.Errno(unix.EXDEV), "writev"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("bad mode %q", mode)
	}
	if f != nil {
		if _, err := f.Install(); err != nil {
			return err
		}
	}
	// execve from the filtered thread: the new program keeps the filter.
	return syscall.Exec(path, []string{path, nr}, os.Environ())
}

func requireSeccomp(t testing.TB) {
	t.Helper()
	ok, err := unotify.ProbeFilterFlag(unotify.FilterFlagNewListener)
	if err != nil {
		t.Fatalf("probing SECCOMP_FILTER_FLAG_NEW_LISTENER: %v", err)
	}
	sectest.RequireFeature(t, "SECCOMP_FILTER_FLAG_NEW_LISTENER", "5.0", ok)
}

func TestKernelErrno(t *testing.T) {
	requireSeccomp(t)
	expectSuccess(t, "errno", "")
}

func TestKernelKillProcess(t *testing.T) {
	requireSeccomp(t)
	out, ws := runChild(t, "kill", "")
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child: %s, want killed by SIGSYS\n%s", describe(ws), out)
	}
}

func TestKernelNotify(t *testing.T) {
	requireSeccomp(t)
	expectSuccess(t, "notify", "")
}

func TestKernelTSyncListener(t *testing.T) {
	requireSeccomp(t)
	sectest.RequireKernel(t, sectest.TSyncESRCH, sectest.WaitKillableRecv)
	if out := expectSuccess(t, "tsync", ""); strings.HasPrefix(out, "SKIP:") {
		t.Fatalf("the probes found the flags, the kernel refused them: %s", out)
	}
}

func TestKernelSecondListener(t *testing.T) {
	requireSeccomp(t)
	expectSuccess(t, "ebusy", "")
}

func TestKernelOptions(t *testing.T) {
	requireSeccomp(t)
	expectSuccess(t, "options", "")
}

// helper386 makes one system call through the i386 ABI (int $0x80) from a
// 64-bit program and prints the result.
const helper386 = `#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
	long ret, nr = strtol(argv[1], 0, 0);
	__asm__ volatile ("int $0x80" : "=a"(ret) : "a"(nr) : "memory");
	printf("%ld\n", ret);
	return 0;
}
`

func buildHelper386(t *testing.T) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("int $0x80 test is for x86_64")
	}
	return sectest.BuildC(t, cbuild.Program{Name: "int80", Source: []byte(helper386), Flags: []string{"-O2"}})
}

func TestKernelI386Blocked(t *testing.T) {
	requireSeccomp(t)
	bin := buildHelper386(t)
	const getpid386 = "20" // i386 getpid; x86_64's 20 is writev

	// Without a filter: the kernel must have IA32 emulation at all.
	out, ws := runChild(t, "exec", "none:"+bin+":"+getpid386)
	v, err := strconv.Atoi(strings.TrimSpace(out))
	works := !ws.Signaled() && ws.ExitStatus() == 0 && err == nil && v > 0
	if !works {
		t.Logf("int $0x80 getpid without a filter: %s, output %q", describe(ws), out)
	}
	sectest.RequireFeature(t, "IA32 emulation (CONFIG_IA32_EMULATION, int $0x80)", "", works)

	t.Run("x86_64 only", func(t *testing.T) {
		out, ws := runChild(t, "exec", "x86_64-only:"+bin+":"+getpid386)
		if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
			t.Fatalf("i386 call under an x86_64-only filter: %s, want killed by SIGSYS\n%s", describe(ws), out)
		}
	})
	t.Run("i386 numbering", func(t *testing.T) {
		out := expectSuccess(t, "exec", "i386-getpid:"+bin+":"+getpid386)
		if strings.TrimSpace(out) != strconv.Itoa(-int(unix.EXDEV)) {
			t.Fatalf("i386 getpid under an Errno(EXDEV) getpid rule printed %q, want -%d", out, unix.EXDEV)
		}
	})
	t.Run("not x86_64 numbering", func(t *testing.T) {
		out := expectSuccess(t, "exec", "i386-writev:"+bin+":"+getpid386)
		if v, err := strconv.Atoi(strings.TrimSpace(out)); err != nil || v <= 0 {
			t.Fatalf("i386 getpid under a writev rule printed %q, want a pid", out)
		}
	})
}
