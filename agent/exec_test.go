package agent_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/ocitest"
)

// TestExec starts a detached container and execs a second process in it:
// the exec'd process reaches the agent as a stream of its own, with status
// "running", and its stream ends when it exits while the init's goes on.
func TestExec(t *testing.T) {
	ocitest.ForEachRuntime(t, func(t *testing.T, rt *ocitest.Runtime) {
		ctx := testCtx(t)
		log := newLogRecorder()
		calls := make(chan call, 100)
		sock := startServer(t, &agent.Server{NewHandler: denyMkdir(unix.EDQUOT, calls), Logger: slog.New(log)})
		bundle := newBundle(t, bundleOpts{
			rootfs:   newRootfs(t),
			listener: sock,
			script:   `mkdir /tmp/init; exec sleep 600`,
		})
		id := "exec-" + rt.Name
		rt.RunDetached(t, ctx, bundle, id)
		first := log.wait(t, "agent: container connected")
		if got := fmt.Sprint(attr(first, "status")); got != "creating" {
			t.Errorf("first connection has status %v, want creating", got)
		}
		got := <-calls
		if got.path != "/tmp/init" || got.status != "creating" || got.container != id {
			t.Errorf("init's call: %+v", got)
		}

		out, err := rt.Command(ctx, "exec", id, "/bin/sh", "-c", `mkdir /tmp/exec; echo "rc=$?"`).CombinedOutput()
		if err != nil {
			t.Fatalf("%s exec: %v: %s", rt.Name, err, out)
		}
		if !strings.Contains(strings.ToLower(string(out)), "/tmp/exec': disk quota exceeded") {
			t.Errorf("exec output %q, want mkdir to fail with EDQUOT", out)
		}
		second := log.wait(t, "agent: container connected")
		if got := fmt.Sprint(attr(second, "status")); got != "running" || attr(second, "container") != id {
			t.Errorf("exec's connection: status %v, container %v; want running, %s", got, attr(second, "container"), id)
		}
		select {
		case got = <-calls:
			if got.path != "/tmp/exec" || got.status != "running" || got.container != id {
				t.Errorf("exec's call: %+v", got)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the exec'd process's call never reached the handler")
		}
		// The exec'd process is gone: its stream ends, the init's does not.
		ended := log.wait(t, "agent: container stream ended")
		if attr(ended, "pid") != attr(second, "pid") {
			t.Errorf("stream of pid %v ended, want the exec'd process's (%v)", attr(ended, "pid"), attr(second, "pid"))
		}
	})
}
