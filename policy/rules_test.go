package policy_test

import (
	"encoding/binary"
	"maps"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/policy"
)

// number is the number of the call name on arch.
func number(t *testing.T, arch uint32, name string) int32 {
	t.Helper()
	n, ok := sysnames.Number(arch, name)
	if !ok {
		t.Fatalf("no %s on %s", name, sysnames.ArchName(arch))
	}
	return n
}

func parseX86(t *testing.T, trace, deny []string) *policy.Rules {
	t.Helper()
	r, err := policy.ParseListsFor(unix.AUDIT_ARCH_X86_64, trace, deny)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseLists(t *testing.T) {
	r := parseX86(t,
		[]string{"openat,execve", " connect ", "openat"},
		[]string{"mkdir:EACCES,unlink", "rmdir:eperm", "chmod:13", "mkdirat:EROFS"})
	var traced []string
	for name, a := range r.Syscalls {
		if a == policy.Trace {
			traced = append(traced, name)
		}
	}
	if got := strings.Join(slices.Sorted(slices.Values(traced)), ","); got != "connect,execve,openat" {
		t.Errorf("traced = %s", got)
	}
	want := map[string]unix.Errno{"mkdir": unix.EACCES, "unlink": unix.EPERM, "rmdir": unix.EPERM, "chmod": unix.EACCES, "mkdirat": unix.EROFS}
	for name, e := range want {
		a := r.Action(name)
		if a.Errno() != e {
			t.Errorf("%s: %v, want deny %v", name, a, e)
		}
		if got := a.Response(); got.Errno() != e {
			t.Errorf("response for %s = %v", name, got)
		}
		if !a.Shown() {
			t.Errorf("denied %s not shown", name)
		}
	}
	if got := r.Action("openat").Response(); !got.IsContinue() {
		t.Errorf("openat: %v", got)
	}
	if r.Action("read").Shown() || r.Default != policy.Allow {
		t.Errorf("read shown; default %v", r.Default)
	}
}

// An :ERRNO applies to its name and every name back to the previous
// :ERRNO of the same list; names after the last get EPERM.
func TestParseListsErrnoRuns(t *testing.T) {
	for _, tc := range []struct {
		deny []string
		want map[string]syscall.Errno
	}{
		{[]string{"mkdir,mkdirat:EACCES"}, map[string]syscall.Errno{"mkdir": unix.EACCES, "mkdirat": unix.EACCES}},
		{[]string{"mkdir,rmdir:EACCES,unlink,chmod:ENOENT,chown"}, map[string]syscall.Errno{
			"mkdir": unix.EACCES, "rmdir": unix.EACCES, "unlink": unix.ENOENT, "chmod": unix.ENOENT, "chown": unix.EPERM}},
		{[]string{"mkdir:EACCES,unlink"}, map[string]syscall.Errno{"mkdir": unix.EACCES, "unlink": unix.EPERM}},
		{[]string{"mkdir:EACCES,mkdirat:EROFS"}, map[string]syscall.Errno{"mkdir": unix.EACCES, "mkdirat": unix.EROFS}},
		// Each flag's value is its own list: nothing carries over.
		{[]string{"mkdir", "mkdirat:EACCES"}, map[string]syscall.Errno{"mkdir": unix.EPERM, "mkdirat": unix.EACCES}},
		// The same name twice with the same errno is fine.
		{[]string{"mkdir,mkdir:EACCES", "mkdir:13"}, map[string]syscall.Errno{"mkdir": unix.EACCES}},
		{[]string{" mkdir , , rmdir : 2 "}, map[string]syscall.Errno{"mkdir": unix.ENOENT, "rmdir": unix.ENOENT}},
	} {
		r := parseX86(t, nil, tc.deny)
		got := map[string]syscall.Errno{}
		for name, a := range r.Syscalls {
			got[name] = a.Errno()
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("--deny %q: %v, want %v", tc.deny, got, tc.want)
		}
	}
}

func TestParseListsErrors(t *testing.T) {
	for _, tc := range []struct {
		trace, deny string
		want        string
	}{
		{trace: "opne", want: `--trace: unknown system call "opne"`},
		{trace: "openat,bogus", want: `"bogus"`},
		{deny: "mkdir:EWHAT", want: `unknown errno "EWHAT"`},
		{deny: "mkdir:0", want: "out of range"},
		{deny: "mkdir:5000", want: "out of range"},
		{deny: "all", want: "only valid for --trace"},
		{deny: "mkdir:EACCES,mkdir:EPERM", want: "both"},
		{deny: "fstatat", want: `did you mean "newfstatat"`},
		// A name given two errnos is an error naming both.
		{deny: "mkdir:EACCES,mkdir", want: "mkdir denied with both EACCES and EPERM"},
		{deny: "mkdir,rmdir:EACCES,rmdir:EROFS", want: "rmdir denied with both EACCES and EROFS"},
		{deny: ":EACCES", want: `no system call name before ":"`},
		{deny: "mkdir,:EACCES", want: `no system call name`},
		{deny: "mkdir:EACCES:x", want: `unknown errno`},
		{trace: "mkdir:EACCES", want: "an :ERRNO goes in a deny list"},
		{trace: "arm_fadvise64_64", want: `"arm_fadvise64_64" does not exist on x86_64/i386`},
	} {
		_, err := policy.ParseListsFor(unix.AUDIT_ARCH_X86_64, []string{tc.trace}, []string{tc.deny})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("trace %q deny %q: %v, want error containing %q", tc.trace, tc.deny, err, tc.want)
		}
	}
	// Conflicts across flags are errors too.
	if _, err := policy.ParseListsFor(unix.AUDIT_ARCH_X86_64, nil, []string{"mkdir", "mkdir:EACCES"}); err == nil ||
		!strings.Contains(err.Error(), "both EPERM and EACCES") {
		t.Errorf("conflict across flags: %v", err)
	}
}

