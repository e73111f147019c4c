package sysnames_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysnames"
)

func TestNativeMatchesUnix(t *testing.T) {
	native := sysnames.Native()
	if native == 0 {
		t.Fatalf("no table for GOARCH %s", runtime.GOARCH)
	}
	for _, tc := range []struct {
		name string
		nr   int
	}{
		{"openat", unix.SYS_OPENAT},
		{"getppid", unix.SYS_GETPPID},
		{"execve", unix.SYS_EXECVE},
		{"read", unix.SYS_READ},
		{"seccomp", unix.SYS_SECCOMP},
		{"pidfd_getfd", unix.SYS_PIDFD_GETFD},
		{"ioctl", unix.SYS_IOCTL},
	} {
		name, ok := sysnames.Name(native, int32(tc.nr))
		if !ok || name != tc.name {
			t.Errorf("Name(%s, %d) = %q, %v; want %q", sysnames.ArchName(native), tc.nr, name, ok, tc.name)
		}
		nr, ok := sysnames.Number(native, tc.name)
		if !ok || int(nr) != tc.nr {
			t.Errorf("Number(%s, %q) = %d, %v; want %d", sysnames.ArchName(native), tc.name, nr, ok, tc.nr)
		}
	}
}

func TestRoundTripAllArches(t *testing.T) {
	arches := sysnames.Arches()
	if len(arches) < 10 {
		t.Fatalf("only %d arches", len(arches))
	}
	for _, arch := range arches {
		names := sysnames.Names(arch)
		if len(names) < 300 {
			t.Errorf("%s: only %d calls", sysnames.ArchName(arch), len(names))
		}
		if !slices.IsSorted(names) {
			t.Errorf("%s: Names not sorted", sysnames.ArchName(arch))
		}
		for _, n := range names {
			nr, ok := sysnames.Number(arch, n)
			if !ok {
				t.Fatalf("%s: Number(%q) not found", sysnames.ArchName(arch), n)
			}
			back, ok := sysnames.Name(arch, nr)
			if !ok || back != n {
				t.Fatalf("%s: Name(%d) = %q, want %q", sysnames.ArchName(arch), nr, back, n)
			}
		}
		got, ok := sysnames.ArchByName(sysnames.ArchName(arch))
		if !ok || got != arch {
			t.Errorf("ArchByName(%q) = %#x, %v; want %#x", sysnames.ArchName(arch), got, ok, arch)
		}
	}
}

func TestKnownNumbers(t *testing.T) {
	for _, tc := range []struct {
		arch uint32
		name string
		nr   int32
	}{
		{unix.AUDIT_ARCH_X86_64, "openat", 257},
		{unix.AUDIT_ARCH_X86_64, "read", 0},
		{unix.AUDIT_ARCH_I386, "socketcall", 102},
		{unix.AUDIT_ARCH_I386, "getpid", 20},
		{unix.AUDIT_ARCH_AARCH64, "openat", 56},
		{unix.AUDIT_ARCH_ARM, "arm_fadvise64_64", 270},
		{unix.AUDIT_ARCH_MIPS, "read", 4003},
		{unix.AUDIT_ARCH_MIPSEL64, "read", 5000},
		{unix.AUDIT_ARCH_RISCV64, "openat", 56},
		{unix.AUDIT_ARCH_S390X, "getpid", 20},
		{unix.AUDIT_ARCH_PPC64LE, "getpid", 20},
		{unix.AUDIT_ARCH_LOONGARCH64, "openat", 56},
	} {
		got, ok := sysnames.Name(tc.arch, tc.nr)
		if !ok || got != tc.name {
			t.Errorf("Name(%s, %d) = %q, %v; want %q", sysnames.ArchName(tc.arch), tc.nr, got, ok, tc.name)
		}
	}
}

func TestUnknown(t *testing.T) {
	for _, tc := range []struct {
		arch uint32
		nr   int32
	}{
		{unix.AUDIT_ARCH_X86_64, -1},
		{unix.AUDIT_ARCH_X86_64, 100000},
		{unix.AUDIT_ARCH_X86_64, 400}, // hole in the x86_64 table
		{unix.AUDIT_ARCH_MIPS, 3},     // below the o32 base
		{unix.AUDIT_ARCH_PARISC, 3},   // no table
		{unix.AUDIT_ARCH_X86_64, -0x80000000},
	} {
		if got, ok := sysnames.Name(tc.arch, tc.nr); ok || got != "" {
			t.Errorf("Name(%#x, %d) = %q, %v; want \"\", false", tc.arch, tc.nr, got, ok)
		}
	}
	if _, ok := sysnames.Number(unix.AUDIT_ARCH_X86_64, "opne"); ok {
		t.Error("Number found opne")
	}
	if _, ok := sysnames.Number(unix.AUDIT_ARCH_AARCH64, "open"); ok {
		t.Error("aarch64 has no open")
	}
	if got := sysnames.ArchName(0x1234); got != "arch_0x1234" {
		t.Errorf("ArchName(0x1234) = %q", got)
	}
	if sysnames.Names(0x1234) != nil {
		t.Error("Names of an unknown arch not nil")
	}
}

