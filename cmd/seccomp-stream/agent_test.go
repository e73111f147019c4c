package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysargs/sysargstest"
	"github.com/seccompstream/seccompstream/policy"
)

// agentRootfs makes a rootfs with busybox (busybox-static) in it.
func agentRootfs(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(sectest.RequireTool(t, "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "mkdir", "echo"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// agentBundle writes a bundle that runs script with mkdir and mkdirat sent
// to the agent at socket.
func agentBundle(t *testing.T, rootfs, socket, script string, annotations map[string]string) string {
	t.Helper()
	return agentBundleSeccomp(t, rootfs, script, annotations, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		ListenerPath:  socket,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
	})
}

// agentBundleSeccomp writes a bundle that runs script under the seccomp
// section sc.
func agentBundleSeccomp(t *testing.T, rootfs, script string, annotations map[string]string, sc *specs.LinuxSeccomp) string {
	t.Helper()
	spec := &specs.Spec{
		Version:     "1.0.2",
		Root:        &specs.Root{Path: rootfs},
		Process:     &specs.Process{Args: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/bin"}, Cwd: "/", NoNewPrivileges: true},
		Hostname:    "cli-test",
		Annotations: annotations,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace}},
			Seccomp:    sc,
		},
	}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// agentRunc runs the bundle with runc in the foreground and returns its
// output. The container is deleted when the test ends.
func agentRunc(t *testing.T, state, bundle, id string) string {
	t.Helper()
	sectest.RequireTool(t, "runc")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	t.Cleanup(func() {
		exec.Command("runc", "--root", state, "delete", "-f", id).Run()
	})
	cmd := exec.CommandContext(ctx, "runc", "--root", state, "run", "--bundle", bundle, id)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("runc run %s: %v", id, err)
	}
	return string(out)
}

// syncBuffer is an io.Writer for concurrent writers that can wait for
// what was written.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor waits until the buffer contains s.
func (b *syncBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for !strings.Contains(b.String(), s) {
		select {
		case <-b.changed:
		case <-timeout:
			t.Fatalf("no %q within 60s in:\n%s", s, b)
		}
	}
}

// startAgentCLI runs "seccomp-stream agent --socket SOCK args..." in
// process until the test ends, and returns the socket and its stdout and
// stderr.
func startAgentCLI(t *testing.T, args ...string) (socket string, stdout, stderr *syncBuffer) {
	t.Helper()
	return startAgentCLIAt(t, filepath.Join(t.TempDir(), "agent.sock"), args...)
}

// startAgentCLIAt is startAgentCLI on the socket path socket.
func startAgentCLIAt(t *testing.T, socket string, args ...string) (_ string, stdout, stderr *syncBuffer) {
	t.Helper()
	stdout, stderr = newSyncBuffer(), newSyncBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"agent", "--socket", socket}, args...), strings.NewReader(""), stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("agent exit status %d; stderr:\n%s", code, stderr)
			}
		case <-time.After(60 * time.Second):
			t.Error("agent did not stop within 60s")
		}
	})
	stderr.waitFor(t, "listening")
	return socket, stdout, stderr
}

// TestAgentCLIDeny: --deny fails mkdir in a runc container with the errno
// given, and the trace line names the container and the path.
func TestAgentCLIDeny(t *testing.T) {
	sectest.RequireTool(t, "runc")
	socket, stdout, stderr := startAgentCLI(t, "--deny", "mkdir:EDQUOT,mkdirat:EDQUOT")
	bundle := agentBundle(t, agentRootfs(t), socket, `mkdir /tmp/x; echo "rc=$?"`, nil)
	out := agentRunc(t, t.TempDir(), bundle, "cli-deny")
	if !strings.Contains(strings.ToLower(out), "/tmp/x': disk quota exceeded") || !strings.Contains(out, "rc=1") {
		t.Errorf("container output %q, want mkdir to fail with EDQUOT", out)
	}
	stdout.waitFor(t, "= EDQUOT\n")
	line := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(line, "cli-deny ") || !strings.Contains(line, `"/tmp/x"`) || strings.Count(line, "\n") != 0 {
		t.Errorf("trace %q, want one line: cli-deny PID mkdir(\"/tmp/x\", ...) = EDQUOT", line)
	}
	stderr.waitFor(t, "container stream ended")
	if !strings.Contains(stderr.String(), "container=cli-deny") {
		t.Errorf("log does not name the container:\n%s", stderr)
	}
}