func TestParseListsTraceAll(t *testing.T) {
	r := parseX86(t, []string{"all"}, []string{"mkdir:EACCES"})
	if r.Default != policy.Trace || !r.Action("read").Shown() {
		t.Fatal("all does not trace everything")
	}
	if r.Action("mkdir") != policy.Deny(unix.EACCES) {
		t.Errorf("mkdir: %v", r.Action("mkdir"))
	}
	// Denied wins over traced, in any order.
	r = parseX86(t, []string{"mkdir"}, []string{"mkdir"})
	if r.Action("mkdir") != policy.Deny(unix.EPERM) {
		t.Errorf("mkdir traced and denied: %v", r.Action("mkdir"))
	}
}

// Names of every ABI the kernel runs are accepted: socketcall is i386's.
func TestParseListsOtherABINames(t *testing.T) {
	r := parseX86(t, []string{"socketcall"}, []string{"waitpid"})
	if r.Action("socketcall") != policy.Trace || r.Action("waitpid").Errno() != unix.EPERM {
		t.Errorf("i386 names: %v", r.Syscalls)
	}
	if _, err := policy.ParseListsFor(unix.AUDIT_ARCH_AARCH64, []string{"arm_fadvise64_64"}, nil); err != nil {
		t.Errorf("arm name on aarch64: %v", err)
	}
	// aarch64 has no open, but arm does.
	if _, err := policy.ParseListsFor(unix.AUDIT_ARCH_AARCH64, []string{"open"}, nil); err != nil {
		t.Errorf("open on aarch64: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		r    policy.Rules
		want string
	}{
		{policy.Rules{Syscalls: map[string]policy.Action{"mkdri": policy.Trace}}, `unknown system call "mkdri"`},
		{policy.Rules{Syscalls: map[string]policy.Action{"mkdir": policy.Deny(0)}}, "syscalls.mkdir: deny errno 0 out of range"},
		{policy.Rules{Default: policy.Deny(9999)}, "default: deny errno 9999"},
	} {
		err := tc.r.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%v): %v, want %q", tc.r, err, tc.want)
		}
		if _, err := tc.r.Handler(nil); err == nil {
			t.Errorf("Handler(%v) succeeded", tc.r)
		}
		if _, err := tc.r.Filter(); err == nil {
			t.Errorf("Filter(%v) succeeded", tc.r)
		}
	}
	if err := (&policy.Rules{}).Validate(); err != nil {
		t.Errorf("zero Rules: %v", err)
	}
}

