package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// A sandboxed program of the supervisor's own uid cannot open the
// supervisor's memory: under a network-only policy no path is looked at,
// so run makes itself non-dumpable first. The supervisor runs as uid
// 65534 here (the test binary copied where that uid may execute it, in
// its "cli" helper mode), the program as the same uid.
func TestRunSandboxSupervisorMemory(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(sectest.PublicDir(t), "seccomp-stream")
	copyFile(t, self, bin, 0o755)

	// The program opens its parent's (the supervisor's) memory.
	const probe = `if (exec 3</proc/$PPID/mem) 2>/dev/null; then echo OPENED; else echo REFUSED; fi`
	cli := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), sectest.Patience)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append(args, "--", "/bin/sh", "-c", probe)...)
		cmd.Env = append(os.Environ(), envHelper+"=cli")
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", args, err, out)
		}
		return string(out)
	}

	// The premise: without the change, a program of the same uid opens it
	// (unless Yama restricts ptrace to descendants).
	yama, _ := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	out := cli("run", "--trace", "getppid")
	switch {
	case strings.TrimSpace(string(yama)) != "" && strings.TrimSpace(string(yama)) != "0":
		t.Logf("Yama ptrace_scope %s: the unsandboxed run gave %q", strings.TrimSpace(string(yama)), out)
	case !strings.Contains(out, "OPENED"):
		t.Fatalf("without a policy the program could not open its parent's memory, so the test proves nothing:\n%s", out)
	}

	out = cli("run", "--allow-connect", "127.0.0.1:1")
	if !strings.Contains(out, "REFUSED") || strings.Contains(out, "OPENED") {
		t.Fatalf("under a network policy the program opened the supervisor's memory:\n%s", out)
	}
}

// The agent makes itself non-dumpable too: a container process of the
// agent's uid (under a network-only policy nothing looks at its paths)
// cannot open the agent's memory. The agent runs as uid 65534 here, and a
// process of that uid tries.
func TestAgentSupervisorMemory(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := sectest.PublicDir(t)
	bin := filepath.Join(dir, "seccomp-stream")
	copyFile(t, self, bin, 0o755)
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}

	sockDir := filepath.Join(dir, "sock")
	if err := os.Mkdir(sockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(sockDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	agentErr := new(sectest.Buffer)
	agent := exec.Command(bin, "agent", "--socket", filepath.Join(sockDir, "agent.sock"), "--deny", "mkdir")
	agent.Env = append(os.Environ(), envHelper+"=cli")
	agent.Dir = "/"
	agent.Stderr = agentErr
	agent.SysProcAttr = nobody
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { agent.Wait(); close(done) }()
	t.Cleanup(func() { agent.Process.Kill(); <-done })
	agentErr.WaitFor(t, "listening")

	probe := exec.Command("/bin/sh", "-c", fmt.Sprintf(`if (exec 3</proc/%d/mem) 2>/dev/null; then echo OPENED; else echo REFUSED; fi`, agent.Process.Pid))
	probe.Dir = "/"
	probe.SysProcAttr = nobody
	out, err := probe.CombinedOutput()
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "REFUSED") {
		t.Fatalf("a process of the agent's uid opened its memory: %s", out)
	}
	// The premise: the same probe opens a dumpable process of that uid.
	sleeper := exec.Command("/bin/sh", "-c", "read x")
	sleeper.SysProcAttr = nobody
	hold, err := sleeper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { hold.Close(); sleeper.Process.Kill(); sleeper.Wait() }()
	probe = exec.Command("/bin/sh", "-c", fmt.Sprintf(`if (exec 3</proc/%d/mem) 2>/dev/null; then echo OPENED; else echo REFUSED; fi`, sleeper.Process.Pid))
	probe.Dir = "/"
	probe.SysProcAttr = nobody
	out, _ = probe.CombinedOutput()
	yama, _ := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	if y := strings.TrimSpace(string(yama)); (y == "" || y == "0") && !strings.Contains(string(out), "OPENED") {
		t.Fatalf("the probe could not open a dumpable process's memory either, so the test proves nothing: %s", out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
