package ocitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// Cleanup deletes container id (killing it if it runs) when the test
// ends.
func (r *Runtime) Cleanup(t testing.TB, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if out, err := r.Command(ctx, "delete", "-f", id).CombinedOutput(); err != nil && !bytes.Contains(out, []byte("not exist")) {
			t.Logf("%s delete -f %s: %v: %s", r.Name, id, err, out)
		}
	})
}

// Run runs the bundle's container id in the foreground and returns its
// exit status and output (stdout and stderr together). The container is
// deleted when the test ends.
func (r *Runtime) Run(t testing.TB, bundle, id string) (int, string) {
	t.Helper()
	r.Cleanup(t, id)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := r.Command(ctx, "run", "--bundle", bundle, id)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s run %s: still running after 120s; output:\n%s", r.Name, id, out.String())
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s run: %v", r.Name, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// BusyboxRootfs makes a rootfs with busybox (busybox-static) as
// /bin/busybox and the applets linked to it.
func BusyboxRootfs(t testing.TB, applets ...string) string {
	t.Helper()
	bb := sectest.RequireTool(t, "busybox")
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// Bundle writes a bundle that runs args (PATH=/bin, as root, no new
// privileges) in rootfs, with /proc and a tmpfs /tmp, in new pid, ipc, uts
// and mount namespaces, and with seccompJSON, exactly as given, as its
// linux.seccomp (none when nil). It returns the bundle's directory.
func Bundle(t testing.TB, rootfs string, seccompJSON []byte, args ...string) string {
	t.Helper()
	linux := map[string]any{
		"namespaces": []map[string]string{{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}},
	}
	if seccompJSON != nil {
		linux["seccomp"] = json.RawMessage(seccompJSON)
	}
	spec := map[string]any{
		"ociVersion": "1.0.2",
		"root":       map[string]any{"path": rootfs},
		"hostname":   "ocitest",
		"process": map[string]any{
			"args": args, "env": []string{"PATH=/bin"}, "cwd": "/",
			"noNewPrivileges": true, "user": map[string]any{"uid": 0, "gid": 0},
		},
		"mounts": []map[string]any{
			{"destination": "/proc", "type": "proc", "source": "proc"},
			{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
		},
		"linux": linux,
	}
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
