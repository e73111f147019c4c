package sectest

import (
	"os"
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
