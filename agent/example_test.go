package agent_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
)

// An agent for a Kubernetes node: a 0600 socket, served to root only (the
// uid of runc and crun), per-pod decisions, and counters for metrics.
func ExampleServer() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	ln, err := agent.Listen("/run/seccompstream/agent.sock") // mode 0600
	if err != nil {
		log.Fatal(err)
	}
	var calls, refused atomic.Int64
	srv := &agent.Server{
		AllowUIDs: []uint32{0},
		Logger:    slog.Default(),
		NewHandler: func(c *agent.Container) seccompstream.Handler {
			id := c.Identity() // from containerd's or CRI-O's annotations
			return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
				if id.Namespace == "untrusted" && n.SyscallName() == "mknodat" {
					return seccompstream.Errno(unix.EPERM)
				}
				return seccompstream.Continue() // decided from the name alone: see Continue
			})
		},
		Hooks: agent.Hooks{
			Refused: func(agent.Peer, error) { refused.Add(1) },
			Call: func(*agent.Container, *seccompstream.Notification, seccompstream.Response, time.Duration) {
				calls.Add(1)
			},
		},
	}
	if err := srv.Serve(ctx, ln); err != nil {
		log.Fatal(err)
	}
	log.Printf("%d calls decided, %d connections refused", calls.Load(), refused.Load())
}
