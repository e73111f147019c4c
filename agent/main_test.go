package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// Child scenarios for tests that need a real listener without a runtime.
var scenarios = map[string]sectest.Scenario{
	// getppid: call getppid once (notified) and print what it returned.
	"getppid": func([]string) int {
		r, _, e := unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
		fmt.Printf("getppid=%d errno=%d\n", int64(r), int(e))
		return 0
	},
}

func TestMain(m *testing.M) {
	sectest.Main(scenarios)
	if os.Getenv(envHelperAgent) != "" {
		os.Exit(helperAgent())
	}
	if os.Getenv(envHelperPeer) != "" {
		os.Exit(helperPeer())
	}
	code := sectest.RunMain(m.Run, "seccompstream/agent")
	removePublicTestBinary()
	os.Exit(code)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// logRecorder is a slog.Handler that hands every record to a channel,
// with the attributes of Logger.With added to it.
type logRecorder struct {
	ch    chan slog.Record
	attrs []slog.Attr
}

func newLogRecorder() *logRecorder { return &logRecorder{ch: make(chan slog.Record, 1000)} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(l.attrs...)
	l.ch <- r
	return nil
}
func (l *logRecorder) WithAttrs(a []slog.Attr) slog.Handler {
	return &logRecorder{ch: l.ch, attrs: append(append([]slog.Attr(nil), l.attrs...), a...)}
}
func (l *logRecorder) WithGroup(string) slog.Handler { return l }

// wait returns the next record with message msg, skipping others.
func (l *logRecorder) wait(t *testing.T, msg string) slog.Record {
	t.Helper()
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case r := <-l.ch:
			if r.Message == msg {
				return r
			}
			t.Logf("log: %s %s", r.Message, attrs(r))
		case <-timeout.C:
			t.Fatalf("no log record %q within 60s", msg)
		}
	}
}

func attr(r slog.Record, key string) any {
	var v any
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.Any()
			return false
		}
		return true
	})
	return v
}

func attrs(r slog.Record) string {
	s := ""
	r.Attrs(func(a slog.Attr) bool {
		s += fmt.Sprintf(" %s=%v", a.Key, a.Value)
		return true
	})
	return s
}

// slowRun reports a run in the qemu guest (SECCOMPSTREAM_SLOW=1).
func slowRun() bool { return os.Getenv("SECCOMPSTREAM_SLOW") == "1" }

func itoa(i int) string { return fmt.Sprint(i) }
