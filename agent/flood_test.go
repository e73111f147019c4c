package agent_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// logCounter is a slog.Handler that counts records by message, for tests
// that log too much to look at each record.
type logCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func newLogCounter() *logCounter { return &logCounter{n: map[string]int{}} }

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[r.Message]++
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }
func (l *logCounter) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[msg]
}

// openIdle opens n connections to the agent at path that send nothing,
// closed when the test ends.
func openIdle(t testing.TB, path string, n int) {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("idle connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
}

// floodBound is how long a container may take to be served with the
// flood open. The idle connections would hold their read slots for the
// read timeout (floodReadTimeout): a container served well within it did
// not wait for them.
const (
	floodReadTimeout = 5 * time.Minute
	floodBound       = 60 * time.Second
)

// TestFlood opens 500 idle connections, then starts a runc container: it
// is served within floodBound, far below the read timeout the idle
// connections hold. Once with the default bounds (one flooding process is
// held to MaxPendingPerPeer connections, the rest refused unread) and once
// with no per-peer bound, where the bound on connections being read in all
// evicts the oldest idle ones.
func TestFlood(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	rootfs := newRootfs(t)
	for _, tc := range []struct {
		name    string
		perPeer int
	}{
		{"per-peer", 0},
		{"global", 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			logs := newLogCounter()
			srv := &agent.Server{
				Logger:            slog.New(logs),
				ReadTimeout:       floodReadTimeout,
				MaxPendingPerPeer: tc.perPeer,
				NewHandler: func(*agent.Container) seccompstream.Handler {
					return seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
						return seccompstream.Errno(unix.EDQUOT)
					})
				},
			}
			var mu sync.Mutex
			reasons := map[string]int{}
			count := func(p agent.Peer, err error) {
				mu.Lock()
				defer mu.Unlock()
				reasons[errors.Unwrap(err).Error()]++
			}
			srv.Hooks.Refused = count
			srv.Hooks.Rejected = count
			sock := startServer(t, srv)
			bundle := newBundle(t, bundleOpts{rootfs: rootfs, listener: sock, script: `mkdir /tmp/x; echo "done=$?"`})

			base := runServed(t, ctx, rt, bundle, "flood-base-"+tc.name)
			openIdle(t, sock, 500)
			flooded := runServed(t, ctx, rt, bundle, "flood-"+tc.name)
			t.Logf("container served in %v without the flood, %v with 500 idle connections", base, flooded)
			if flooded > floodBound {
				t.Errorf("with 500 idle connections the container took %v to be served, want under %v", flooded, floodBound)
			}
			// Each connection is admitted, refused or evicted on its own
			// goroutine, and an evicted one reports when its read wakes:
			// the container can be served before the last of the idle
			// ones is counted (seen: 270 of 372 evictions counted then).
			what, want := "refused", 500-agent.DefaultMaxPendingPerPeer
			if tc.perPeer != 0 {
				what, want = "evicted", 500-agent.DefaultMaxPending
			}
			tooMany := func() int {
				mu.Lock()
				defer mu.Unlock()
				return reasons[agent.ErrTooManyConnections.Error()]
			}
			counted := sectest.Poll(func() bool { return tooMany() >= want })
			mu.Lock()
			t.Logf("connections refused or evicted: %v", reasons)
			if !counted {
				t.Errorf("%s %v within %v, want at least %d ErrTooManyConnections", what, reasons, sectest.Patience, want)
			}
			mu.Unlock()
			if n := logs.count("agent: container connected"); n != 2 {
				t.Errorf("%d containers connected, want 2", n)
			}
		})
	}
}

// runServed runs bundle (mkdir, then "done=$?") to its end and returns how
// long it took; the mkdir must have been answered by the agent (EDQUOT).
func runServed(t *testing.T, ctx context.Context, rt *ocitest.Runtime, bundle, id string) time.Duration {
	t.Helper()
	start := time.Now()
	c := rt.Start(t, ctx, bundle, id)
	out := strings.ToLower(c.Wait(t))
	took := time.Since(start)
	if !strings.Contains(out, "disk quota exceeded") || !strings.Contains(out, "done=1") {
		t.Fatalf("container %s was not served: %v: %s", id, c.Err(), out)
	}
	return took
}

// TestRefusalLogLimit: a peer refused again and again does not write the
// agent's log at the rate it connects. The first refusals are logged, then
// about one a second; Hooks.Refused sees every one, and the records logged
// after a gap say how many were not ("not_logged").
func TestRefusalLogLimit(t *testing.T) {
	log := newLogRecorder()
	var refused atomic.Int64
	srv := &agent.Server{
		NewHandler: answer4242,
		Logger:     slog.New(log),
		Authorize:  func(agent.Peer) error { return errors.New("nobody is served") },
		Hooks:      agent.Hooks{Refused: func(agent.Peer, error) { refused.Add(1) }},
	}
	path := startServer(t, srv)
	n := 400
	start := time.Now()
	for range n {
		dial(t, path).Close()
	}
	waitCount := func(want int64) {
		t.Helper()
		if !sectest.Poll(func() bool { return refused.Load() >= want }) {
			t.Fatalf("Hooks.Refused saw %d refusals within %v, want %d", refused.Load(), sectest.Patience, want)
		}
	}
	waitCount(int64(n))
	elapsed := time.Since(start)
	logged, notLogged := 0, 0
	drain := func() {
		for {
			select {
			case r := <-log.ch:
				if r.Message == "agent: connection refused" {
					logged++
					if v, ok := attr(r, "not_logged").(int64); ok {
						notLogged += int(v)
					}
				}
			default:
				return
			}
		}
	}
	drain() // refuse logs before it calls the hook: every record is in
	if bound := 50 + int(elapsed/time.Second) + 1; logged < 50 || logged > bound {
		t.Errorf("%d of %d refusals in %v logged, want 50 to %d", logged, n, elapsed, bound)
	}
	time.Sleep(1100 * time.Millisecond) // a token comes back
	dial(t, path).Close()
	n++
	waitCount(int64(n))
	drain()
	if logged+notLogged != n {
		t.Errorf("%d refusals logged and %d reported not logged, want %d in all", logged, notLogged, n)
	}
	t.Logf("%d refusals in %v: %d logged", n, elapsed, logged)
}