// vmRun runs prog in x/net/bpf's VM on one seccomp_data (nr, arch, no
// arguments). The VM loads big-endian: the words are stored that way.
func vmRun(t *testing.T, prog []bpf.RawInstruction, nr int32, arch uint32) filter.Action {
	t.Helper()
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatal("program has instructions x/net/bpf cannot decode")
	}
	v, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	var b [64]byte
	binary.BigEndian.PutUint32(b[0:], uint32(nr))
	binary.BigEndian.PutUint32(b[4:], arch)
	r, err := v.Run(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return filter.Action(uint32(r))
}

// TestFilterEveryABI: the filter notifies a named call on every ABI, in
// each ABI's numbering, lets x32 calls reach the handler, and kills
// nothing.
func TestFilterEveryABI(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the numbers below are x86_64's and i386's")
	}
	const i386, x86 = unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_X86_64
	type call struct {
		nr   int32
		arch uint32
		want filter.Action
	}
	nr := func(arch uint32, name string) int32 { return number(t, arch, name) }
	for _, tc := range []struct {
		name        string
		trace, deny []string
		calls       []call
	}{
		{name: "trace getpid", trace: []string{"getpid"}, calls: []call{
			{nr(x86, "getpid"), x86, filter.Notify},
			{nr(i386, "getpid"), i386, filter.Notify}, // 20
			{nr(x86, "writev"), x86, filter.Allow},    // 20 on x86_64
			{nr(i386, "writev"), i386, filter.Allow},
			{nr(x86, "getpid") | sysnames.X32Bit, x86, filter.Notify},
			{nr(x86, "writev") | sysnames.X32Bit, x86, filter.Notify},
			{-1, x86, filter.Allow},
		}},
		{name: "trace all, allow read", trace: []string{"all"}, calls: []call{
			{nr(x86, "getpid"), x86, filter.Notify},
			{nr(i386, "getpid"), i386, filter.Notify},
			{nr(x86, "getpid") | sysnames.X32Bit, x86, filter.Notify},
		}},
		{name: "deny socketcall", deny: []string{"socketcall"}, calls: []call{
			{nr(i386, "socketcall"), i386, filter.Notify},
			{nr(i386, "socketcall"), x86, filter.Allow}, // 102 is getuid on x86_64
		}},
	} {
		r := parseX86(t, tc.trace, tc.deny)
		f, err := r.Filter()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		prog, err := f.Assemble()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, c := range tc.calls {
			if got := vmRun(t, prog, c.nr, c.arch); got != c.want {
				t.Errorf("%s: call %#x on %s: %v, want %v", tc.name, c.nr, sysnames.ArchName(c.arch), got, c.want)
			}
		}
	}
	// Allow rules under a trace default: not notified.
	r := &policy.Rules{Default: policy.Trace, Syscalls: map[string]policy.Action{"getpid": policy.Allow}}
	f, err := r.Filter()
	if err != nil {
		t.Fatal(err)
	}
	prog, _ := f.Assemble()
	if got := vmRun(t, prog, nr(i386, "getpid"), i386); got != filter.Allow {
		t.Errorf("allowed i386 getpid under a trace default: %v", got)
	}
	if got := vmRun(t, prog, nr(i386, "getppid"), i386); got != filter.Notify {
		t.Errorf("i386 getppid under a trace default: %v", got)
	}
}
