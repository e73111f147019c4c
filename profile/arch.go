package profile

import (
	"fmt"
	"runtime"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// ociArches lists every architecture name the OCI runtime spec defines, in
// the spec's order.
var ociArches = []specs.Arch{
	specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
	specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
	specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
	specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC,
	specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K,
	specs.ArchSH, specs.ArchSHEB,
}

// archNative is containers-common's name for "the machine's own
// architecture".
const archNative specs.Arch = "SCMP_ARCH_NATIVE"

// knownArch reports whether a is an OCI architecture name.
func knownArch(a specs.Arch) bool {
	for _, k := range ociArches {
		if a == k {
			return true
		}
	}
	return false
}

// auditArch returns the AUDIT_ARCH value whose system call table names the
// calls of a, and whether there is such a table. x32 uses the x86_64 table
// (its calls are x86_64 numbers with the x32 bit set).
func auditArch(a specs.Arch) (uint32, bool) {
	if a == specs.ArchX32 {
		return unix.AUDIT_ARCH_X86_64, true
	}
	arch, ok := sysnames.ArchByName(string(a))
	return arch, ok
}

// ociArch returns the OCI name of the ABI a notification reports: the
// AUDIT_ARCH value and, on x86_64, whether the x32 bit is set in the call
// number.
func ociArch(audit uint32, x32 bool) (specs.Arch, bool) {
	if x32 {
		return specs.ArchX32, audit == unix.AUDIT_ARCH_X86_64
	}
	for _, a := range ociArches {
		if a == specs.ArchX32 {
			continue
		}
		if got, ok := sysnames.ArchByName(string(a)); ok && got == audit {
			return a, true
		}
	}
	return "", false
}

// nativeArch returns the OCI name of the running program's architecture,
// the one a profile without "architectures" applies to.
func nativeArch() (specs.Arch, error) {
	if a, ok := ociArch(sysnames.Native(), false); ok {
		return a, nil
	}
	return "", fmt.Errorf("no OCI architecture name for GOARCH %s", runtime.GOARCH)
}

// knownCall reports whether arch has a call named name. For an
// architecture without a system call table here every name is taken as
// known, since nothing can check it.
func knownCall(arch specs.Arch, name string) bool {
	audit, ok := auditArch(arch)
	if !ok {
		return true
	}
	_, ok = sysnames.Number(audit, name)
	return ok
}

// hasTable reports whether arch's calls can be checked here.
func hasTable(arch specs.Arch) bool {
	_, ok := auditArch(arch)
	return ok
}

// knownAnywhere reports whether any system call table knows name.
func knownAnywhere(name string) bool {
	for _, arch := range sysnames.Arches() {
		if _, ok := sysnames.Number(arch, name); ok {
			return true
		}
	}
	return false
}

// seccompArchName returns the architecture name that Docker's and
// containers-common's "includes"/"excludes" "arches" lists use for the
// running program (moby compares them with these names, from GOARCH).
func seccompArchName() string {
	switch runtime.GOARCH {
	case "386":
		return "x86"
	case "loong64":
		return "loongarch64"
	case "mips64le":
		return "mipsel64"
	case "mips64p32":
		return "mips64n32"
	case "mips64p32le":
		return "mips3l64n32"
	case "mipsle":
		return "mipsel"
	}
	return runtime.GOARCH // amd64, arm, arm64, mips64, ppc64le, riscv64, s390x, ...
}
