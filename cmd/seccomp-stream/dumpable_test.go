package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	_, bin := publicCLI(t)

	// The program opens its parent's (the supervisor's) memory.
	probe := memProbe("$PPID")
	cli := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), sectest.Patience)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append(args, "--", "/bin/sh", "-c", probe)...)
		cmd.Env = append(os.Environ(), envHelper+"=cli")
		cmd.Dir = "/"
		cmd.SysProcAttr = nobodyAttr()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", args, err, out)
		}
		return string(out)
	}

	// The premise: without the change, a program of the same uid opens it
	// (unless Yama restricts ptrace to descendants).
	out := cli("run", "--trace", "getppid")
	switch yama := yamaScope(); {
	case yama != "" && yama != "0":
		t.Logf("Yama ptrace_scope %s: the unsandboxed run gave %q", yama, out)
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
	dir, bin := publicCLI(t)
	nobody := nobodyAttr()
	// opens runs the probe as uid 65534 on pid's memory.
	opens := func(pid int) string {
		t.Helper()
		probe := exec.Command("/bin/sh", "-c", memProbe(strconv.Itoa(pid)))
		probe.Dir = "/"
		probe.SysProcAttr = nobody
		out, err := probe.CombinedOutput()
		if err != nil {
			t.Fatalf("probe: %v\n%s", err, out)
		}
		return string(out)
	}

	sockDir := filepath.Join(dir, "sock")
	if err := os.Mkdir(sockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(sockDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(bin, "agent", "--socket", filepath.Join(sockDir, "agent.sock"), "--deny", "mkdir")
	agent.Env = append(os.Environ(), envHelper+"=cli")
	agent.Dir = "/"
	agent.SysProcAttr = nobody
	startAgentProcess(t, agent)

	if out := opens(agent.Process.Pid); !strings.Contains(out, "REFUSED") {
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
	if out, y := opens(sleeper.Process.Pid), yamaScope(); (y == "" || y == "0") && !strings.Contains(out, "OPENED") {
		t.Fatalf("the probe could not open a dumpable process's memory either, so the test proves nothing: %s", out)
	}
}

// publicCLI copies the test binary into a directory that uid 65534 may
// execute from, where it runs as the CLI with envHelper=cli.
func publicCLI(t *testing.T) (dir, bin string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir = sectest.PublicDir(t)
	bin = filepath.Join(dir, "seccomp-stream")
	copyFile(t, self, bin, 0o755)
	return dir, bin
}

// nobodyAttr runs a command as uid and gid 65534.
func nobodyAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
}

// memProbe is a shell script that opens /proc/PID/mem (pid is a number or
// a shell expansion) and prints OPENED or REFUSED.
func memProbe(pid string) string {
	return `if (exec 3</proc/` + pid + `/mem) 2>/dev/null; then echo OPENED; else echo REFUSED; fi`
}

// yamaScope returns Yama's ptrace_scope, "" without Yama.
func yamaScope() string {
	b, _ := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	return strings.TrimSpace(string(b))
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
