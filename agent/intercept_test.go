package agent_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
)

func TestInterceptRulesBad(t *testing.T) {
	if _, err := agent.InterceptRules("mknod", "open"); err == nil || !strings.Contains(err.Error(), `"open"`) {
		t.Errorf("InterceptRules with an unknown intercept: %v", err)
	}
	names, err := agent.InterceptedSyscalls("sysinfo", "mknod", "mknod")
	if err != nil || strings.Join(names, ",") != "mknod,mknodat,sysinfo" {
		t.Errorf("InterceptedSyscalls: %q, %v", names, err)
	}
}

// TestProfilePrefilter runs a runc container under deploy/kubernetes's
// generated profile: mknod of a character or block device and sysinfo
// reach the agent, mknod of a FIFO and of a regular file do not (the
// register prefilter lets the kernel run them), and the rest of Docker's
// default profile lets a shell run.
func TestProfilePrefilter(t *testing.T) {
	rt := newRuntime(t, "runc")
	ctx := testCtx(t)
	data, err := os.ReadFile("../deploy/kubernetes/seccomp-profile.json")
	if err != nil {
		t.Fatal(err)
	}
	var profile specs.LinuxSeccomp
	if err := json.Unmarshal(data, &profile); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 100)
	sock := startServer(t, &agent.Server{
		Logger: slog.New(newLogRecorder()),
		NewHandler: func(c *agent.Container) seccompstream.Handler {
			return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
				mode := ""
				switch n.SyscallName() {
				case "mknod":
					mode = typeName(n.Args[1])
				case "mknodat":
					mode = typeName(n.Args[2])
				}
				seen <- n.SyscallName() + " " + mode
				return seccompstream.Errno(unix.EDQUOT)
			})
		},
	})
	bundle := newBundle(t, bundleOpts{
		rootfs:   newRootfs(t),
		listener: sock,
		seccomp:  &profile,
		script: `mknod /tmp/c c 1 3; echo "c=$?"; mknod /tmp/b b 7 0; echo "b=$?"; mknod /tmp/p p; echo "p=$?"; ` +
			`free >/dev/null; echo "free=$?"; echo done`,
	})
	out := strings.ToLower(rt.start(t, ctx, bundle, "prefilter").wait(t))
	// busybox's free falls back on its own when sysinfo fails.
	for _, want := range []string{"c=1", "b=1", "p=0", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
	// Every call was answered before the container exited; the channel
	// holds them all (not closed: the handler goroutines own the sends).
	var got []string
	for len(seen) > 0 {
		got = append(got, strings.TrimSpace(strings.Replace(<-seen, "mknodat ", "mknod ", 1)))
	}
	if strings.Join(got, ",") != "mknod chr,mknod blk,sysinfo" {
		t.Errorf("the agent saw %q, want the character device, the block device and sysinfo", got)
	}
}

func typeName(mode uint64) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFCHR:
		return "chr"
	case unix.S_IFBLK:
		return "blk"
	case unix.S_IFIFO:
		return "fifo"
	}
	return "other"
}
