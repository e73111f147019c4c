package filter_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// data is struct seccomp_data, as the kernel fills it in.
type data = sectest.Data

// vm runs a program in x/net/bpf's VM (sectest.VM).
type vm struct{ *sectest.VM }

func newVM(t testing.TB, prog []bpf.RawInstruction, le bool) *vm {
	t.Helper()
	return &vm{sectest.NewVM(t, prog, le)}
}

func (m *vm) run(t testing.TB, d data) filter.Action {
	t.Helper()
	return filter.Action(m.Run(t, d))
}

func assemble(t testing.TB, f *filter.Filter) []bpf.RawInstruction {
	t.Helper()
	prog, err := f.Assemble()
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	return prog
}

var nr = sectest.Number

const x86 = unix.AUDIT_ARCH_X86_64

func newX86(t testing.TB, def filter.Action) *filter.Filter {
	t.Helper()
	f, err := filter.NewForArch(def, x86)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestActions(t *testing.T) {
	for _, tc := range []struct {
		a    filter.Action
		ret  uint32
		name string
	}{
		{filter.Allow, unix.SECCOMP_RET_ALLOW, "allow"},
		{filter.Notify, unix.SECCOMP_RET_USER_NOTIF, "notify"},
		{filter.Log, unix.SECCOMP_RET_LOG, "log"},
		{filter.Trap, unix.SECCOMP_RET_TRAP, "trap"},
		{filter.KillThread, unix.SECCOMP_RET_KILL_THREAD, "kill_thread"},
		{filter.KillProcess, unix.SECCOMP_RET_KILL_PROCESS, "kill_process"},
		{filter.Errno(unix.EPERM), unix.SECCOMP_RET_ERRNO | 1, "errno(EPERM)"},
		{filter.Errno(4095), unix.SECCOMP_RET_ERRNO | 4095, "errno(4095)"},
		{filter.Errno(0), unix.SECCOMP_RET_ERRNO, "errno(0)"},
		{filter.Trace(7), unix.SECCOMP_RET_TRACE | 7, "trace(7)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if uint32(tc.a) != tc.ret {
				t.Errorf("value %#x, want %#x", uint32(tc.a), tc.ret)
			}
			if tc.a.String() != tc.name {
				t.Errorf("String() = %q", tc.a.String())
			}
			// As default action, rule action and mismatch action.
			other := filter.Errno(unix.EXDEV)
			if tc.a == other {
				other = filter.Allow
			}
			f := newX86(t, tc.a)
			if err := f.Add(other, "getpid"); err != nil {
				t.Fatal(err)
			}
			m := newVM(t, assemble(t, f), true)
			if got := m.run(t, data{Nr: 0, Arch: x86}); got != tc.a {
				t.Errorf("default: got %v", got)
			}
			f = newX86(t, other)
			if err := f.Add(tc.a, "getpid"); err != nil {
				t.Fatal(err)
			}
			if err := f.SetMismatchAction(tc.a); err != nil {
				t.Fatal(err)
			}
			m = newVM(t, assemble(t, f), true)
			if got := m.run(t, data{Nr: nr(t, x86, "getpid"), Arch: x86}); got != tc.a {
				t.Errorf("rule: got %v", got)
			}
			if got := m.run(t, data{Nr: 0, Arch: x86}); got != other {
				t.Errorf("other call: got %v, want %v", got, other)
			}
			if got := m.run(t, data{Nr: nr(t, x86, "getpid"), Arch: unix.AUDIT_ARCH_AARCH64}); got != tc.a {
				t.Errorf("mismatch: got %v", got)
			}
		})
	}
}

func TestInvalidActions(t *testing.T) {
	f := newX86(t, filter.Allow)
	for _, a := range []filter.Action{filter.Errno(4096), filter.Errno(70000), filter.Action(0x12345678), filter.Allow | 1} {
		if err := f.Add(a, "read"); err == nil {
			t.Errorf("Add(%v) accepted", a)
		}
		if err := f.SetMismatchAction(a); err == nil {
			t.Errorf("SetMismatchAction(%v) accepted", a)
		}
	}
	if _, err := newX86(t, filter.Errno(5000)).Assemble(); err == nil {
		t.Error("Assemble accepted default errno 5000")
	}
}

