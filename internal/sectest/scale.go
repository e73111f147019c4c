package sectest

import (
	"os"
	"os/exec"
	"testing"
)

// Scale shrinks an iteration count for slow runs: under the race detector
// (a tenth) and in the qemu guest, SECCOMPSTREAM_SLOW=1 (a twentieth). It
// never returns less than 1.
func Scale(n int) int {
	if raceEnabled {
		n /= 10
	}
	if os.Getenv("SECCOMPSTREAM_SLOW") == "1" {
		n /= 20
	}
	return max(n, 1)
}

// InCI reports whether the run is CI's (.ci/run sets SECCOMPSTREAM_CI=1),
// where a missing tool must fail a test instead of skipping it.
func InCI() bool { return os.Getenv("SECCOMPSTREAM_CI") == "1" }

// RaceEnabled reports whether the race detector is on.
func RaceEnabled() bool { return raceEnabled }

// RequireTool returns the path of a program a test needs. It skips the
// test when the program is missing, except in CI, where that fails it.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if InCI() {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}
