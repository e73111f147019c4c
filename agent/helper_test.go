package agent_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/procstatus"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// envHelperAgent makes the test binary an agent process listening on the
// socket path it names (see helperAgent).
const envHelperAgent = "SECCOMPSTREAM_AGENT_HELPER"

// envHelperQuiet=1 makes the helper agent answer every call with EDQUOT
// without reading memory or printing, for benchmarks.
const envHelperQuiet = "SECCOMPSTREAM_AGENT_HELPER_QUIET"

// helperAgent is an agent in a process of its own, which tests can kill. It
// fails mkdir and mkdirat with EDQUOT and prints "denied ID PATH"; a path
// containing "block" makes the handler print "blocking ID PATH" and wait
// until the call is abandoned or the agent stops. It prints "ready" once it
// listens and serves until SIGTERM.
func helperAgent() int {
	ln, err := agent.Listen(os.Getenv(envHelperAgent))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	quiet := os.Getenv(envHelperQuiet) == "1"
	logOut := io.Writer(os.Stderr)
	if quiet {
		logOut = io.Discard
	}
	srv := &agent.Server{
		Logger: slog.New(slog.NewTextHandler(logOut, nil)),
		NewHandler: func(c *agent.Container) seccompstream.Handler {
			if quiet {
				return seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
					return seccompstream.Errno(unix.EDQUOT)
				})
			}
			return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
				path, err := n.ReadString(pathArg(n), unix.PathMax)
				if err != nil {
					fmt.Printf("error %s %v\n", c.ID(), err)
					return seccompstream.Errno(unix.EPERM)
				}
				if strings.Contains(path, "block") {
					fmt.Printf("blocking %s %s\n", c.ID(), path)
					<-ctx.Done()
					return seccompstream.Errno(unix.EPERM)
				}
				fmt.Printf("denied %s %s\n", c.ID(), path)
				return seccompstream.Errno(unix.EDQUOT)
			})
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM)
	defer stop()
	fmt.Println("ready")
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// agentProc is a helper agent process.
type agentProc struct {
	cmd    *exec.Cmd
	socket string
	stdout sectest.Buffer
	stderr sectest.Buffer
	done   chan struct{}
}

// startAgentProc starts a helper agent and waits until it listens. It is
// killed and reaped when the test ends.
func startAgentProc(t testing.TB) *agentProc {
	t.Helper()
	return startAgentProcAt(t, filepath.Join(t.TempDir(), "agent.sock"))
}

// startAgentProcAt is startAgentProc on the socket path socket.
func startAgentProcAt(t testing.TB, socket string, env ...string) *agentProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	a := &agentProc{socket: socket, done: make(chan struct{})}
	a.cmd = exec.Command(exe, "-test.run=^$")
	a.cmd.Env = append(append(os.Environ(), envHelperAgent+"="+a.socket), env...)
	a.cmd.Stdout, a.cmd.Stderr = &a.stdout, &a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		a.cmd.Wait()
		a.stdout.Close()
		close(a.done)
	}()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("agent's log:\n%s", &a.stderr)
		}
	})
	a.waitLine(t, "ready")
	return a
}

// waitLine returns the next line of the agent's output that starts with
// prefix, skipping others.
func (a *agentProc) waitLine(t testing.TB, prefix string) string {
	t.Helper()
	return a.stdout.WaitLinePrefix(t, prefix)
}

// threads returns the agent process's thread count.
func (a *agentProc) threads(t testing.TB) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	n, ok := procstatus.Int(data, "Threads")
	if !ok {
		t.Fatal("no Threads line in /proc/PID/status")
	}
	return n
}