func TestArchCheck(t *testing.T) {
	f := newX86(t, filter.Allow)
	if err := f.Add(filter.Errno(unix.EXDEV), "getpid"); err != nil {
		t.Fatal(err)
	}
	m := newVM(t, assemble(t, f), true)
	getpid := nr(t, x86, "getpid")
	for _, tc := range []struct {
		name string
		d    data
		want filter.Action
	}{
		{"native", data{Nr: getpid, Arch: x86}, filter.Errno(unix.EXDEV)},
		{"native other", data{Nr: 0, Arch: x86}, filter.Allow},
		{"i386", data{Nr: 20, Arch: unix.AUDIT_ARCH_I386}, filter.KillProcess},
		{"aarch64", data{Nr: getpid, Arch: unix.AUDIT_ARCH_AARCH64}, filter.KillProcess},
		{"zero arch", data{Nr: getpid, Arch: 0}, filter.KillProcess},
		{"x32 getpid", data{Nr: sysnames.X32Bit | getpid, Arch: x86}, filter.KillProcess},
		{"x32 read", data{Nr: sysnames.X32Bit, Arch: x86}, filter.KillProcess},
		{"x32 rt_sigaction", data{Nr: sysnames.X32Bit | 512, Arch: x86}, filter.KillProcess},
		{"nr 0x7fffffff", data{Nr: 0x7fffffff, Arch: x86}, filter.KillProcess},
		{"nr -2", data{Nr: -2, Arch: x86}, filter.KillProcess},
		{"nr -1", data{Nr: -1, Arch: x86}, filter.Allow},
		{"nr 0x3fffffff", data{Nr: 0x3fffffff, Arch: x86}, filter.Allow},
	} {
		if got := m.run(t, tc.d); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}

	// An extra arch with its own numbering: i386 getpid is 20, x86_64's 20
	// is writev.
	if err := f.AddArch(unix.AUDIT_ARCH_I386); err != nil {
		t.Fatal(err)
	}
	if err := f.Add(filter.Errno(unix.EIO), "writev", "socketcall"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetMismatchAction(filter.Errno(unix.ENOSYS)); err != nil {
		t.Fatal(err)
	}
	m = newVM(t, assemble(t, f), true)
	for _, tc := range []struct {
		name string
		d    data
		want filter.Action
	}{
		{"i386 getpid", data{Nr: 20, Arch: unix.AUDIT_ARCH_I386}, filter.Errno(unix.EXDEV)},
		{"i386 writev", data{Nr: nr(t, unix.AUDIT_ARCH_I386, "writev"), Arch: unix.AUDIT_ARCH_I386}, filter.Errno(unix.EIO)},
		{"i386 socketcall", data{Nr: 102, Arch: unix.AUDIT_ARCH_I386}, filter.Errno(unix.EIO)},
		{"x86_64 20", data{Nr: 20, Arch: x86}, filter.Errno(unix.EIO)},
		{"x86_64 102 (getuid)", data{Nr: 102, Arch: x86}, filter.Allow},
		{"i386 with x32 bit", data{Nr: sysnames.X32Bit | 20, Arch: unix.AUDIT_ARCH_I386}, filter.Allow},
		{"x32", data{Nr: sysnames.X32Bit | 20, Arch: x86}, filter.Errno(unix.ENOSYS)},
		{"arm", data{Nr: 20, Arch: unix.AUDIT_ARCH_ARM}, filter.Errno(unix.ENOSYS)},
	} {
		if got := m.run(t, tc.d); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := f.Arches(); !slices.Equal(got, []uint32{x86, unix.AUDIT_ARCH_I386}) {
		t.Errorf("Arches() = %#x", got)
	}
}

func TestAddErrors(t *testing.T) {
	f := newX86(t, filter.Allow)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"unknown", f.Add(filter.Allow, "read", "opne"), `filter: unknown syscall "opne" for x86_64`},
		{"other arch", f.Add(filter.Allow, "socketcall"), `filter: syscall "socketcall" does not exist on x86_64`},
		{"arg index", f.AddIf(filter.Allow, "read", filter.Arg(6).Eq(1)), "filter: argument index 6 out of range (0..5) in arg6 == 0x1 (rule for read)"},
		{"negative arg index", f.AddIf(filter.Allow, "read", filter.Arg(-1).Eq(1)), "filter: argument index -1 out of range (0..5) in arg-1 == 0x1 (rule for read)"},
		{"zero cond", f.AddIf(filter.Allow, "read", filter.Cond{}), "filter: invalid condition arg0 ?(0) 0x0 (use Arg(i).Eq and friends) (rule for read)"},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%s: error %q, want %q", tc.name, got, tc.want)
		}
	}
	// "read" must not have been added by the failed Add.
	if err := f.Add(filter.Errno(1), "read"); err != nil {
		t.Errorf("read half-added by a failed Add: %v", err)
	}
	if err := f.Add(filter.Errno(1), "read"); err != nil {
		t.Errorf("same unconditional rule twice: %v", err)
	}
	err := f.Add(filter.Notify, "read")
	if err == nil || err.Error() != "filter: read already has the unconditional action errno(EPERM), cannot add notify" {
		t.Errorf("conflicting unconditional rules: %v", err)
	}
	if err := f.AddIf(filter.Notify, "read", filter.Arg(0).Eq(3)); err != nil {
		t.Errorf("conditional rule beside an unconditional one: %v", err)
	}
}

