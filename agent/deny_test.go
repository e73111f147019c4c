package agent_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/ocitest"
)

// call is one notified call as a test handler saw it.
type call struct {
	container string
	status    string
	metadata  string
	syscall   string
	path      string
	err       error
}

// pathArg returns the address of the path argument of mkdir or mkdirat.
func pathArg(n *seccompstream.Notification) uint64 {
	if strings.HasSuffix(n.SyscallName(), "at") {
		return n.Args[1]
	}
	return n.Args[0]
}

// denyMkdir returns a NewHandler that fails mkdir and mkdirat with errno
// after reading their path from the container's memory, and records each
// call on calls.
func denyMkdir(errno unix.Errno, calls chan<- call) func(*agent.Container) seccompstream.Handler {
	return func(c *agent.Container) seccompstream.Handler {
		return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
			path, err := n.ReadString(pathArg(n), unix.PathMax)
			calls <- call{container: c.ID(), status: string(c.State.State.Status), metadata: c.Metadata(),
				syscall: n.SyscallName(), path: path, err: err}
			return seccompstream.Errno(errno)
		})
	}
}

// TestDenyMkdir runs a container whose mkdir the agent denies with EDQUOT:
// the container sees that errno, the handler read the path from the
// container's memory, and the stream ends with the container.
func TestDenyMkdir(t *testing.T) {
	ocitest.ForEachRuntime(t, func(t *testing.T, rt *ocitest.Runtime) {
		ctx := testCtx(t)
		log := newLogRecorder()
		calls := make(chan call, 100)
		sock := startServer(t, &agent.Server{NewHandler: denyMkdir(unix.EDQUOT, calls), Logger: slog.New(log)})
		rootfs := newRootfs(t)
		bundle := newBundle(t, bundleOpts{
			rootfs:   rootfs,
			listener: sock,
			metadata: "meta-" + rt.Name,
			script:   `mkdir /tmp/x; echo "rc=$?"`,
		})
		id := "deny-mkdir-" + rt.Name
		c := rt.Start(t, ctx, bundle, id)
		out := c.Wait(t)
		if c.Err() != nil {
			t.Fatalf("%s run: %v; output: %s", rt.Name, c.Err(), out)
		}
		if !strings.Contains(strings.ToLower(out), "/tmp/x': disk quota exceeded") || !strings.Contains(out, "rc=1") {
			t.Errorf("container output %q: want mkdir to fail with EDQUOT", out)
		}
		if _, err := os.Stat(filepath.Join(rootfs, "tmp", "x")); !os.IsNotExist(err) {
			t.Errorf("/tmp/x was created (stat: %v)", err)
		}
		select {
		case got := <-calls:
			want := call{container: id, status: "creating", metadata: "meta-" + rt.Name, syscall: got.syscall, path: "/tmp/x"}
			if got != want || (got.syscall != "mkdir" && got.syscall != "mkdirat") {
				t.Errorf("handler saw %+v, want %+v", got, want)
			}
		default:
			t.Fatal("the handler saw no call")
		}
		rec := log.wait(t, "agent: container stream ended")
		if got := attr(rec, "container"); got != id {
			t.Errorf("stream ended for %v, want %q", got, id)
		}
	})
}