func TestX32(t *testing.T) {
	got, ok := sysnames.Name(unix.AUDIT_ARCH_X86_64, sysnames.X32Bit|257)
	if !ok || got != "openat"+sysnames.X32Suffix {
		t.Errorf("x32 openat: %q, %v", got, ok)
	}
	if _, ok := sysnames.Name(unix.AUDIT_ARCH_I386, sysnames.X32Bit|3); ok {
		t.Error("x32 bit resolved on i386")
	}
	if _, ok := sysnames.ArchByName("SCMP_ARCH_X32"); ok {
		t.Error("ArchByName accepted x32")
	}
	// x32's own numbers (512-547), and the x86_64 numbers it replaces.
	for nr, want := range map[int32]string{512: "rt_sigaction", 520: "execve", 547: "pwritev2"} {
		if got, ok := sysnames.Name(unix.AUDIT_ARCH_X86_64, sysnames.X32Bit|nr); !ok || got != want+sysnames.X32Suffix {
			t.Errorf("x32 %d: %q, %v; want %s", nr, got, ok, want)
		}
	}
	for _, nr := range []int32{13, 59, 322} { // x86_64's rt_sigaction, execve, execveat
		if got, ok := sysnames.Name(unix.AUDIT_ARCH_X86_64, sysnames.X32Bit|nr); ok {
			t.Errorf("x32 %d has a name (%q): the kernel refuses it for x32", nr, got)
		}
	}
	if _, ok := sysnames.Name(unix.AUDIT_ARCH_X86_64, 520); ok {
		t.Error("520 without the x32 bit has a name")
	}
}

func TestArchBits(t *testing.T) {
	for _, tc := range []struct {
		arch     uint32
		is64, le bool
	}{
		{unix.AUDIT_ARCH_X86_64, true, true},
		{unix.AUDIT_ARCH_I386, false, true},
		{unix.AUDIT_ARCH_S390X, true, false},
		{unix.AUDIT_ARCH_PPC, false, false},
		{unix.AUDIT_ARCH_MIPSEL, false, true},
	} {
		if sysnames.Is64(tc.arch) != tc.is64 || sysnames.IsLE(tc.arch) != tc.le {
			t.Errorf("%s: Is64 %v, IsLE %v", sysnames.ArchName(tc.arch), sysnames.Is64(tc.arch), sysnames.IsLE(tc.arch))
		}
	}
	for _, tc := range []struct {
		arch uint32
		nr   int32
		x32  bool
	}{
		{unix.AUDIT_ARCH_X86_64, sysnames.X32Bit | 514, true},
		{unix.AUDIT_ARCH_X86_64, sysnames.X32Bit | 59, true}, // refused by the kernel, still x32 code's
		{unix.AUDIT_ARCH_X86_64, 16, false},
		{unix.AUDIT_ARCH_X86_64, -1, false},
		{unix.AUDIT_ARCH_AARCH64, sysnames.X32Bit | 29, false},
	} {
		if got := sysnames.IsX32(tc.arch, tc.nr); got != tc.x32 {
			t.Errorf("IsX32(%s, %#x) = %v, want %v", sysnames.ArchName(tc.arch), tc.nr, got, tc.x32)
		}
	}
}

func TestArchByName(t *testing.T) {
	for name, want := range map[string]uint32{
		"x86_64":                unix.AUDIT_ARCH_X86_64,
		"SCMP_ARCH_X86_64":      unix.AUDIT_ARCH_X86_64,
		"amd64":                 unix.AUDIT_ARCH_X86_64,
		"x86":                   unix.AUDIT_ARCH_I386,
		"i386":                  unix.AUDIT_ARCH_I386,
		"SCMP_ARCH_X86":         unix.AUDIT_ARCH_I386,
		"386":                   unix.AUDIT_ARCH_I386,
		"aarch64":               unix.AUDIT_ARCH_AARCH64,
		"arm64":                 unix.AUDIT_ARCH_AARCH64,
		"SCMP_ARCH_AARCH64":     unix.AUDIT_ARCH_AARCH64,
		"SCMP_ARCH_ARM":         unix.AUDIT_ARCH_ARM,
		"SCMP_ARCH_MIPSEL64":    unix.AUDIT_ARCH_MIPSEL64,
		"SCMP_ARCH_PPC64LE":     unix.AUDIT_ARCH_PPC64LE,
		"SCMP_ARCH_S390X":       unix.AUDIT_ARCH_S390X,
		"SCMP_ARCH_RISCV64":     unix.AUDIT_ARCH_RISCV64,
		"SCMP_ARCH_LOONGARCH64": unix.AUDIT_ARCH_LOONGARCH64,
		"loongarch64":           unix.AUDIT_ARCH_LOONGARCH64,
	} {
		got, ok := sysnames.ArchByName(name)
		if !ok || got != want {
			t.Errorf("ArchByName(%q) = %#x, %v; want %#x", name, got, ok, want)
		}
	}
	for _, name := range []string{"", "x32", "SCMP_ARCH_MIPS64N32", "vax"} {
		if got, ok := sysnames.ArchByName(name); ok {
			t.Errorf("ArchByName(%q) = %#x, true", name, got)
		}
	}
}

func TestNameDoesNotAllocate(t *testing.T) {
	native := sysnames.Native()
	n := testing.AllocsPerRun(100, func() {
		sysnames.Name(native, unix.SYS_OPENAT)
		sysnames.Name(unix.AUDIT_ARCH_X86_64, sysnames.X32Bit|1)
		sysnames.Name(0x1234, 1)
	})
	if n != 0 {
		t.Errorf("Name allocates %v times", n)
	}
}

func BenchmarkName(b *testing.B) {
	native := sysnames.Native()
	for b.Loop() {
		sysnames.Name(native, unix.SYS_OPENAT)
	}
}

func ExampleName() {
	name, _ := sysnames.Name(unix.AUDIT_ARCH_X86_64, 257)
	fmt.Println(name, sysnames.ArchName(unix.AUDIT_ARCH_X86_64))
	// Output: openat x86_64
}
