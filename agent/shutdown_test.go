package agent_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/ocitest"
)

// TestShutdown stops the server while a container's call is in a handler:
// the handler's context is cancelled, the call is answered (ENOSYS), Serve
// returns, the container's context ends, and the container's later calls
// fail with ENOSYS since its listener is closed.
func TestShutdown(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	ctx := testCtx(t)
	started := make(chan *agent.Container, 1)
	handlerDone := make(chan error, 1)
	srv := &agent.Server{
		Logger: slog.New(newLogRecorder()),
		NewHandler: func(c *agent.Container) seccompstream.Handler {
			return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
				started <- c
				<-ctx.Done()
				handlerDone <- ctx.Err()
				return seccompstream.Errno(unix.EPERM)
			})
		},
	}
	sock, stop := startServerStop(t, srv)
	bundle := newBundle(t, bundleOpts{
		rootfs:   newRootfs(t),
		listener: sock,
		script:   `mkdir /tmp/block; echo "b=$?"; mkdir /tmp/after; echo "a=$?"`,
	})
	c := rt.Start(t, ctx, bundle, "shutdown")
	var ctr *agent.Container
	select {
	case ctr = <-started:
	case <-ctx.Done():
		t.Fatalf("the handler never ran; output: %s", c.Output())
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	select {
	case err := <-handlerDone:
		if err == nil {
			t.Error("handler context ended without an error")
		}
	default:
		t.Error("Serve returned before the handler did")
	}
	select {
	case <-ctr.Context().Done():
	default:
		t.Error("Serve returned and the container's context is not done")
	}
	out := strings.ToLower(c.Wait(t))
	for _, want := range []string{"/tmp/block': function not implemented", "b=1", "/tmp/after': function not implemented", "a=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file still there after shutdown (stat: %v)", err)
	}
}

// TestListen covers abstract names, a stale socket file and a path taken
// by something else.
func TestListen(t *testing.T) {
	name := "@seccompstream-agent-test-" + itoa(os.Getpid())
	ln, err := agent.Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Listen(name); err == nil {
		t.Error("second Listen on the same abstract name succeeded")
	}
	ln.Close()

	dir := t.TempDir()
	stale := dir + "/stale.sock"
	ln, err = agent.Listen(stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // leaves the file: a crashed agent's socket
	ln, err = agent.Listen(stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if _, err := agent.Listen(stale); err == nil || !strings.Contains(err.Error(), "another process listens") {
		t.Errorf("Listen on a live socket: %v", err)
	}
	ln.Close()

	file := dir + "/file"
	os.WriteFile(file, nil, 0o600)
	if _, err := agent.Listen(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen on a regular file: %v", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("Listen removed a regular file: %v", err)
	}
	if _, err := agent.Listen(""); err == nil {
		t.Error("Listen on an empty path succeeded")
	}
}

// TestServeAbstract serves a container through an abstract socket name.
func TestServeAbstract(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	ctx := testCtx(t)
	name := "@seccompstream-agent-abstract-" + itoa(os.Getpid())
	ln, err := agent.Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan call, 10)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- agent.Serve(sctx, ln, denyMkdir(unix.EACCES, calls)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	bundle := newBundle(t, bundleOpts{rootfs: newRootfs(t), listener: name, script: `mkdir /tmp/abs; echo "rc=$?"`})
	c := rt.Start(t, ctx, bundle, "abstract")
	out := strings.ToLower(c.Wait(t))
	if !strings.Contains(out, "/tmp/abs': permission denied") {
		t.Errorf("output %q, want EACCES", out)
	}
	select {
	case got := <-calls:
		if got.path != "/tmp/abs" {
			t.Errorf("handler saw %+v", got)
		}
	case <-time.After(30 * time.Second):
		t.Error("no call reached the handler")
	}
}
