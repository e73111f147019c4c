package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// busyboxApplets are linked to /bin/busybox in the test rootfs.
var busyboxApplets = []string{"sh", "mkdir", "echo", "cat", "sleep", "ls", "true", "rmdir", "mknod", "free", "stat"}

// newRootfs makes a rootfs with busybox (busybox-static) in it.
func newRootfs(t testing.TB) string {
	t.Helper()
	return newRootfsIn(t, t.TempDir())
}

// newRootfsIn is newRootfs in directory dir.
func newRootfsIn(t testing.TB, dir string) string {
	t.Helper()
	bb := sectest.RequireTool(t, "busybox")
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// bundleOpts describes a test container.
type bundleOpts struct {
	rootfs      string // from newRootfs (shared by bundles)
	listener    string // linux.seccomp.listenerPath
	script      string // run by sh -c
	notify      []string
	annotations map[string]string
	metadata    string
	seccomp     *specs.LinuxSeccomp // replaces the profile made from notify; its listenerPath is set to listener
	userns      bool                // run in a user namespace: container 0..65535 is host 100000..165535
	memoryLimit int64               // linux.resources.memory.limit, if not 0
	caps        []string            // the process's capabilities (every set but ambient); none if nil
}

// usernsBase is the host uid and gid of root in a userns bundle.
const usernsBase = 100000

// newBundle writes a bundle directory whose config.json runs o.script under
// a seccomp profile that allows everything but o.notify (default mkdir and
// mkdirat), which go to the agent at o.listener.
func newBundle(t testing.TB, o bundleOpts) string {
	t.Helper()
	if o.notify == nil {
		o.notify = []string{"mkdir", "mkdirat"}
	}
	dir := t.TempDir()
	spec := &specs.Spec{
		Version: "1.0.2",
		Root:    &specs.Root{Path: o.rootfs, Readonly: false},
		Process: &specs.Process{
			Args:            []string{"/bin/sh", "-c", o.script},
			Env:             []string{"PATH=/bin"},
			Cwd:             "/",
			NoNewPrivileges: true,
		},
		Hostname:    "agent-test",
		Annotations: o.annotations,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			Seccomp: &specs.LinuxSeccomp{
				DefaultAction:    specs.ActAllow,
				ListenerPath:     o.listener,
				ListenerMetadata: o.metadata,
				Syscalls:         notifyRules(o.notify),
			},
		},
	}
	if o.userns {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces,
			specs.LinuxNamespace{Type: specs.UserNamespace}, specs.LinuxNamespace{Type: specs.NetworkNamespace})
		m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: usernsBase, Size: 65536}}
		spec.Linux.UIDMappings, spec.Linux.GIDMappings = m, m
	}
	if o.caps != nil {
		spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: o.caps, Effective: o.caps, Permitted: o.caps, Inheritable: o.caps}
	}
	if o.memoryLimit != 0 {
		spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &o.memoryLimit}}
	}
	if o.seccomp != nil {
		sc := *o.seccomp
		sc.ListenerPath = o.listener
		spec.Linux.Seccomp = &sc
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// notifyRules returns the rule that notifies names, none for no names.
func notifyRules(names []string) []specs.LinuxSyscall {
	if len(names) == 0 {
		return nil
	}
	return []specs.LinuxSyscall{{Names: names, Action: specs.ActNotify}}
}

// An ociRuntime runs containers with runc or crun, each with its own state
// directory, and deletes every container it started when the test ends.
type ociRuntime struct {
	name string
	root string // --root state directory
}

// runtimes returns the runtimes to test with, as subtests run them.
func forRuntimes(t *testing.T, f func(t *testing.T, rt *ociRuntime)) {
	for _, name := range []string{"runc", "crun"} {
		t.Run(name, func(t *testing.T) { f(t, newRuntime(t, name)) })
	}
}

func newRuntime(t testing.TB, name string) *ociRuntime {
	t.Helper()
	sectest.RequireTool(t, name)
	if name == "crun" {
		sectest.RequireTool(t, "unshare")
	}
	return &ociRuntime{name: name, root: t.TempDir()}
}

// command returns the command for "runtime args..."; crun runs in its own
// mount namespace without the cgroup v2 hierarchy, since it refuses this
// machine's hybrid cgroup layout.
func (r *ociRuntime) command(ctx context.Context, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if r.name == "crun" {
		script := `umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root "$0" --cgroup-manager=disabled "$@"`
		cmd = exec.CommandContext(ctx, "unshare", append([]string{"-m", "sh", "-c", script, r.root}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, "runc", append([]string{"--root", r.root}, args...)...)
	}
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// delete removes container id, killing what still runs in it.
func (r *ociRuntime) delete(t testing.TB, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := r.command(ctx, "delete", "-f", id).CombinedOutput()
	if err != nil && !bytes.Contains(out, []byte("does not exist")) && !bytes.Contains(out, []byte("not exist")) {
		t.Logf("%s delete -f %s: %v: %s", r.name, id, err, out)
	}
}

// container is a "runtime run" in progress.
type container struct {
	id    string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *lockedBuffer
	lines chan string // stdout and stderr, line by line
	done  chan struct{}
	err   error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start starts "runtime run" of bundle as container id in the foreground
// (the container's stdio is the command's). The container is deleted and
// the command reaped when the test ends.
func (r *ociRuntime) start(t testing.TB, ctx context.Context, bundle, id string) *container {
	t.Helper()
	c := &container{id: id, out: new(lockedBuffer), lines: make(chan string, 100), done: make(chan struct{})}
	c.cmd = r.command(ctx, "run", "--bundle", bundle, id)
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdin = stdin
	pr, pw := io.Pipe()
	c.cmd.Stdout = io.MultiWriter(c.out, pw)
	c.cmd.Stderr = c.cmd.Stdout
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		buf := make([]byte, 0, 256)
		b := make([]byte, 1)
		for {
			if _, err := pr.Read(b); err != nil {
				return
			}
			if b[0] != '\n' {
				buf = append(buf, b[0])
				continue
			}
			select {
			case c.lines <- string(buf):
			default: // nobody reads lines: keep going
			}
			buf = buf[:0]
		}
	}()
	go func() {
		c.err = c.cmd.Wait()
		pw.Close()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		r.delete(t, id)
		select {
		case <-c.done:
		case <-time.After(60 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// wait waits for the run command to end and returns its output.
func (c *container) wait(t testing.TB) string {
	t.Helper()
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(120 * time.Second):
		t.Fatalf("container %s still running after 120s; output: %s", c.id, c.out)
	}
	if c.err != nil {
		t.Logf("container %s: %v", c.id, c.err)
	}
	return c.out.String()
}

// waitLine returns the first output line containing s.
func (c *container) waitLine(t testing.TB, s string) string {
	t.Helper()
	timeout := time.After(120 * time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("container %s ended without a line containing %q; output: %s", c.id, s, c.out)
			}
			if strings.Contains(l, s) {
				return l
			}
		case <-timeout:
			t.Fatalf("container %s: no line containing %q within 120s; output: %s", c.id, s, c.out)
		}
	}
}

// waitOutput waits until the container's output (stdout and stderr, in
// whatever order they came) contains s.
func (c *container) waitOutput(t testing.TB, s string) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for !strings.Contains(c.out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("container %s: no %q in its output within 120s: %s", c.id, s, c.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
