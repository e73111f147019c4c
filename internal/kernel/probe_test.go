package kernel_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/internal/kernel"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// TestProbeMatchesKernelVersion checks each probe against the release it
// names: a feature must be found on kernels that have it (a broken probe
// would silently disable it) and must not be found on older ones. Distro
// kernels can backport features; none of the kernels CI runs do.
func TestProbeMatchesKernelVersion(t *testing.T) {
	f, err := kernel.Probe()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		got     bool
		version string
	}{
		{"Continue", f.Continue, kernel.VersionContinue},
		{"TSyncESRCH", f.TSyncESRCH, kernel.VersionTSyncESRCH},
		{"AddFD", f.AddFD, kernel.VersionAddFD},
		{"AddFDSend", f.AddFDSend, kernel.VersionAddFDSend},
		{"WaitKillableRecv", f.WaitKillableRecv, kernel.VersionWaitKillableRecv},
		{"SyncWakeup", f.SyncWakeup, kernel.VersionSyncWakeUp},
		{"HUPOnExit", f.HUPOnExit, kernel.VersionHUPOnExit},
	} {
		want, err := sectest.KernelAtLeast(c.version)
		if err != nil {
			t.Fatal(err)
		}
		if c.got != want {
			t.Errorf("%s = %v on Linux %s (feature of %s)", c.name, c.got, sectest.KernelRelease(), c.version)
		}
	}
	t.Logf("Linux %s: %+v", sectest.KernelRelease(), f)
}

// TestProbeLeavesNoFilter checks that probing leaves no seccomp filter on
// any thread of the process.
func TestProbeLeavesNoFilter(t *testing.T) {
	if _, err := kernel.Probe(); err != nil {
		t.Fatal(err)
	}
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited meanwhile
		}
		if !strings.Contains(string(b), "\nSeccomp:\t0\n") {
			t.Errorf("%s carries a seccomp filter after Probe", p)
		}
	}
}
