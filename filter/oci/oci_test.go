package oci_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/filter/oci"
	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// envChild makes the test binary install Docker's profile and check a few
// calls under it (scenarioDocker) instead of running the tests.
const envChild = "SECCOMPSTREAM_OCI_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		// The filter goes on this thread, which stays locked until exit.
		runtime.LockOSThread()
		if err := scenarioDocker(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(sectest.RunMain(m.Run, "github.com/seccompstream/seccompstream/filter/oci"))
}

const x86 = unix.AUDIT_ARCH_X86_64

// decision is what a filter should do with one call.
type decision struct {
	name string
	arch uint32
	call string
	args [6]uint64
	want filter.Action
}

// vm assembles f and returns a function that runs it on a call, in
// x/net/bpf's VM (little-endian ABIs only, as this package's tests are).
func vm(t *testing.T, f *filter.Filter) func(sectest.Data) filter.Action {
	t.Helper()
	prog, err := f.Assemble()
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	m := sectest.NewVM(t, prog, true)
	return func(d sectest.Data) filter.Action { return filter.Action(m.Run(t, d)) }
}

// check runs every decision through run.
func check(t *testing.T, run func(sectest.Data) filter.Action, ds []decision) {
	t.Helper()
	for _, d := range ds {
		got := run(sectest.Data{Nr: sectest.Number(t, d.arch, d.call), Arch: d.arch, Args: d.args})
		if got != d.want {
			t.Errorf("%s: got %v, want %v", d.name, got, d.want)
		}
	}
}

func loadOCI(t testing.TB, b []byte) *filter.Filter {
	t.Helper()
	f, err := oci.FromSpec(ocitest.Seccomp(t, b))
	if err != nil {
		t.Fatalf("FromSpec: %v", err)
	}
	return f
}