// TestUmask is the example of the issue: two conditional rules with
// different actions on one call.
func TestUmask(t *testing.T) {
	f := newX86(t, filter.Allow)
	if err := f.AddIf(filter.Errno(unix.EPERM), "umask", filter.Arg(0).Eq(0)); err != nil {
		t.Fatal(err)
	}
	if err := f.AddIf(filter.Notify, "umask", filter.Arg(0).Ne(0)); err != nil {
		t.Fatal(err)
	}
	if !f.HasNotify() {
		t.Error("HasNotify() = false")
	}
	m := newVM(t, assemble(t, f), true)
	umask := nr(t, x86, "umask")
	for _, tc := range []struct {
		arg  uint64
		want filter.Action
	}{
		{0, filter.Errno(unix.EPERM)},
		{0o22, filter.Notify},
		{1 << 32, filter.Notify},
	} {
		if got := m.run(t, data{Nr: umask, Arch: x86, Args: [6]uint64{tc.arg}}); got != tc.want {
			t.Errorf("umask(%#o): got %v, want %v", tc.arg, got, tc.want)
		}
	}
}

// TestPrecedence checks the documented order: conditional rules by action
// strength, then the unconditional rule, then the default.
func TestPrecedence(t *testing.T) {
	f := newX86(t, filter.Errno(unix.ENOSYS))
	read := nr(t, x86, "read")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.Add(filter.Allow, "read"))
	must(f.AddIf(filter.Log, "read", filter.Arg(0).Gt(10)))
	must(f.AddIf(filter.Notify, "read", filter.Arg(0).Gt(20)))
	must(f.AddIf(filter.Errno(unix.EIO), "read", filter.Arg(0).Gt(30)))
	must(f.AddIf(filter.Errno(unix.EXDEV), "read", filter.Arg(0).Gt(30)))
	must(f.AddIf(filter.KillProcess, "read", filter.Arg(0).Eq(99)))
	must(f.AddIf(filter.Allow, "read", filter.Arg(0).Eq(99)))
	m := newVM(t, assemble(t, f), true)
	for _, tc := range []struct {
		fd   uint64
		want filter.Action
	}{
		{0, filter.Allow},
		{11, filter.Log},
		{21, filter.Notify},
		{31, filter.Errno(unix.EIO)}, // both Errno rules match: the first added wins
		{99, filter.KillProcess},
	} {
		if got := m.run(t, data{Nr: read, Arch: x86, Args: [6]uint64{tc.fd}}); got != tc.want {
			t.Errorf("read(%d): got %v, want %v", tc.fd, got, tc.want)
		}
	}
	if got := m.run(t, data{Nr: 1, Arch: x86}); got != filter.Errno(unix.ENOSYS) {
		t.Errorf("write: got %v, want the default", got)
	}
}

