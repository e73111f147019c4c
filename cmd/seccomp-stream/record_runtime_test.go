package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/profile"
)

// cliRootfs is a busybox rootfs with the applets the tests of real
// containers use.
func cliRootfs(t *testing.T) string {
	return ocitest.BusyboxRootfs(t, "sh", "mkdir", "echo", "true", "sleep", "rmdir")
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
	ocitest.ForEachRuntime(t, func(t *testing.T, rt *ocitest.Runtime) {
		rootfs := cliRootfs(t)
		host := t.TempDir()
		// The same binary and applets as in the container: PATH is
		// the rootfs's /bin.
		t.Setenv("PATH", filepath.Join(rootfs, "bin")+":"+os.Getenv("PATH"))
		const script = `mkdir "$0/d" && echo made`
		prof := filepath.Join(t.TempDir(), "sh.json")
		code, stdout, stderr := runCLI(t, "record", "--base", rt.Name, "-o", prof, "--", "sh", "-c", script, host)
		if code != 0 || stdout != "made\n" {
			t.Fatalf("record: exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
		}
		b, err := os.ReadFile(prof)
		if err != nil {
			t.Fatal(err)
		}
		code, out := rt.Run(t, ocitest.Bundle(t, rootfs, b, "/bin/sh", "-c", script, "/tmp"), rt.ID("rec-base"))
		if code != 0 || out != "made\n" {
			t.Fatalf("%s under the recorded profile: exit %d, output:\n%s\nprofile:\n%s", rt.Name, code, out, b)
		}
		code, out = rt.Run(t, ocitest.Bundle(t, rootfs, withoutCalls(t, b, "mkdir", "mkdirat"), "/bin/sh", "-c", script, "/tmp"), rt.ID("rec-miss"))
		if code == 0 || strings.Contains(out, "made") || !strings.Contains(out, "Function not implemented") {
			t.Errorf("%s without mkdir: exit %d, output:\n%s", rt.Name, code, out)
		}

		// Without the base the runtime's own calls are missing: how
		// that ends depends on the runtime (logged, not asserted).
		code, _, stderr = runCLI(t, "record", "-o", prof, "--", "sh", "-c", script, t.TempDir())
		if code != 0 {
			t.Fatalf("record without base: exit %d; stderr:\n%s", code, stderr)
		}
		b, _ = os.ReadFile(prof)
		code, out = rt.Run(t, ocitest.Bundle(t, rootfs, b, "/bin/sh", "-c", script, "/tmp"), rt.ID("rec-nobase"))
		t.Logf("%s under the profile without --base: exit %d, output %q", rt.Name, code, out)
	})
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

// waitFile waits until the agent has written name n times.
func waitFile(t *testing.T, stderr *sectest.Buffer, name string, n int) []byte {
	t.Helper()
	stderr.WaitUntil(t, fmt.Sprintf("%d writes of %s", n, name), func(log string) bool { return countWrites(log, name) >= n })
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logOnFailure logs what the agent wrote on standard error if the test
// fails.
func logOnFailure(t *testing.T, agentErr *sectest.Buffer) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent's standard error:\n%s", agentErr)
		}
	})
}

// countWrites counts the agent's log lines that say it wrote file name.
func countWrites(log, name string) int {
	n := 0
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, "profile written") && strings.Contains(line, "file="+name+" ") {
			n++
		}
	}
	return n
}

// TestAgentRecord records containers through "agent --record DIR" (runc
// and crun): DIR/ID.json is written when the container ends, has the
// runtime's own calls as well as the workload's, and runs the container
// unchanged.
func TestAgentRecord(t *testing.T) {
	ocitest.ForEachRuntime(t, func(t *testing.T, rt *ocitest.Runtime) {
		dir := t.TempDir()
		// --record-base: runc's Go runtime makes some calls at
		// times only, which one recording may miss.
		socket, stdout, stderr := startAgentCLI(t, "--record", dir, "--record-base", rt.Name)
		logOnFailure(t, stderr)
		rootfs := cliRootfs(t)
		sc, err := json.Marshal(recordingSeccomp(socket))
		if err != nil {
			t.Fatal(err)
		}
		const script = "mkdir /tmp/d && echo made"
		id := rt.ID("rec-agent")
		code, out := rt.Run(t, ocitest.Bundle(t, rootfs, sc, "/bin/sh", "-c", script), id)
		if code != 0 || out != "made\n" {
			t.Fatalf("recording run: exit %d, output:\n%s", code, out)
		}
		b := waitFile(t, stderr, filepath.Join(dir, id+".json"), 1)
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
		if rt.Name == "runc" {
			seen = []string{"getdents64", "fstatfs", "epoll_ctl", "getpid", "mkdir"}
		}
		for _, n := range seen {
			if c, _ := p.Lookup(native, n); c.Count == 0 {
				t.Errorf("%s was not recorded (count %d)", n, c.Count)
			}
		}
		code, out = rt.Run(t, ocitest.Bundle(t, rootfs, b, "/bin/sh", "-c", script), rt.ID("rec-enforce"))
		if code != 0 || out != "made\n" {
			t.Errorf("under the agent's recording: exit %d, output:\n%s", code, out)
		}
	})
}

// TestAgentRecordExec: the init process of a runc container and a "runc
// exec" in it are recorded into the one profile of the container.
func TestAgentRecordExec(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	dir := t.TempDir()
	socket, _, stderr := startAgentCLI(t, "--record", dir)
	logOnFailure(t, stderr)
	sc, err := json.Marshal(recordingSeccomp(socket))
	if err != nil {
		t.Fatal(err)
	}
	id := rt.ID("rec-exec")
	bundle := ocitest.Bundle(t, cliRootfs(t), sc, "/bin/sleep", "60")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	rt.RunDetached(t, ctx, bundle, id)
	if out, err := rt.Command(ctx, "exec", id, "/bin/mkdir", "/tmp/e").CombinedOutput(); err != nil {
		t.Fatalf("runc exec: %v: %s", err, out)
	}
	stderr.WaitFor(t, "status=running") // the exec's stream arrived
	if out, err := rt.Command(ctx, "kill", id, "KILL").CombinedOutput(); err != nil {
		t.Fatalf("runc kill: %v: %s", err, out)
	}
	p, err := profile.Parse("", waitFile(t, stderr, filepath.Join(dir, id+".json"), 1))
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

	// A later container with the same id adds to the file.
	if out, err := rt.Command(ctx, "delete", "-f", id).CombinedOutput(); err != nil {
		t.Fatalf("runc delete: %v: %s", err, out)
	}
	if code, out := rt.Run(t, ocitest.Bundle(t, cliRootfs(t), sc, "/bin/rmdir", "/proc"), id); code == 0 {
		t.Fatalf("rmdir /proc succeeded: %s", out)
	}
	p, err = profile.Parse("", waitFile(t, stderr, filepath.Join(dir, id+".json"), 2))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Has(native, "rmdir") || !(p.Has(native, "mkdir") || p.Has(native, "mkdirat")) {
		t.Errorf("the second container's profile is not merged with the first's: %v", p.Names(native))
	}
	if !strings.Contains(stderr.String(), "recording merged with the profile already there") {
		t.Errorf("no log line for the merge:\n%s", stderr)
	}
}
