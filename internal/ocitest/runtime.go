package ocitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// A Runtime runs OCI bundles with runc or crun, with a state directory of
// its own, for tests that run real containers.
type Runtime struct {
	// Name is "runc" or "crun".
	Name string
	// Root is the runtime's state directory (--root).
	Root string
}

// Runtimes are the runtimes ForEachRuntime tests with.
var Runtimes = []string{"runc", "crun"}

// NewRuntime returns the runtime name ("runc" or "crun"), through
// sectest's gate (RequireTool): the test skips, or fails in CI, without it.
func NewRuntime(t testing.TB, name string) *Runtime {
	t.Helper()
	sectest.RequireTool(t, name)
	if name == "crun" {
		sectest.RequireTool(t, "unshare")
	}
	return &Runtime{Name: name, Root: t.TempDir()}
}

// ForEachRuntime runs f as a subtest (named after the runtime) with each
// of Runtimes.
func ForEachRuntime(t *testing.T, f func(t *testing.T, rt *Runtime)) {
	for _, name := range Runtimes {
		t.Run(name, func(t *testing.T) { f(t, NewRuntime(t, name)) })
	}
}

// Command returns the command line for "RUNTIME ARGS...". crun runs in a
// mount namespace of its own without the cgroup2 "unified" mount, since
// it refuses this machine's hybrid cgroup layout.
func (r *Runtime) Command(ctx context.Context, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if r.Name == "crun" {
		script := `umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root "$0" --cgroup-manager=disabled "$@"`
		cmd = exec.CommandContext(ctx, "unshare", append([]string{"-m", "sh", "-c", script, r.Root}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, "runc", append([]string{"--root", r.Root}, args...)...)
	}
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// ID returns a container id made of name, the runtime and this process's
// pid: runtimes name cgroups after container ids, and those are global,
// so two test processes must never use the same id.
func (r *Runtime) ID(name string) string {
	return fmt.Sprintf("%s-%s-%d", name, r.Name, os.Getpid())
}

// Delete deletes container id now, killing what still runs in it; a
// container that does not exist is no error.
func (r *Runtime) Delete(t testing.TB, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := r.Command(ctx, "delete", "-f", id).CombinedOutput(); err != nil && !bytes.Contains(out, []byte("not exist")) {
		t.Logf("%s delete -f %s: %v: %s", r.Name, id, err, out)
	}
}

// Cleanup deletes container id (killing it if it runs) when the test
// ends.
func (r *Runtime) Cleanup(t testing.TB, id string) {
	t.Cleanup(func() { r.Delete(t, id) })
}

// Run runs the bundle's container id in the foreground and returns its
// exit status and output (stdout and stderr together). The container is
// deleted when the test ends.
func (r *Runtime) Run(t testing.TB, bundle, id string) (int, string) {
	t.Helper()
	r.Cleanup(t, id)
	ctx, cancel := context.WithTimeout(context.Background(), sectest.Patience)
	defer cancel()
	cmd := r.Command(ctx, "run", "--bundle", bundle, id)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s run %s: still running after %v; output:\n%s", r.Name, id, sectest.Patience, out.String())
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s run: %v", r.Name, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// RunDetached starts the bundle's container id in the background ("run
// -d") and returns once the runtime has started it. The container keeps
// the runtime's stdout and stderr: a file in a temporary directory of t,
// so that nothing waits for them to be closed. The container is deleted
// when the test ends.
func (r *Runtime) RunDetached(t testing.TB, ctx context.Context, bundle, id string) {
	t.Helper()
	r.Cleanup(t, id)
	log, err := os.Create(filepath.Join(t.TempDir(), "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := r.Command(ctx, "run", "-d", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(log.Name())
		t.Fatalf("%s run -d %s: %v: %s", r.Name, id, err, out)
	}
}

// A Container is a "runtime run" of a container in the foreground, in
// progress (Start).
type Container struct {
	// ID is the container's id.
	ID string
	// Stdin is the container's standard input. Wait closes it.
	Stdin io.WriteCloser

	cmd  *exec.Cmd
	out  sectest.Buffer // stdout and stderr
	done chan struct{}  // closed once the command was reaped
	err  error          // from cmd.Wait, once done
}

// Start starts "runtime run" of bundle as container id in the foreground:
// the container's stdio is the command's, its input Stdin and its output
// collected for Output, WaitLine and WaitOutput. When the test ends the
// container is deleted and the command reaped.
func (r *Runtime) Start(t testing.TB, ctx context.Context, bundle, id string) *Container {
	t.Helper()
	c := &Container{ID: id, done: make(chan struct{})}
	c.cmd = r.Command(ctx, "run", "--bundle", bundle, id)
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stdin = stdin
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		c.out.Close()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.Stdin.Close()
		r.Delete(t, id)
		select {
		case <-c.done:
		case <-time.After(60 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// Output returns what the container wrote so far, stdout and stderr
// together.
func (c *Container) Output() string { return c.out.String() }

// Wait closes the container's input, waits for the run command to end
// and returns the container's output. What the command returned is Err's.
func (c *Container) Wait(t testing.TB) string {
	t.Helper()
	c.Stdin.Close()
	select {
	case <-c.done:
	case <-time.After(sectest.Patience):
		t.Fatalf("container %s still running after %v; output: %s", c.ID, sectest.Patience, c.Output())
	}
	if c.err != nil {
		t.Logf("container %s: %v", c.ID, c.err)
	}
	return c.Output()
}

// Err returns what the run command's Wait returned (nil for exit status
// 0). Call it after Wait.
func (c *Container) Err() error {
	<-c.done
	return c.err
}

// WaitLine returns the next line of the container's output (after the one
// the previous WaitLine returned) that contains s.
func (c *Container) WaitLine(t testing.TB, s string) string {
	t.Helper()
	return c.out.WaitLine(t, s)
}

// WaitOutput waits until the container's output (stdout and stderr, in
// whatever order they came) contains s.
func (c *Container) WaitOutput(t testing.TB, s string) {
	t.Helper()
	c.out.WaitFor(t, s)
}