var edges = []uint64{
	0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
	0x100000000, 0x100000001, 0x1ffffffff, 0x7fffffffffffffff,
	0x8000000000000000, 0xffffffff00000000, 0xfffffffffffffffe, 0xffffffffffffffff,
}

type opCase struct {
	name string
	cond func(i int, v uint64) filter.Cond
	eval func(a, v uint64) bool
}

var ops = []opCase{
	{"Eq", func(i int, v uint64) filter.Cond { return filter.Arg(i).Eq(v) }, func(a, v uint64) bool { return a == v }},
	{"Ne", func(i int, v uint64) filter.Cond { return filter.Arg(i).Ne(v) }, func(a, v uint64) bool { return a != v }},
	{"Lt", func(i int, v uint64) filter.Cond { return filter.Arg(i).Lt(v) }, func(a, v uint64) bool { return a < v }},
	{"Le", func(i int, v uint64) filter.Cond { return filter.Arg(i).Le(v) }, func(a, v uint64) bool { return a <= v }},
	{"Gt", func(i int, v uint64) filter.Cond { return filter.Arg(i).Gt(v) }, func(a, v uint64) bool { return a > v }},
	{"Ge", func(i int, v uint64) filter.Cond { return filter.Arg(i).Ge(v) }, func(a, v uint64) bool { return a >= v }},
}

// TestConditions checks every operator at the 32/64-bit edges, on a
// little-endian 64-bit ABI (x86_64), a big-endian one (s390x) and a 32-bit
// ABI beside a 64-bit one (i386 on x86_64), for every argument index.
func TestConditions(t *testing.T) {
	abis := []struct {
		name   string
		native uint32
		arch   uint32 // the ABI of the calls
		wide   bool
	}{
		{"x86_64", x86, x86, true},
		{"s390x", unix.AUDIT_ARCH_S390X, unix.AUDIT_ARCH_S390X, true},
		{"i386 on x86_64", x86, unix.AUDIT_ARCH_I386, false},
		{"ppc (big-endian 32-bit)", unix.AUDIT_ARCH_PPC, unix.AUDIT_ARCH_PPC, false},
	}
	yes, no := filter.Errno(unix.EXDEV), filter.Allow
	for _, abi := range abis {
		t.Run(abi.name, func(t *testing.T) {
			build := func(c filter.Cond) *vm {
				f, err := filter.NewForArch(no, abi.native)
				if err != nil {
					t.Fatal(err)
				}
				if abi.arch != abi.native {
					if err := f.AddArch(abi.arch); err != nil {
						t.Fatal(err)
					}
				}
				if err := f.AddIf(yes, "getpid", c); err != nil {
					t.Fatal(err)
				}
				return newVM(t, assemble(t, f), abi.native&0x40000000 != 0)
			}
			getpid := nr(t, abi.arch, "getpid")
			trunc := func(v uint64) uint64 {
				if abi.wide {
					return v
				}
				return v & 0xffffffff
			}
			i := 0
			for _, op := range ops {
				for _, v := range edges {
					i++
					idx := i % 6
					m := build(op.cond(idx, v))
					for _, a := range edges {
						var d data
						d.Nr, d.Arch = getpid, abi.arch
						for j := range d.Args {
							d.Args[j] = ^a // other arguments must not matter
						}
						d.Args[idx] = a
						want := no
						if op.eval(trunc(a), trunc(v)) {
							want = yes
						}
						if got := m.run(t, d); got != want {
							t.Errorf("arg%d=%#x %s %#x: got %v, want %v", idx, a, op.name, v, got, want)
						}
					}
				}
			}
			for _, mask := range edges {
				for _, v := range edges {
					i++
					idx := i % 6
					m := build(filter.Arg(idx).MaskedEq(mask, v))
					for _, a := range edges {
						var d data
						d.Nr, d.Arch = getpid, abi.arch
						d.Args[idx] = a
						want := no
						if trunc(a)&trunc(mask) == trunc(v) {
							want = yes
						}
						if got := m.run(t, d); got != want {
							t.Errorf("arg%d=%#x & %#x == %#x: got %v, want %v", idx, a, mask, v, got, want)
						}
					}
				}
			}
		})
	}
}

