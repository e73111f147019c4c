package agent_test

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
)

// TestHooks: Connected, Call and Disconnected follow a container's life,
// Rejected sees a bad message.
func TestHooks(t *testing.T) {
	var (
		mu     sync.Mutex
		events []string
		calls  []string
		took   time.Duration
	)
	add := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}
	disconnected := make(chan struct{}, 1)
	srv := &agent.Server{
		NewHandler: answer4242,
		Logger:     slog.New(newLogRecorder()),
		Hooks: agent.Hooks{
			Connected: func(c *agent.Container) { add("connected " + c.ID()) },
			Call: func(c *agent.Container, n *seccompstream.Notification, r seccompstream.Response, d time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, c.ID()+" "+n.SyscallName()+" "+r.String())
				took += d
			},
			Disconnected: func(c *agent.Container, err error) {
				if err != nil {
					add("disconnected " + c.ID() + " " + err.Error())
				} else {
					add("disconnected " + c.ID())
				}
				disconnected <- struct{}{}
			},
			Rejected: func(p agent.Peer, err error) {
				if errors.Is(err, agent.ErrMalformedState) {
					add("rejected malformed")
				}
			},
		},
	}
	path := startServer(t, srv)
	c := dial(t, path)
	writeParts(t, c, []string{"{"})
	c.Close()
	child := handOver(t, path, "hooked")
	if child.ExitCode() != 0 {
		t.Fatalf("child: %s", child.Output())
	}
	select {
	case <-disconnected:
	case <-time.After(60 * time.Second):
		t.Fatal("Disconnected was not called after the stream ended")
	}
	mu.Lock()
	defer mu.Unlock()
	// The rejection may come at any place; the container's events in order.
	var life []string
	rejected := 0
	for _, e := range events {
		if e == "rejected malformed" {
			rejected++
		} else {
			life = append(life, e)
		}
	}
	if rejected != 1 || !slices.Equal(life, []string{"connected hooked", "disconnected hooked"}) {
		t.Errorf("events %q, want one rejection and the container connected, then disconnected", events)
	}
	if len(calls) != 1 || calls[0] != "hooked getppid return 4242" {
		t.Errorf("calls %q, want one getppid returning 4242", calls)
	}
	if took <= 0 {
		t.Errorf("handler time %v", took)
	}
}
