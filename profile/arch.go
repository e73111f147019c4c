package profile

import (
	"fmt"
	"runtime"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// archNative is containers-common's name for "the machine's own
// architecture".
const archNative specs.Arch = "SCMP_ARCH_NATIVE"

// knownArch reports whether a is an OCI architecture name.
func knownArch(a specs.Arch) bool {
	return sysnames.IsOCIArch(string(a))
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
	for _, a := range sysnames.OCIArches() {
		if a == string(specs.ArchX32) {
			continue
		}
		if got, ok := sysnames.ArchByName(a); ok && got == audit {
			return specs.Arch(a), true
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