// TestAllSyscalls gives every x86_64 call a rule, with actions alternating
// so that no two neighbours share one, and checks size and decisions.
func TestAllSyscalls(t *testing.T) {
	acts := []filter.Action{filter.Errno(unix.EPERM), filter.Notify, filter.Log, filter.Trap, filter.KillThread, filter.Errno(unix.EIO)}
	f := newX86(t, filter.Allow)
	names := sysnames.Names(x86)
	want := map[int32]filter.Action{}
	for _, name := range names {
		n := nr(t, x86, name)
		a := acts[int(n)%len(acts)]
		if err := f.Add(a, name); err != nil {
			t.Fatal(err)
		}
		want[n] = a
	}
	prog := assemble(t, f)
	t.Logf("%d calls, %d instructions", len(names), len(prog))
	if len(prog) > 2000 {
		t.Errorf("%d instructions for %d calls", len(prog), len(names))
	}
	m := newVM(t, prog, true)
	for n := int32(-2); n < 1000; n++ {
		w, ok := want[n]
		if !ok {
			w = filter.Allow
		}
		if n == -2 {
			w = filter.KillProcess
		}
		if got := m.run(t, data{Nr: n, Arch: x86}); got != w {
			t.Errorf("nr %d: got %v, want %v", n, got, w)
		}
	}
}

// TestEveryArchFits gives every call of every arch a distinct conditional
// rule (the largest program per call) and checks that the kernel's limit
// holds with room to spare.
func TestEveryArchFits(t *testing.T) {
	for _, arch := range sysnames.Arches() {
		f, err := filter.NewForArch(filter.Allow, arch)
		if err != nil {
			t.Fatal(err)
		}
		names := sysnames.Names(arch)
		for i, name := range names {
			if err := f.AddIf(filter.Errno(unix.EPERM), name, filter.Arg(i%6).Eq(uint64(i)<<32|uint64(i))); err != nil {
				t.Fatal(err)
			}
		}
		prog := assemble(t, f)
		t.Logf("%s: %d calls, %d instructions", sysnames.ArchName(arch), len(names), len(prog))
		if len(prog) > 3500 {
			t.Errorf("%s: %d instructions", sysnames.ArchName(arch), len(prog))
		}
	}
}

// TestFarJumps builds a program long enough that conditional jumps need
// trampolines, with conditional rules on many calls.
func TestFarJumps(t *testing.T) {
	f := newX86(t, filter.Allow)
	names := sysnames.Names(x86)[:120]
	for i, name := range names {
		if err := f.AddIf(filter.Errno(unix.EPERM), name, filter.Arg(0).Eq(uint64(i)), filter.Arg(1).Gt(1<<40)); err != nil {
			t.Fatal(err)
		}
		if err := f.AddIf(filter.Notify, name, filter.Arg(2).MaskedEq(0xff00000000, uint64(i+1)<<32)); err != nil {
			t.Fatal(err)
		}
	}
	prog := assemble(t, f)
	t.Logf("%d instructions", len(prog))
	jas := 0
	for _, ins := range prog {
		if ins.Op == unix.BPF_JMP|unix.BPF_JA {
			jas++
		}
	}
	t.Logf("%d unconditional jumps for far targets", jas)
	if jas == 0 {
		t.Fatalf("no far jumps in %d instructions", len(prog))
	}
	m := newVM(t, prog, true)
	for i, name := range names {
		n := nr(t, x86, name)
		for _, tc := range []struct {
			args [6]uint64
			want filter.Action
		}{
			{[6]uint64{uint64(i), 1<<40 + 1}, filter.Errno(unix.EPERM)},
			{[6]uint64{uint64(i), 1 << 40}, filter.Allow},
			{[6]uint64{uint64(i) + 1, 1<<40 + 1, uint64(i+1) << 32}, filter.Notify},
			{[6]uint64{uint64(i), 1<<40 + 1, uint64(i+1) << 32}, filter.Errno(unix.EPERM)},
		} {
			if got := m.run(t, data{Nr: n, Arch: x86, Args: tc.args}); got != tc.want {
				t.Errorf("%s%v: got %v, want %v", name, tc.args, got, tc.want)
			}
		}
	}
}

