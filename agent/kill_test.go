package agent_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/internal/ocitest"
)

// TestAgentKilled kills the agent while a container's call waits for it
// and another is still to come: both fail with ENOSYS, and the container
// runs to its end.
func TestAgentKilled(t *testing.T) {
	ocitest.ForEachRuntime(t, func(t *testing.T, rt *ocitest.Runtime) {
		ctx := testCtx(t)
		a := startAgentProc(t)
		bundle := newBundle(t, bundleOpts{
			rootfs:   newRootfs(t),
			listener: a.socket,
			script:   `mkdir /tmp/a; echo "a=$?"; read x; mkdir /tmp/block; echo "b=$?"; mkdir /tmp/c; echo "c=$?"`,
		})
		id := "kill-agent-" + rt.Name
		c := rt.Start(t, ctx, bundle, id)
		c.WaitLine(t, "a=1")
		a.waitLine(t, "denied "+id+" /tmp/a")
		if _, err := c.Stdin.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
		a.waitLine(t, "blocking "+id+" /tmp/block")
		if err := a.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-a.done
		c.WaitLine(t, "c=1")
		out := strings.ToLower(c.Wait(t))
		for _, want := range []string{
			"/tmp/a': disk quota exceeded",
			"/tmp/block': function not implemented",
			"/tmp/c': function not implemented",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("container output lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestManyContainers starts 20 containers at once on one agent process:
// every one is served, and the agent's thread count stays bounded while
// all of them are connected.
func TestManyContainers(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	n := 20
	if slowRun() {
		n = 5
	}
	ctx := testCtx(t)
	a := startAgentProc(t)
	bundle := newBundle(t, bundleOpts{
		rootfs:   newRootfs(t),
		listener: a.socket,
		script:   `mkdir /tmp/x; echo "done=$?"; read x; exit 0`,
	})
	cs := make([]*ocitest.Container, n)
	for i := range cs {
		cs[i] = rt.Start(t, ctx, bundle, "many-"+itoa(i))
	}
	for _, c := range cs {
		c.WaitLine(t, "done=1")
	}
	seen := map[string]bool{}
	for range n {
		l := a.waitLine(t, "denied ")
		seen[strings.Fields(l)[1]] = true
	}
	if len(seen) != n {
		t.Errorf("the agent served %d distinct containers, want %d: %v", len(seen), n, seen)
	}
	// Every container is connected (blocked in read, its stream open).
	threads := a.threads(t)
	limit := 2*runtime.GOMAXPROCS(0) + 16
	t.Logf("agent threads with %d containers connected: %d (limit %d)", n, threads, limit)
	if threads > limit {
		t.Errorf("agent runs %d threads with %d containers, want at most %d", threads, n, limit)
	}
	for _, c := range cs {
		c.Stdin.Close()
	}
	for _, c := range cs {
		out := strings.ToLower(c.Wait(t))
		if c.Err() != nil || !strings.Contains(out, "/tmp/x': disk quota exceeded") {
			t.Errorf("container %s: %v: %s", c.ID, c.Err(), out)
		}
	}
}

// TestAgentRestart kills the agent and starts a new one on the same
// socket: the calls of the container the old agent served fail with
// ENOSYS (a runtime hands a listener over only when a process starts, so
// nothing reconnects them), while a "runc exec" in that container and a
// new container are served by the new agent.
func TestAgentRestart(t *testing.T) {
	ocitest.ForEachRuntime(t, func(t *testing.T, rt *ocitest.Runtime) {
		ctx := testCtx(t)
		a1 := startAgentProc(t)
		rootfs := newRootfs(t)
		bundle := newBundle(t, bundleOpts{
			rootfs:   rootfs,
			listener: a1.socket,
			script:   `mkdir /tmp/a; echo "a=$?"; read x; mkdir /tmp/b; echo "b=$?"; exec sleep 600`,
		})
		id := "restart-" + rt.Name
		c := rt.Start(t, ctx, bundle, id)
		c.WaitLine(t, "a=1")
		a1.waitLine(t, "denied "+id+" /tmp/a")
		if err := a1.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-a1.done
		a2 := startAgentProcAt(t, a1.socket) // replaces the dead agent's socket file

		// The init's listener died with the old agent.
		if _, err := c.Stdin.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
		// (stdout and stderr lines may come in either order)
		c.WaitOutput(t, "b=1")
		c.WaitOutput(t, "/tmp/b': Function not implemented")

		// A new process in the old container brings a new listener.
		out, err := rt.Command(ctx, "exec", id, "/bin/sh", "-c", `mkdir /tmp/exec; echo "rc=$?"`).CombinedOutput()
		if err != nil {
			t.Fatalf("%s exec: %v: %s", rt.Name, err, out)
		}
		if !strings.Contains(strings.ToLower(string(out)), "/tmp/exec': disk quota exceeded") {
			t.Errorf("exec after the restart: %q, want mkdir to fail with EDQUOT (served)", out)
		}
		a2.waitLine(t, "denied "+id+" /tmp/exec")

		// And a new container.
		id2 := "restart-new-" + rt.Name
		out2 := strings.ToLower(rt.Start(t, ctx, newBundle(t, bundleOpts{rootfs: rootfs, listener: a2.socket,
			script: `mkdir /tmp/new; echo "n=$?"`}), id2).Wait(t))
		if !strings.Contains(out2, "/tmp/new': disk quota exceeded") {
			t.Errorf("new container after the restart: %q, want EDQUOT (served)", out2)
		}
		a2.waitLine(t, "denied "+id2+" /tmp/new")
	})
}
