package soak_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/soak"
)

func TestMain(m *testing.M) {
	soak.TargetMain()
	os.Exit(sectest.RunMain(m.Run, "seccompstream/internal/soak."))
}

// TestSoakShort runs the whole campaign, every fault kind, for a few
// seconds with a small load: the harness itself must work, and the
// library must pass it. The long runs are scripts/soak's. Without gcc (the
// qemu guest) the C targets and the agent scenario are left out, which
// the table says; in CI that is an error.
func TestSoakShort(t *testing.T) {
	cfg := soak.Config{
		Duration:        3 * time.Second,
		Targets:         8,
		Group:           16,
		DisruptGroup:    4,
		Calls:           sectest.Scale(2000),
		GroupCloseEvery: 500 * time.Millisecond,
		AgentKillEvery:  time.Second,
		Agent:           true,
		// Generous: in the emulated (tcg) qemu guest of a loaded host a
		// drain took up to 35 s, and one run met the default bound (30 s,
		// so 40 s for the drain). A hang is still a call unanswered for
		// this long.
		Hang: 90 * time.Second,
		Seed: 1,
		Log:  testLog{t},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Table())
	if rep.Failed() {
		t.Fatal("the soak found failures (table above)")
	}
	if rep.Calls == 0 {
		t.Fatal("no calls made")
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(p))
	return len(p), nil
}
