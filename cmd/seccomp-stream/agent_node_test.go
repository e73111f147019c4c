package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// sendAs connects to the agent at path from a thread whose effective uid
// is uid (credentials are per thread in Linux, and SO_PEERCRED records
// the connecting thread's), and sends a state naming container id with a
// pipe's write end as "seccompFd". The thread is never given back to the
// runtime: it ends with its goroutine.
func sendAs(t *testing.T, path string, uid int, id string) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with its uid
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); e != 0 {
			done <- fmt.Errorf("setresuid: %w", e)
			return
		}
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			done <- fmt.Errorf("connect as uid %d: %w", uid, err)
			return
		}
		msg := `{"ociVersion":"1.0.2","fds":["seccompFd"],"pid":1,"state":{"ociVersion":"1.0.2","id":"` + id + `","status":"creating","pid":1,"bundle":"/b"}}`
		if err := unix.Sendmsg(fd, []byte(msg), unix.UnixRights(p[1]), nil, 0); err != nil && err != unix.EPIPE {
			done <- fmt.Errorf("sendmsg: %w", err)
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAgentCLIAllowUID: with the socket widened on purpose, a peer with
// uid 65534 is refused (logged with its uid) by default and read with
// --allow-uid 65534 (its message then rejected: a pipe is no listener).
func TestAgentCLIAllowUID(t *testing.T) {
	for _, allowed := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowed=%v", allowed), func(t *testing.T) {
			args := []string{"--socket-mode", "0666"}
			if allowed {
				args = append(args, "--allow-uid", "0", "--allow-uid", "65534")
			}
			socket, _, stderr := startAgentCLIAt(t, filepath.Join(sectest.PublicDir(t), "agent.sock"), args...)
			fi, err := os.Stat(socket)
			if err != nil || fi.Mode().Perm() != 0o666 {
				t.Fatalf("socket mode: %v, %v", fi.Mode(), err)
			}
			sendAs(t, socket, 65534, "nobody")
			if allowed {
				stderr.WaitFor(t, "not a seccomp listener")
				if strings.Contains(stderr.String(), "connection refused") {
					t.Errorf("allowed peer refused:\n%s", stderr)
				}
				return
			}
			stderr.WaitFor(t, "connection refused")
			if !strings.Contains(stderr.String(), "peer_uid=65534") {
				t.Errorf("refusal does not name uid 65534:\n%s", stderr)
			}
		})
	}
}

// TestParseUIDs: uids by number or by name, comma-separated and repeated.
func TestParseUIDs(t *testing.T) {
	uids, err := parseUIDs([]string{"0, 65534", "1000"})
	if err != nil || fmt.Sprint(uids) != "[0 65534 1000]" {
		t.Errorf("parseUIDs: %v, %v", uids, err)
	}
	if uids, err := parseUIDs(nil); uids != nil || err != nil {
		t.Errorf("no flag: %v, %v (want nil: the agent's own uid)", uids, err)
	}
	if u, err := user.Current(); err == nil { // names need a user database (/etc/passwd); numbers do not
		if uids, err := parseUIDs([]string{u.Username}); err != nil || fmt.Sprint(uids) != "["+u.Uid+"]" {
			t.Errorf("parseUIDs(%q): %v, %v; want [%s]", u.Username, uids, err, u.Uid)
		}
	} else {
		t.Logf("no user database here (%v): user names not checked", err)
	}
}

// TestAgentCLISocket: the socket is 0600 by default; --socket-mode and
// --socket-group set it; bad values are usage errors.
func TestAgentCLISocket(t *testing.T) {
	socket, _, _ := startAgentCLI(t)
	if fi, err := os.Stat(socket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("default socket mode %v (%v), want 0600", fi.Mode(), err)
	}
	socket, _, _ = startAgentCLI(t, "--socket-mode", "660", "--socket-group", "65534")
	fi, err := os.Stat(socket)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Sys().(*syscall.Stat_t).Gid != 65534 {
		t.Errorf("socket %v gid %d (%v), want 0660 and nogroup (65534)", fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid, err)
	}
	sock := filepath.Join(t.TempDir(), "s.sock")
	for _, tc := range []struct {
		args []string
		code int
		text string
	}{
		{[]string{"--socket-mode", "0999"}, exitUsage, "--socket-mode"},
		{[]string{"--socket-mode", "01777"}, exitUsage, "--socket-mode"},
		{[]string{"--socket-group", "no-such-group-x"}, exitUsage, "--socket-group"},
		{[]string{"--allow-uid", "no-such-user-x"}, exitUsage, "--allow-uid"},
		{[]string{"--allow-uid", ","}, exitUsage, "no uid"},
		{[]string{"--metrics-addr", "9090"}, exitUsage, "--metrics-addr"},
		{[]string{"--metrics-addr", "256.0.0.1:0"}, exitFailure, "--metrics-addr"},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"agent", "--socket", sock}, tc.args...)...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.text) {
			t.Errorf("%q: status %d, output %q; want %d and %q", tc.args, code, stdout+stderr, tc.code, tc.text)
		}
	}
	if code, _, stderr := runCLI(t, "agent", "--socket", "@seccompstream-cli-test", "--socket-mode", "0600"); code != exitFailure ||
		!strings.Contains(stderr, "abstract socket") {
		t.Errorf("--socket-mode on an abstract socket: %d %q", code, stderr)
	}
}

