// Package sysnames maps Linux system call numbers to names and back, for
// every architecture that golang.org/x/sys/unix has a table for, keyed by
// AUDIT_ARCH_* value (the value the kernel reports in seccomp_data.arch).
//
// The tables live in zsysnames.go, generated from x/sys by
// internal/cmd/gensysnames. Names are x/sys's SYS_* names in lower case,
// which are the kernel's (and libseccomp's) names: "openat", "newfstatat",
// "arm_fadvise64_64".
//
// x32 (the ILP32 ABI on x86_64) reports AUDIT_ARCH_X86_64 with bit
// 0x40000000 set in the call number. x/sys has no x32 table, so the
// generator derives one from the x86_64 table and the kernel's list of
// x32-only numbers (512-547, e.g. x32's execve is 520): Name gives a number
// with the x32 bit the name of its call plus the suffix " (x32)", and no
// name to the x86_64 numbers the kernel refuses for x32 (59, x86_64's
// execve). Number does not resolve x32 names.
package sysnames

import (
	"fmt"
	"runtime"
	"slices"
	"sort"

	"golang.org/x/sys/unix"
)

//go:generate go run ../cmd/gensysnames

// X32Bit is the bit the x32 ABI sets in system call numbers (__X32_SYSCALL_BIT).
const X32Bit = 0x40000000

// IsX32 reports whether call nr of the ABI arch was made by x32 code:
// x86_64's arch with X32Bit in the number (-1, no call at all, is not).
// x32 has no AUDIT_ARCH of its own.
func IsX32(arch uint32, nr int32) bool {
	return arch == unix.AUDIT_ARCH_X86_64 && nr != -1 && nr&X32Bit != 0
}

// Bits of AUDIT_ARCH_* values (linux/audit.h): the one definition the root
// package and the filter builder use.
const (
	// Arch64Bit marks an ABI with 64-bit registers (__AUDIT_ARCH_64BIT).
	Arch64Bit = 0x80000000
	// ArchLE marks a little-endian ABI (__AUDIT_ARCH_LE).
	ArchLE = 0x40000000
)

// Is64 reports whether arch is a 64-bit ABI (x32 counts as one: it reports
// AUDIT_ARCH_X86_64).
func Is64(arch uint32) bool { return arch&Arch64Bit != 0 }

// IsLE reports whether arch is little-endian.
func IsLE(arch uint32) bool { return arch&ArchLE != 0 }

// X32Suffix is appended to the names of x32 calls by Name.
const X32Suffix = " (x32)"

// table is one architecture's system call table.
type table struct {
	arch   uint32
	name   string   // ArchName
	scmp   string   // libseccomp's SCMP_ARCH_* name
	base   int32    // number of names[0]
	names  []string // indexed by number-base; "" for holes
	byName []entry  // sorted by name
	x32    []string // amd64 only: names for x32 calls, indexed like names
}

type entry struct {
	name string
	nr   int32
}

// Name returns the name of call nr on arch ("openat", true), or "", false
// if the table of arch has no such number. It does not allocate.
func Name(arch uint32, nr int32) (string, bool) {
	t := lookup(arch)
	if t == nil {
		return "", false
	}
	names := t.names
	if t.x32 != nil && nr&X32Bit != 0 {
		names = t.x32
		nr &^= X32Bit
	}
	i := int64(nr) - int64(t.base)
	if i < 0 || i >= int64(len(names)) || names[i] == "" {
		return "", false
	}
	return names[i], true
}

// Number returns the number of the call named name on arch.
func Number(arch uint32, name string) (int32, bool) {
	t := lookup(arch)
	if t == nil {
		return 0, false
	}
	i := sort.Search(len(t.byName), func(i int) bool { return t.byName[i].name >= name })
	if i < len(t.byName) && t.byName[i].name == name {
		return t.byName[i].nr, true
	}
	return 0, false
}

// Names returns the names of all calls on arch, sorted. It returns nil for an
// unknown arch.
func Names(arch uint32) []string {
	t := lookup(arch)
	if t == nil {
		return nil
	}
	names := make([]string, len(t.byName))
	for i, e := range t.byName {
		names[i] = e.name
	}
	return names
}

// Arches returns the AUDIT_ARCH values that have a table.
func Arches() []uint32 {
	a := make([]uint32, len(tables))
	for i, t := range tables {
		a[i] = t.arch
	}
	return a
}

// ArchName returns the name of arch ("x86_64", "i386", "aarch64", ...), or
// "arch_0x%x" for an arch without a table.
func ArchName(arch uint32) string {
	if t := lookup(arch); t != nil {
		return t.name
	}
	return fmt.Sprintf("arch_0x%x", arch)
}

// ArchByName returns the AUDIT_ARCH value of an architecture named as
// ArchName does ("x86_64"), as libseccomp does ("x86", "mipsel64"), as
// Go does ("amd64", "386") or as the OCI runtime spec does
// ("SCMP_ARCH_X86_64"). x32 ("x32", "SCMP_ARCH_X32") is not an arch of its
// own (it shares AUDIT_ARCH_X86_64) and is not accepted.
func ArchByName(name string) (uint32, bool) {
	for _, t := range tables {
		if name == t.name || name == t.scmp {
			return t.arch, true
		}
	}
	if a := nativeArch(name); a != 0 {
		return a, true
	}
	if name == "x86" { // libseccomp's name for i386
		return unix.AUDIT_ARCH_I386, true
	}
	return 0, false
}

// Native returns the AUDIT_ARCH of the running program's system call ABI
// (from runtime.GOARCH), or 0 if there is no table for it.
func Native() uint32 {
	return nativeArch(runtime.GOARCH)
}

// Known reports whether arch has a table.
func Known(arch uint32) bool {
	return lookup(arch) != nil
}

// KnownName reports whether the table of any architecture has a call
// named name.
func KnownName(name string) bool {
	for _, t := range tables {
		if _, ok := Number(t.arch, name); ok {
			return true
		}
	}
	return false
}

// ociArches lists every architecture name the OCI runtime spec defines
// (runtime-spec's specs.Arch constants, which are libseccomp's SCMP_ARCH_*
// names), in the spec's order. It is spelled out here, rather than taken
// from runtime-spec, so that the packages that import sysnames do not
// compile runtime-spec; a test holds it to the spec's list.
var ociArches = []string{
	"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
	"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
	"SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
	"SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
	"SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",
	"SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
}

// OCIArches returns the architecture names the OCI runtime spec defines
// ("SCMP_ARCH_X86_64", ...), in the spec's order, whether or not there is
// a table for them here (SCMP_ARCH_X32 and SCMP_ARCH_S390 have none).
func OCIArches() []string {
	return slices.Clone(ociArches)
}

// IsOCIArch reports whether name is an architecture name the OCI runtime
// spec defines.
func IsOCIArch(name string) bool {
	return slices.Contains(ociArches, name)
}