// TestAgentCLIJSON: --json lines carry the container id and the decoded
// call.
func TestAgentCLIJSON(t *testing.T) {
	sectest.RequireTool(t, "runc")
	socket, stdout, _ := startAgentCLI(t, "--trace", "mkdir,mkdirat", "--json")
	bundle := agentBundle(t, agentRootfs(t), socket, `mkdir /tmp/y && echo made`, nil)
	out := agentRunc(t, t.TempDir(), bundle, "cli-json")
	if !strings.Contains(out, "made") {
		t.Errorf("traced mkdir must run: output %q", out)
	}
	stdout.waitFor(t, "\n")
	var rec struct {
		Container string   `json:"container"`
		PID       int      `json:"pid"`
		Syscall   string   `json:"syscall"`
		Args      []string `json:"args"`
		Decision  string   `json:"decision"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout.String())), &rec); err != nil {
		t.Fatalf("trace %q: %v", stdout, err)
	}
	if rec.Container != "cli-json" || rec.PID <= 0 || !strings.HasPrefix(rec.Syscall, "mkdir") ||
		!strings.Contains(strings.Join(rec.Args, ","), `"/tmp/y"`) || rec.Decision != "continue" {
		t.Errorf("trace record %+v", rec)
	}
}

// TestAgentCLIPolicy: a policy file denies mkdir to containers with an
// annotation, and traces it for the others.
func TestAgentCLIPolicy(t *testing.T) {
	sectest.RequireTool(t, "runc")
	policy := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(policy, []byte(`{
  "syscalls": {"mkdir": "trace", "mkdirat": "trace"},
  "containers": [
    {"match": {"annotations": {"sandbox": "strict"}},
     "syscalls": {"mkdir": "deny:EACCES", "mkdirat": "deny:EACCES"}}
  ]
}`), 0o644)
	socket, stdout, _ := startAgentCLI(t, "--policy", policy)
	rootfs := agentRootfs(t)
	state := t.TempDir()

	strict := agentBundle(t, rootfs, socket, `mkdir /tmp/strict; echo "rc=$?"`, map[string]string{"sandbox": "strict"})
	out := agentRunc(t, state, strict, "cli-strict")
	if !strings.Contains(strings.ToLower(out), "/tmp/strict': permission denied") {
		t.Errorf("strict container output %q, want EACCES", out)
	}
	loose := agentBundle(t, rootfs, socket, `mkdir /tmp/loose; echo "rc=$?"`, map[string]string{"sandbox": "none"})
	out = agentRunc(t, state, loose, "cli-loose")
	if !strings.Contains(out, "rc=0") {
		t.Errorf("loose container output %q, want mkdir to succeed", out)
	}
	stdout.waitFor(t, "cli-loose ")
	stdout.waitFor(t, "= continue\n")
	trace := stdout.String()
	for _, want := range []string{`"/tmp/strict"`, "= EACCES", `"/tmp/loose"`} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace lacks %q:\n%s", want, trace)
		}
	}
}

func TestAgentCLIUsage(t *testing.T) {
	dir := t.TempDir()
	badPolicy := filepath.Join(dir, "bad.json")
	os.WriteFile(badPolicy, []byte(`{"syscalls":{"mkdri":"deny"}}`), 0o644)
	sock := filepath.Join(dir, "s.sock")
	for _, tc := range []struct {
		args []string
		code int
		text string
	}{
		{[]string{"agent", "--help"}, 0, "--socket PATH"},
		{[]string{"help", "agent"}, 0, "--policy FILE"},
		{[]string{"agent"}, exitUsage, "--socket is required"},
		{[]string{"agent", "--socket", sock, "--deny", "mkdri"}, exitUsage, `unknown system call "mkdri"`},
		{[]string{"agent", "--socket", sock, "--policy", badPolicy, "--deny", "mkdir"}, exitUsage, "cannot be combined"},
		{[]string{"agent", "--socket", sock, "--policy", badPolicy}, exitUsage, `unknown system call "mkdri"`},
		{[]string{"agent", "--socket", sock, "--policy", filepath.Join(dir, "none.json")}, exitUsage, "no such file"},
		{[]string{"agent", "--socket", sock, "extra"}, exitUsage, "unexpected arguments"},
		{[]string{"agent", "--bogus"}, exitUsage, "flag provided but not defined"},
		{[]string{"agent", "--socket", badPolicy}, exitFailure, "not a socket"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.text) {
			t.Errorf("%q: status %d, output %q; want %d and %q", tc.args, code, stdout+stderr, tc.code, tc.text)
		}
	}
}

// TestAgentCLIKilled runs the built command as the agent and kills it
// while a container runs: the container's next notified call fails with
// ENOSYS and the container ends normally.
func TestAgentCLIKilled(t *testing.T) {
	sectest.RequireTool(t, "runc")
	sectest.RequireTool(t, "go")
	bin := buildCLI(t)
	socket := filepath.Join(t.TempDir(), "agent.sock")
	agentErr := newSyncBuffer()
	agentCmd := exec.Command(bin, "agent", "--socket", socket, "--deny", "mkdir:EDQUOT,mkdirat:EDQUOT")
	agentCmd.Stderr = agentErr
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	agentDone := make(chan struct{})
	go func() { agentCmd.Wait(); close(agentDone) }()
	t.Cleanup(func() { agentCmd.Process.Kill(); <-agentDone })
	agentErr.waitFor(t, "listening")

	state := t.TempDir()
	id := "cli-killed"
	bundle := agentBundle(t, agentRootfs(t), socket, `mkdir /tmp/a; echo "a=$?"; read x; mkdir /tmp/c; echo "c=$?"`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdinW.Close()
	out := newSyncBuffer()
	ctr := exec.CommandContext(ctx, "runc", "--root", state, "run", "--bundle", bundle, id)
	ctr.Stdin, ctr.Stdout, ctr.Stderr = stdinR, out, out
	ctr.WaitDelay = 10 * time.Second
	if err := ctr.Start(); err != nil {
		t.Fatal(err)
	}
	stdinR.Close()
	ctrDone := make(chan error, 1)
	go func() { ctrDone <- ctr.Wait() }()
	t.Cleanup(func() {
		exec.Command("runc", "--root", state, "delete", "-f", id).Run()
		stdinW.Close()
		<-ctrDone
	})

	out.waitFor(t, "a=1")
	agentCmd.Process.Kill()
	<-agentDone
	stdinW.Write([]byte("go\n"))
	if err := <-ctrDone; err != nil {
		t.Errorf("runc run: %v", err)
	}
	ctrDone <- nil // for the cleanup
	got := strings.ToLower(out.String())
	for _, want := range []string{"/tmp/a': disk quota exceeded", "/tmp/c': function not implemented", "c=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("container output lacks %q:\n%s", want, got)
		}
	}
}

// TestAgentCLII386: a container's i386 getpid (int $0x80), which its
// profile notifies for SCMP_ARCH_X86, is decided by --deny getpid and shown
// by its i386 name.
func TestAgentCLII386(t *testing.T) {
	sectest.RequireTool(t, "runc")
	helper := sysargstest.BuildABI(t)
	socket, stdout, _ := startAgentCLI(t, "--deny", "getpid:EXDEV")
	rootfs := agentRootfs(t)
	data, err := os.ReadFile(helper)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "abi"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	bundle := agentBundleSeccomp(t, rootfs, "/bin/abi i386 "+i386Getpid, nil, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		ListenerPath:  socket,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActNotify}},
	})
	out := agentRunc(t, t.TempDir(), bundle, "cli-i386")
	if strings.TrimSpace(out) != "-18" {
		t.Errorf("container output %q, want -18 (EXDEV)", out)
	}
	// runc's own code in the container makes native getpid calls too.
	stdout.waitFor(t, "i386")
	stdout.waitFor(t, "= EXDEV\n")
	if trace := stdout.String(); !regexp.MustCompile(`(?m)^cli-i386 \d+ getpid.*i386.*= EXDEV$`).MatchString(trace) {
		t.Errorf("trace lacks a line cli-i386 PID getpid[i386](...) = EXDEV:\n%s", trace)
	}
}

// agentPolicy: no rule flags shows every notified call; lists and files
// give their rules; a file and lists together are refused.
func TestAgentPolicyFromFlags(t *testing.T) {
	p, err := agentPolicy("", nil, nil)
	if err != nil || p.Rules.Default != policy.Trace || len(p.Rules.Syscalls) != 0 {
		t.Errorf("no flags: %+v, %v", p, err)
	}
	p, err = agentPolicy("", []string{"openat"}, []string{"mkdir,mkdirat:EACCES"})
	if err != nil || p.Rules.Default != policy.Allow || p.Rules.Action("mkdir") != policy.Deny(syscall.EACCES) ||
		p.Rules.Action("openat") != policy.Trace {
		t.Errorf("lists: %+v, %v", p, err)
	}
	file := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(file, []byte(`{"syscalls":{"mkdir":"allow"}}`), 0o644)
	p, err = agentPolicy(file, nil, nil)
	if err != nil || p.Rules.Default != policy.Trace || p.Rules.Action("mkdir") != policy.Allow {
		t.Errorf("file: %+v, %v", p, err)
	}
	if _, err := agentPolicy(file, nil, []string{"mkdir"}); err == nil || !strings.Contains(err.Error(), "cannot be combined") {
		t.Errorf("file and lists: %v", err)
	}
}