// TestSharedBlocks gives many calls, neighbours and not, the same
// conditional rules, which share their code.
func TestSharedBlocks(t *testing.T) {
	f := newX86(t, filter.Allow)
	names := sysnames.Names(x86)
	cond := filter.Arg(1).Ge(1 << 33)
	want := map[int32]filter.Action{}
	for i, name := range names {
		a := filter.Errno(unix.EPERM)
		if i%3 == 0 {
			a = filter.Notify
		}
		if err := f.AddIf(a, name, cond); err != nil {
			t.Fatal(err)
		}
		want[nr(t, x86, name)] = a
	}
	prog := assemble(t, f)
	t.Logf("%d calls, 2 distinct rules: %d instructions", len(names), len(prog))
	if len(prog) > 1200 {
		t.Errorf("%d instructions: blocks not shared", len(prog))
	}
	m := newVM(t, prog, true)
	for n := int32(0); n < 600; n++ {
		for _, arg := range []uint64{1<<33 - 1, 1 << 33} {
			w, ok := want[n]
			if !ok || arg < 1<<33 {
				w = filter.Allow
			}
			if got := m.run(t, data{Nr: n, Arch: x86, Args: [6]uint64{0, arg}}); got != w {
				t.Errorf("nr %d arg1 %#x: got %v, want %v", n, arg, got, w)
			}
		}
	}
}

func TestMarshalBinary(t *testing.T) {
	f := newX86(t, filter.Allow)
	if err := f.Add(filter.Notify, "openat"); err != nil {
		t.Fatal(err)
	}
	prog := assemble(t, f)
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8*len(prog) {
		t.Fatalf("%d bytes for %d instructions", len(b), len(prog))
	}
	for i, ins := range prog {
		c := b[8*i:]
		if binary.LittleEndian.Uint16(c) != ins.Op || c[2] != ins.Jt || c[3] != ins.Jf || binary.LittleEndian.Uint32(c[4:]) != ins.K {
			t.Fatalf("instruction %d: % x, want %v", i, c[:8], ins)
		}
	}
	// Round trip on this machine, with a filter for its own ABI.
	nf := filter.New(filter.Allow)
	if err := nf.Add(filter.Notify, "openat"); err != nil {
		t.Fatal(err)
	}
	nb, err := nf.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := filter.UnmarshalProgram(nb)
	if err != nil || !slices.Equal(back, assemble(t, nf)) {
		t.Errorf("UnmarshalProgram: %v, equal %v", err, slices.Equal(back, assemble(t, nf)))
	}
	for _, bad := range [][]byte{nil, b[:7], make([]byte, 8*4097)} {
		if _, err := filter.UnmarshalProgram(bad); err == nil {
			t.Errorf("UnmarshalProgram accepted %d bytes", len(bad))
		}
	}
	// Big-endian ABI: big-endian bytes.
	g, err := filter.NewForArch(filter.Allow, unix.AUDIT_ARCH_S390X)
	if err != nil {
		t.Fatal(err)
	}
	b, err = g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if op := binary.BigEndian.Uint16(b); op != unix.BPF_LD|unix.BPF_W|unix.BPF_ABS {
		t.Errorf("first op %#x", op)
	}
	if k := binary.BigEndian.Uint32(b[4:]); k != 4 {
		t.Errorf("first k %d, want 4 (seccomp_data.arch)", k)
	}
}

func ExampleFilter_AddIf() {
	f := filter.New(filter.Allow)
	// umask(0) fails; any other umask goes to the supervisor.
	_ = f.AddIf(filter.Errno(unix.EPERM), "umask", filter.Arg(0).Eq(0))
	_ = f.AddIf(filter.Notify, "umask", filter.Arg(0).Ne(0))
	prog, err := f.Assemble()
	fmt.Println(len(prog) > 0, err, f.HasNotify())
	// Output: true <nil> true
}
