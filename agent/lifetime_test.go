package agent_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// handOver starts a child that calls getppid once under a notifying
// filter and hands its listener to the agent at path as container id.
func handOver(t *testing.T, path, id string) *sectest.Child {
	t.Helper()
	child := sectest.StartChild(t, sectest.Opts{Scenario: "getppid", Notify: []string{"getppid"}})
	conn := dial(t, path)
	writeParts(t, conn, []string{jsonState(id, "seccompFd")}, []int{child.Listener})
	conn.Close()
	closeFDs([]int{child.Listener})
	return child
}

// TestContainerLifetime: work tied to Container.Context stops when the
// container's stream ends; a refused container and a panicking handler
// get ENOSYS, and the panic is logged with the container's id.
func TestContainerLifetime(t *testing.T) {
	log := newLogRecorder()
	workDone := make(chan string, 10)
	srv := &agent.Server{
		Logger: slog.New(log),
		NewHandler: func(c *agent.Container) seccompstream.Handler {
			switch c.ID() {
			case "refused":
				return nil
			case "panics":
				return seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
					panic("handler bug")
				})
			}
			// Per-container work, stopped by the end of the stream.
			go func() {
				<-c.Context().Done()
				workDone <- c.ID()
			}()
			return seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
				return seccompstream.Return(4242)
			})
		},
	}
	path := startServer(t, srv)

	child := handOver(t, path, "served")
	if out := child.Output(); child.ExitCode() != 0 || !strings.Contains(child.Output(), "getppid=4242 ") {
		t.Fatalf("served child: %s", out)
	}
	select {
	case id := <-workDone:
		if id != "served" {
			t.Errorf("work of %q stopped, want served", id)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the container's context was not cancelled after its stream ended")
	}
	if rec := log.wait(t, "agent: container stream ended"); attr(rec, "container") != "served" {
		t.Errorf("stream ended for %v", attr(rec, "container"))
	}

	child = handOver(t, path, "refused")
	if child.ExitCode() != 0 || !strings.Contains(child.Output(), "errno=38") {
		t.Errorf("refused container's call: %s (want ENOSYS, 38)", child.Output())
	}
	log.wait(t, "agent: container refused by NewHandler")

	child = handOver(t, path, "panics")
	if child.ExitCode() != 0 || !strings.Contains(child.Output(), "errno=38") {
		t.Errorf("panicking handler's call: %s (want ENOSYS, 38)", child.Output())
	}
	rec := log.wait(t, "agent: handler error")
	var perr *seccompstream.PanicError
	if err, _ := attr(rec, "err").(error); !errors.As(err, &perr) || attr(rec, "container") != "panics" {
		t.Errorf("logged %v for container %v, want a PanicError for panics", attr(rec, "err"), attr(rec, "container"))
	}
}
