package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/profile"
)

// ociRuntime runs bundles with runc or crun, with a state directory of its
// own. crun runs in a mount namespace without the cgroup2 "unified" mount:
// it refuses this machine's hybrid cgroup layout.
type ociRuntime struct {
	name, root string
}

func newOCIRuntime(t *testing.T, name string) *ociRuntime {
	t.Helper()
	sectest.RequireTool(t, name)
	if name == "crun" {
		sectest.RequireTool(t, "unshare")
	}
	return &ociRuntime{name: name, root: t.TempDir()}
}

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

// id makes a container id no other test process uses (cgroup paths are
// named after it and are global).
func (r *ociRuntime) id(name string) string {
	return fmt.Sprintf("rec-%s-%s-%d", name, r.name, os.Getpid())
}

// cleanup deletes container id (killed if it runs) when the test ends.
func (r *ociRuntime) cleanup(t *testing.T, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if out, err := r.command(ctx, "delete", "-f", id).CombinedOutput(); err != nil && !bytes.Contains(out, []byte("not exist")) {
			t.Logf("%s delete -f %s: %v: %s", r.name, id, err, out)
		}
	})
}

// run runs the bundle's container in the foreground and returns its exit
// status and output.
func (r *ociRuntime) run(t *testing.T, bundle, id string) (int, string) {
	t.Helper()
	r.cleanup(t, id)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := r.command(ctx, "run", "--bundle", bundle, id)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s run %s: still running after 120s; output:\n%s", r.name, id, out.String())
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s run: %v", r.name, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// recordBundle writes a bundle that runs args in rootfs with seccompJSON,
// exactly as given, as its linux.seccomp.
func recordBundle(t *testing.T, rootfs string, seccompJSON []byte, args ...string) string {
	t.Helper()
	spec := map[string]any{
		"ociVersion": "1.0.2",
		"root":       map[string]any{"path": rootfs},
		"hostname":   "record-test",
		"process": map[string]any{
			"args": args, "env": []string{"PATH=/bin"}, "cwd": "/",
			"noNewPrivileges": true, "user": map[string]any{"uid": 0, "gid": 0},
		},
		"mounts": []map[string]any{
			{"destination": "/proc", "type": "proc", "source": "proc"},
			{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
		},
		"linux": map[string]any{
			"namespaces": []map[string]string{{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}},
			"seccomp":    json.RawMessage(seccompJSON),
		},
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

// recordRootfs is agentRootfs with the applets these tests use.
func recordRootfs(t *testing.T) string {
	t.Helper()
	root := agentRootfs(t)
	for _, a := range []string{"true", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// withoutCalls returns the profile file b without the calls names.
func withoutCalls(t *testing.T, b []byte, names ...string) []byte {
	t.Helper()
	p, err := profile.Parse("", b)
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range p.Arches() {
		for _, n := range names {
			p.Delete(arch, n)
		}
	}
	out, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecordBaseRuntimes records the bare busybox program a container
// runs (on the host, from the container's rootfs) with --base runc and
// --base crun, and runs the container under that file, unchanged, with the
// runtime: it runs; without mkdir it fails as a kernel without mkdir
// would make it fail.
func TestRecordBaseRuntimes(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the bases are measured on x86_64")
	}
	for _, name := range []string{"runc", "crun"} {
		t.Run(name, func(t *testing.T) {
			rt := newOCIRuntime(t, name)
			rootfs := recordRootfs(t)
			host := t.TempDir()
			// The same binary and applets as in the container: PATH is
			// the rootfs's /bin.
			t.Setenv("PATH", filepath.Join(rootfs, "bin")+":"+os.Getenv("PATH"))
			const script = `mkdir "$0/d" && echo made`
			prof := filepath.Join(t.TempDir(), "sh.json")
			code, stdout, stderr := runCLI(t, "record", "--base", name, "-o", prof, "--", "sh", "-c", script, host)
			if code != 0 || stdout != "made\n" {
				t.Fatalf("record: exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
			}
			b, err := os.ReadFile(prof)
			if err != nil {
				t.Fatal(err)
			}
			code, out := rt.run(t, recordBundle(t, rootfs, b, "/bin/sh", "-c", script, "/tmp"), rt.id("base"))
			if code != 0 || out != "made\n" {
				t.Fatalf("%s under the recorded profile: exit %d, output:\n%s\nprofile:\n%s", name, code, out, b)
			}
			code, out = rt.run(t, recordBundle(t, rootfs, withoutCalls(t, b, "mkdir", "mkdirat"), "/bin/sh", "-c", script, "/tmp"), rt.id("miss"))
			if code == 0 || strings.Contains(out, "made") || !strings.Contains(out, "Function not implemented") {
				t.Errorf("%s without mkdir: exit %d, output:\n%s", name, code, out)
			}

			// Without the base the runtime's own calls are missing: how
			// that ends depends on the runtime (logged, not asserted).
			code, _, stderr = runCLI(t, "record", "-o", prof, "--", "sh", "-c", script, t.TempDir())
			if code != 0 {
				t.Fatalf("record without base: exit %d; stderr:\n%s", code, stderr)
			}
			b, _ = os.ReadFile(prof)
			code, out = rt.run(t, recordBundle(t, rootfs, b, "/bin/sh", "-c", script, "/tmp"), rt.id("nobase"))
			t.Logf("%s under the profile without --base: exit %d, output %q", name, code, out)
		})
	}
}

// recordingSeccomp is a linux.seccomp that hands every call of the native
// ABI to the agent at socket, except write (runc refuses to notify it).
func recordingSeccomp(socket string) *specs.LinuxSeccomp {
	var names []string
	for _, n := range sysnames.Names(sysnames.Native()) {
		if n != "write" {
			names = append(names, n)
		}
	}
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		ListenerPath:  socket,
		Syscalls:      []specs.LinuxSyscall{{Names: names, Action: specs.ActNotify}},
	}
}

// waitFile waits until the agent has written name.
func waitFile(t *testing.T, stderr *syncBuffer, name string) []byte {
	t.Helper()
	stderr.waitFor(t, "file="+name)
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAgentRecord records containers through "agent --record DIR" (runc
// and crun): DIR/ID.json is written when the container ends, has the
// runtime's own calls as well as the workload's, and runs the container
// unchanged.
func TestAgentRecord(t *testing.T) {
	for _, name := range []string{"runc", "crun"} {
		t.Run(name, func(t *testing.T) {
			rt := newOCIRuntime(t, name)
			dir := t.TempDir()
			// --record-base: runc's Go runtime makes some calls at
			// times only, which one recording may miss.
			socket, stdout, stderr := startAgentCLI(t, "--record", dir, "--record-base", name)
			rootfs := recordRootfs(t)
			sc, err := json.Marshal(recordingSeccomp(socket))
			if err != nil {
				t.Fatal(err)
			}
			const script = "mkdir /tmp/d && echo made"
			id := rt.id("agent")
			code, out := rt.run(t, recordBundle(t, rootfs, sc, "/bin/sh", "-c", script), id)
			if code != 0 || out != "made\n" {
				t.Fatalf("recording run: exit %d, output:\n%s", code, out)
			}
			b := waitFile(t, stderr, filepath.Join(dir, id+".json"))
			if stdout.String() != "" {
				t.Errorf("--record alone shows no calls; stdout:\n%s", stdout)
			}
			requireNames(t, "agent recording", readSpec(t, b), "execve", "mkdir", "exit_group", "write")
			// The runtime's own calls before the workload's exec were
			// seen (counted), not only added by the base.
			p, err := profile.Parse("", b)
			if err != nil {
				t.Fatal(err)
			}
			native, _ := profile.NativeArch()
			seen := []string{"wait4", "kill", "mkdir"}
			if name == "runc" {
				seen = []string{"getdents64", "fstatfs", "epoll_ctl", "getpid", "mkdir"}
			}
			for _, n := range seen {
				if c, _ := p.Lookup(native, n); c.Count == 0 {
					t.Errorf("%s was not recorded (count %d)", n, c.Count)
				}
			}
			code, out = rt.run(t, recordBundle(t, rootfs, b, "/bin/sh", "-c", script), rt.id("enforce"))
			if code != 0 || out != "made\n" {
				t.Errorf("under the agent's recording: exit %d, output:\n%s", code, out)
			}
		})
	}
}

// TestAgentRecordExec: the init process of a runc container and a "runc
// exec" in it are recorded into the one profile of the container.
func TestAgentRecordExec(t *testing.T) {
	rt := newOCIRuntime(t, "runc")
	dir := t.TempDir()
	socket, _, stderr := startAgentCLI(t, "--record", dir)
	sc, err := json.Marshal(recordingSeccomp(socket))
	if err != nil {
		t.Fatal(err)
	}
	id := rt.id("exec")
	bundle := recordBundle(t, recordRootfs(t), sc, "/bin/sleep", "60")
	rt.cleanup(t, id)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// Detached, the container keeps runc's standard output: a file, so
	// that nothing waits for it to be closed.
	logFile, err := os.Create(filepath.Join(t.TempDir(), "runc.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	detached := rt.command(ctx, "run", "-d", "--bundle", bundle, id)
	detached.Stdout, detached.Stderr = logFile, logFile
	if err := detached.Run(); err != nil {
		out, _ := os.ReadFile(logFile.Name())
		t.Fatalf("runc run -d: %v: %s", err, out)
	}
	if out, err := rt.command(ctx, "exec", id, "/bin/mkdir", "/tmp/e").CombinedOutput(); err != nil {
		t.Fatalf("runc exec: %v: %s", err, out)
	}
	stderr.waitFor(t, "status=running") // the exec's stream arrived
	if out, err := rt.command(ctx, "kill", id, "KILL").CombinedOutput(); err != nil {
		t.Fatalf("runc kill: %v: %s", err, out)
	}
	p, err := profile.Parse("", waitFile(t, stderr, filepath.Join(dir, id+".json")))
	if err != nil {
		t.Fatal(err)
	}
	native, _ := profile.NativeArch()
	if !p.Has(native, "mkdir") && !p.Has(native, "mkdirat") {
		t.Errorf("the exec's mkdir is not in the profile: %v", p.Names(native))
	}
	if !p.Has(native, "nanosleep") && !p.Has(native, "clock_nanosleep") {
		t.Errorf("the init's sleep is not in the profile: %v", p.Names(native))
	}
}
