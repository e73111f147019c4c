package sysnames_test

import (
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// The OCI architecture names are the runtime spec's, in its order, and
// every table that has one is named by it.
func TestOCIArches(t *testing.T) {
	spec := []specs.Arch{
		specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
		specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
		specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
		specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC,
		specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K,
		specs.ArchSH, specs.ArchSHEB,
	}
	got := sysnames.OCIArches()
	if len(got) != len(spec) {
		t.Fatalf("OCIArches() has %d names, the spec %d: %v", len(got), len(spec), got)
	}
	for i, a := range spec {
		if got[i] != string(a) {
			t.Errorf("OCIArches()[%d] = %q, want %q", i, got[i], a)
		}
		if !sysnames.IsOCIArch(string(a)) {
			t.Errorf("IsOCIArch(%q) = false", a)
		}
	}
	got[0] = "changed"
	if sysnames.OCIArches()[0] != string(specs.ArchX86) {
		t.Error("OCIArches returns its own slice")
	}
	for _, bad := range []string{"", "x86_64", "SCMP_ARCH_Z80", "SCMP_ARCH_NATIVE", "scmp_arch_x86"} {
		if sysnames.IsOCIArch(bad) {
			t.Errorf("IsOCIArch(%q) = true", bad)
		}
	}
	// Every table but sparc64 (which the spec does not name) takes an
	// OCI name.
	for _, arch := range sysnames.Arches() {
		n := 0
		for _, a := range spec {
			if got, ok := sysnames.ArchByName(string(a)); ok && got == arch {
				n++
			}
		}
		want := 1
		if sysnames.ArchName(arch) == "sparc64" {
			want = 0
		}
		if n != want {
			t.Errorf("%s: %d OCI names, want %d", sysnames.ArchName(arch), n, want)
		}
	}
}

func TestKnownName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"openat", true},
		{"arm_fadvise64_64", true}, // arm only
		{"socketcall", true},       // i386 and others, not x86_64
		{"mkdri", false},
		{"", false},
		{"OPENAT", false},
	} {
		if got := sysnames.KnownName(tc.name); got != tc.want {
			t.Errorf("KnownName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
