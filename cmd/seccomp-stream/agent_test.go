package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysargs/sysargstest"
	"github.com/seccompstream/seccompstream/policy"
)

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
	spec := ocitest.Spec(rootfs, "/bin/sh", "-c", script)
	spec.Hostname = "cli-test"
	spec.Annotations = annotations
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}})
	spec.Linux.Seccomp = sc
	return ocitest.WriteBundle(t, spec)
}

// startAgentCLI runs "seccomp-stream agent --socket SOCK args..." in
// process until the test ends, and returns the socket and its stdout and
// stderr.
func startAgentCLI(t *testing.T, args ...string) (socket string, stdout, stderr *sectest.Buffer) {
	t.Helper()
	return startAgentCLIAt(t, filepath.Join(t.TempDir(), "agent.sock"), args...)
}

// startAgentCLIAt is startAgentCLI on the socket path socket.
func startAgentCLIAt(t *testing.T, socket string, args ...string) (_ string, stdout, stderr *sectest.Buffer) {
	t.Helper()
	stdout, stderr = new(sectest.Buffer), new(sectest.Buffer)
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
	stderr.WaitFor(t, "listening")
	return socket, stdout, stderr
}

// TestAgentCLIDeny: --deny fails mkdir in a runc container with the errno
// given, and the trace line names the container and the path.
func TestAgentCLIDeny(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	socket, stdout, stderr := startAgentCLI(t, "--deny", "mkdir:EDQUOT,mkdirat:EDQUOT")
	bundle := agentBundle(t, cliRootfs(t), socket, `mkdir /tmp/x; echo "rc=$?"`, nil)
	_, out := rt.Run(t, bundle, "cli-deny")
	if !strings.Contains(strings.ToLower(out), "/tmp/x': disk quota exceeded") || !strings.Contains(out, "rc=1") {
		t.Errorf("container output %q, want mkdir to fail with EDQUOT", out)
	}
	stdout.WaitFor(t, "= EDQUOT\n")
	line := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(line, "cli-deny ") || !strings.Contains(line, `"/tmp/x"`) || strings.Count(line, "\n") != 0 {
		t.Errorf("trace %q, want one line: cli-deny PID mkdir(\"/tmp/x\", ...) = EDQUOT", line)
	}
	stderr.WaitFor(t, "container stream ended")
	if !strings.Contains(stderr.String(), "container=cli-deny") {
		t.Errorf("log does not name the container:\n%s", stderr)
	}
}

// TestAgentCLIJSON: --json lines carry the container id and the decoded
// call.
func TestAgentCLIJSON(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	socket, stdout, _ := startAgentCLI(t, "--trace", "mkdir,mkdirat", "--json")
	bundle := agentBundle(t, cliRootfs(t), socket, `mkdir /tmp/y && echo made`, nil)
	_, out := rt.Run(t, bundle, "cli-json")
	if !strings.Contains(out, "made") {
		t.Errorf("traced mkdir must run: output %q", out)
	}
	stdout.WaitFor(t, "\n")
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
	rt := ocitest.NewRuntime(t, "runc")
	policy := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(policy, []byte(`{
  "syscalls": {"mkdir": "trace", "mkdirat": "trace"},
  "containers": [
    {"match": {"annotations": {"sandbox": "strict"}},
     "syscalls": {"mkdir": "deny:EACCES", "mkdirat": "deny:EACCES"}}
  ]
}`), 0o644)
	socket, stdout, _ := startAgentCLI(t, "--policy", policy)
	rootfs := cliRootfs(t)

	strict := agentBundle(t, rootfs, socket, `mkdir /tmp/strict; echo "rc=$?"`, map[string]string{"sandbox": "strict"})
	_, out := rt.Run(t, strict, "cli-strict")
	if !strings.Contains(strings.ToLower(out), "/tmp/strict': permission denied") {
		t.Errorf("strict container output %q, want EACCES", out)
	}
	loose := agentBundle(t, rootfs, socket, `mkdir /tmp/loose; echo "rc=$?"`, map[string]string{"sandbox": "none"})
	_, out = rt.Run(t, loose, "cli-loose")
	if !strings.Contains(out, "rc=0") {
		t.Errorf("loose container output %q, want mkdir to succeed", out)
	}
	stdout.WaitFor(t, "cli-loose ")
	stdout.WaitFor(t, "= continue\n")
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

// startAgentProcess starts cmd, an agent in a process of its own, and
// returns once it listens, with a channel closed when it has exited and
// been reaped. The agent is killed and reaped when the test ends.
func startAgentProcess(t *testing.T, cmd *exec.Cmd) (exited <-chan struct{}) {
	t.Helper()
	stderr := new(sectest.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	stderr.WaitFor(t, "listening")
	return done
}

// TestAgentCLIKilled runs the built command as the agent and kills it
// while a container runs: the container's next notified call fails with
// ENOSYS and the container ends normally.
func TestAgentCLIKilled(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	sectest.RequireTool(t, "go")
	bin := buildCLI(t)
	socket := filepath.Join(t.TempDir(), "agent.sock")
	agentCmd := exec.Command(bin, "agent", "--socket", socket, "--deny", "mkdir:EDQUOT,mkdirat:EDQUOT")
	agentDone := startAgentProcess(t, agentCmd)

	bundle := agentBundle(t, cliRootfs(t), socket, `mkdir /tmp/a; echo "a=$?"; read x; mkdir /tmp/c; echo "c=$?"`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ctr := rt.Start(t, ctx, bundle, "cli-killed")
	ctr.WaitOutput(t, "a=1")
	agentCmd.Process.Kill()
	<-agentDone
	if _, err := ctr.Stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	out := ctr.Wait(t)
	if err := ctr.Err(); err != nil {
		t.Errorf("runc run: %v", err)
	}
	got := strings.ToLower(out)
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
	rt := ocitest.NewRuntime(t, "runc")
	helper := sysargstest.BuildABI(t)
	socket, stdout, _ := startAgentCLI(t, "--deny", "getpid:EXDEV")
	rootfs := cliRootfs(t)
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
	_, out := rt.Run(t, bundle, "cli-i386")
	if strings.TrimSpace(out) != "-18" {
		t.Errorf("container output %q, want -18 (EXDEV)", out)
	}
	// runc's own code in the container makes native getpid calls too.
	stdout.WaitFor(t, "i386")
	stdout.WaitFor(t, "= EXDEV\n")
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