// TestAgentCLIMetrics: the metrics move as a runc container with
// containerd-style annotations makes calls, labelled with its pod, and
// /healthz answers.
func TestAgentCLIMetrics(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	socket, _, stderr := startAgentCLI(t, "--deny", "mkdir:EDQUOT,mkdirat:EDQUOT", "--metrics-addr", "127.0.0.1:0")
	m := regexp.MustCompile(`agent: metrics" addr=(\S+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", stderr)
	}
	base := "http://" + m[1]
	if got := scrape(t, base+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz: %q", got)
	}
	before := scrape(t, base+"/metrics")
	const calls = `seccompstream_agent_calls_total{decision="errno:EDQUOT",namespace="shop",pod="web-1",syscall="mkdir"} 2`
	if strings.Contains(before, calls) {
		t.Fatal("calls counted before the container ran")
	}
	ann := map[string]string{
		"io.kubernetes.cri.sandbox-name": "web-1", "io.kubernetes.cri.sandbox-namespace": "shop",
		"io.kubernetes.cri.container-name": "app", "io.kubernetes.cri.container-type": "container",
	}
	bundle := agentBundle(t, cliRootfs(t), socket, `mkdir /tmp/a; mkdir /tmp/b; echo "rc=$?"`, ann)
	if _, out := rt.Run(t, bundle, "cli-metrics"); !strings.Contains(out, "rc=1") {
		t.Fatalf("container output %q", out)
	}
	stderr.WaitFor(t, "container stream ended")
	// The agent logs the end of the stream before its Disconnected hook
	// takes the container off the gauge.
	var after string
	sectest.Poll(func() bool {
		after = scrape(t, base+"/metrics")
		return strings.Contains(after, "seccompstream_agent_containers 0")
	})
	for _, want := range []string{
		calls,
		"seccompstream_agent_handler_seconds_count 2",
		"seccompstream_agent_containers 0",
	} {
		if !strings.Contains(after, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(after, "seccompstream_"))
		}
	}
	if !strings.Contains(stderr.String(), "namespace=shop pod=web-1") {
		t.Errorf("the log does not carry the pod:\n%s", stderr)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDaemonSetFlags: every flag the DaemonSet passes to the agent is one
// the agent command has (deploy/kubernetes checks the rest of it).
func TestDaemonSetFlags(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes/daemonset.yaml")
	if err != nil {
		if os.Getenv("SECCOMPSTREAM_GUEST") == "1" {
			t.Skip("the qemu guest has this package's directory only") // not a machine ability: kernel-independent
		}
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
		if !strings.HasPrefix(f, "--") {
			continue
		}
		n++
		if !strings.Contains(agentUsage, "  "+f+" ") && !strings.Contains(agentUsage, "  "+f+"\n") {
			t.Errorf("the DaemonSet passes %s, which the agent's usage does not list", f)
		}
	}
	if n == 0 {
		t.Error("no agent flags found in daemonset.yaml")
	}
}

// TestAgentCLIIntercepts: a policy with intercepts is served (their
// handlers are package emulate's; agent's TestInterceptMknod and
// TestInterceptSysinfo run them in containers), and a bad one is a usage
// error.
func TestAgentCLIIntercepts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(file, []byte(`{"default": "allow", "intercepts": {"mknod": {"devices": ["c 1:3"]}, "sysinfo": {}}}`), 0o644)
	startAgentCLI(t, "--policy", file)
	os.WriteFile(file, []byte(`{"intercepts": {"mknod": {"devices": ["c 1"]}}}`), 0o644)
	code, _, stderr := runCLI(t, "agent", "--socket", filepath.Join(t.TempDir(), "s.sock"), "--policy", file)
	if code != exitUsage || !strings.Contains(stderr, "intercepts.mknod.devices[0]") {
		t.Errorf("bad device: status %d, stderr %q; want %d naming it", code, stderr, exitUsage)
	}
}