func TestDockerDefaultProfile(t *testing.T) {
	if sysnames.Native() != x86 {
		t.Skip("decisions below are for x86_64")
	}
	f := loadOCI(t, ocitest.DockerProfile(t))
	prog, err := f.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Docker default profile: %d instructions, arches %#x", len(prog), f.Arches())
	run := vm(t, f)
	eperm := filter.Errno(unix.EPERM)
	const i386 = unix.AUDIT_ARCH_I386
	check(t, run, []decision{
		{"read", x86, "read", [6]uint64{}, filter.Allow},
		{"ptrace (kernel >= 4.8)", x86, "ptrace", [6]uint64{}, filter.Allow},
		{"kexec_load", x86, "kexec_load", [6]uint64{}, eperm},
		{"reboot", x86, "reboot", [6]uint64{}, eperm},
		{"mount", x86, "mount", [6]uint64{}, eperm},
		{"clone plain", x86, "clone", [6]uint64{uint64(unix.SIGCHLD)}, filter.Allow},
		{"clone CLONE_NEWUSER", x86, "clone", [6]uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
		{"clone3", x86, "clone3", [6]uint64{}, filter.Errno(unix.ENOSYS)},
		{"personality(0)", x86, "personality", [6]uint64{0}, filter.Allow},
		{"personality(0xffffffff)", x86, "personality", [6]uint64{0xffffffff}, filter.Allow},
		{"personality(ADDR_NO_RANDOMIZE)", x86, "personality", [6]uint64{0x0040000} /* ADDR_NO_RANDOMIZE */, eperm},
		{"socket(AF_INET)", x86, "socket", [6]uint64{unix.AF_INET}, filter.Allow},
		{"socket(AF_UNIX)", x86, "socket", [6]uint64{unix.AF_UNIX}, filter.Allow},
		{"socket(AF_VSOCK)", x86, "socket", [6]uint64{unix.AF_VSOCK}, eperm},
		{"socket(AF_ALG)", x86, "socket", [6]uint64{unix.AF_ALG}, eperm},
		{"i386 socketcall", i386, "socketcall", [6]uint64{}, filter.Allow},
		{"i386 kexec_load", i386, "kexec_load", [6]uint64{}, eperm},
		{"i386 getpid", i386, "getpid", [6]uint64{}, filter.Allow},
	})
	if got := run(sectest.Data{Nr: sysnames.X32Bit | 0, Arch: x86}); got != filter.KillProcess {
		t.Errorf("x32 read: got %v, want kill_process", got)
	}
	if got := run(sectest.Data{Nr: 1, Arch: unix.AUDIT_ARCH_AARCH64}); got != filter.KillProcess {
		t.Errorf("aarch64 call: got %v, want kill_process", got)
	}
	if f.HasNotify() {
		t.Error("HasNotify() on Docker's profile")
	}
}

func TestOCINotify(t *testing.T) {
	prof := `{
		"defaultAction": "SCMP_ACT_ALLOW",
		"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
		"listenerPath": "/run/agent.sock",
		"flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
		"syscalls": [
			{"names": ["openat", "connect"], "action": "SCMP_ACT_NOTIFY"},
			{"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
			 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
			{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
			 "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]},
			{"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS",
			 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
			{"names": ["fcntl"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
			{"names": ["ioctl"], "action": "SCMP_ACT_LOG",
			 "args": [{"index": 1, "value": 4294967295, "valueTwo": 21505, "op": "SCMP_CMP_MASKED_EQ"}]},
			{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["waitpid", "socketcall"], "action": "SCMP_ACT_KILL"}
		]
	}`
	var s specs.LinuxSeccomp
	if err := json.Unmarshal([]byte(prof), &s); err != nil {
		t.Fatal(err)
	}
	f, err := oci.FromSpec(&s)
	if err != nil {
		t.Fatal(err)
	}
	if sysnames.Native() != x86 {
		t.Skip("decisions below are for x86_64")
	}
	if !f.HasNotify() {
		t.Error("HasNotify() = false")
	}
	opts, err := oci.InstallOptions(&s)
	if err != nil || len(opts) != 3 {
		t.Errorf("InstallOptions: %d options, %v; want 3", len(opts), err)
	}
	run := vm(t, f)
	check(t, run, []decision{
		{"openat", x86, "openat", [6]uint64{}, filter.Notify},
		{"connect", x86, "connect", [6]uint64{}, filter.Notify},
		{"i386 openat", unix.AUDIT_ARCH_I386, "openat", [6]uint64{}, filter.Notify},
		{"umask(0)", x86, "umask", [6]uint64{0}, filter.Errno(unix.EACCES)},
		{"umask(022)", x86, "umask", [6]uint64{0o22}, filter.Allow},
		{"mkdir mode 1 (OR)", x86, "mkdir", [6]uint64{0, 1}, filter.Errno(unix.EPERM)},
		{"mkdir mode 2 (OR)", x86, "mkdir", [6]uint64{0, 2}, filter.Errno(unix.EPERM)},
		{"mkdir mode 3", x86, "mkdir", [6]uint64{0, 3}, filter.Allow},
		{"kill(1, 9) (AND)", x86, "kill", [6]uint64{1, 9}, filter.KillProcess},
		{"kill(1, 15)", x86, "kill", [6]uint64{1, 15}, filter.Allow},
		{"kill(2, 9)", x86, "kill", [6]uint64{2, 9}, filter.Allow},
		{"fcntl", x86, "fcntl", [6]uint64{}, filter.Trace(5)},
		{"ioctl TCGETS", x86, "ioctl", [6]uint64{0, 0x5401}, filter.Log},
		{"ioctl TCGETS high bits", x86, "ioctl", [6]uint64{0, 0xffffffff00005401}, filter.Log},
		{"ioctl other", x86, "ioctl", [6]uint64{0, 0x5402}, filter.Allow},
		{"i386 waitpid", unix.AUDIT_ARCH_I386, "waitpid", [6]uint64{}, filter.KillThread},
		{"i386 socketcall", unix.AUDIT_ARCH_I386, "socketcall", [6]uint64{}, filter.KillThread},
	})
	if got := run(sectest.Data{Nr: sysnames.X32Bit | 2, Arch: x86}); got != filter.KillProcess {
		t.Errorf("x32 listed in the profile is still refused: got %v", got)
	}
}

func TestOCIErrors(t *testing.T) {
	for _, tc := range []struct {
		prof, want string
	}{
		{`{"defaultAction": "SCMP_ACT_FOO"}`, `unknown seccomp action "SCMP_ACT_FOO" (defaultAction)`},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}`, `errnoRet 5000 out of range`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}`, `unknown architecture "SCMP_ARCH_VAX"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["opne"], "action": "SCMP_ACT_ERRNO"}]}`, `unknown syscall "opne"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`, `argument index 6 out of range (0..5) (syscalls[0].args[0])`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]}`, `unknown seccomp operator "SCMP_CMP_XX"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"}, {"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}`, `read already has the unconditional action errno(EPERM), cannot add notify (syscalls[1])`},
	} {
		var s specs.LinuxSeccomp
		if err := json.Unmarshal([]byte(tc.prof), &s); err != nil {
			t.Fatal(err)
		}
		_, err := oci.FromSpec(&s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.prof, err, tc.want)
		}
	}
	if _, err := oci.InstallOptions(&specs.LinuxSeccomp{Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"}}); err == nil {
		t.Error("unknown flag accepted")
	}
}

// scenarioDocker installs Docker's default profile and checks a few calls.
func scenarioDocker() error {
	f := loadOCI(fatalTB{}, ocitest.DockerProfile(fatalTB{}))
	if _, err := f.Install(); err != nil {
		return err
	}
	raw := func(trap uintptr, a ...uintptr) (uintptr, unix.Errno) {
		var args [3]uintptr
		copy(args[:], a)
		r, _, e := unix.RawSyscall(trap, args[0], args[1], args[2])
		return r, e
	}
	if _, e := raw(unix.SYS_KEXEC_LOAD); e != unix.EPERM {
		return fmt.Errorf("kexec_load: %v, want EPERM", e)
	}
	if _, e := raw(unix.SYS_SOCKET, unix.AF_VSOCK, unix.SOCK_STREAM); e != unix.EPERM {
		return fmt.Errorf("socket(AF_VSOCK): %v, want EPERM", e)
	}
	fd, e := raw(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM)
	if e != 0 {
		return fmt.Errorf("socket(AF_UNIX): %v", e)
	}
	unix.Close(int(fd))
	if pid, e := raw(unix.SYS_GETPID); e != 0 || int(pid) == 0 {
		return fmt.Errorf("getpid: %v", e)
	}
	return nil
}

// TestKernelDockerProfile installs Docker's default profile in a child
// (the re-executed test binary) and checks a few of its decisions there.
func TestKernelDockerProfile(t *testing.T) {
	ok, err := unotify.ProbeFilterFlag(unotify.FilterFlagNewListener)
	if err != nil {
		t.Fatalf("probing seccomp: %v", err)
	}
	sectest.RequireFeature(t, "seccomp filters (SECCOMP_FILTER_FLAG_NEW_LISTENER)", "5.0", ok)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child under Docker's profile: %v\n%s", err, out)
	}
}

// fatalTB lets test helpers run in a scenario child, where a failure ends
// the process.
type fatalTB struct{ testing.TB }

func (fatalTB) Helper() {}
func (fatalTB) Fatal(args ...any) {
	panic(errors.New(fmt.Sprint(args...)))
}
func (fatalTB) Fatalf(format string, args ...any) {
	panic(fmt.Errorf(format, args...))
}
