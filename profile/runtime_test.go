package profile_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/profile"
)

// busyboxBundle writes a bundle that runs args in a busybox rootfs under
// the seccomp profile seccompJSON (exactly as given).
func busyboxBundle(t *testing.T, seccompJSON []byte, args ...string) string {
	t.Helper()
	return ocitest.Bundle(t, ocitest.BusyboxRootfs(t, "sh", "true", "mkdir", "echo"), seccompJSON, args...)
}

// recordingProfile is a linux.seccomp that hands every call of the native
// architecture to the agent at socket, except write, which runc refuses
// to notify (it needs it to hand the listener over).
func recordingProfile(t *testing.T, socket string) []byte {
	t.Helper()
	var names []string
	for _, n := range sysnames.Names(sysnames.Native()) {
		if n != "write" {
			names = append(names, n)
		}
	}
	b, err := json.Marshal(specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		ListenerPath:  socket,
		Syscalls:      []specs.LinuxSyscall{{Names: names, Action: specs.ActNotify}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goRuntimeCalls are calls a Go program (runc's init) can make at any
// moment, depending on timing: waiting for and waking threads, returning
// from a signal handler, preemption, memory, new threads.
var goRuntimeCalls = []string{
	"futex", "rt_sigreturn", "rt_sigprocmask", "sigaltstack", "nanosleep", "sched_yield",
	"tgkill", "getpid", "gettid", "mmap", "munmap", "madvise", "clone", "exit", "epoll_pwait",
}

// recordingAgent serves containers with one Recorder each.
type recordingAgent struct {
	socket string
	mu     sync.Mutex
	recs   map[string]*profile.Recorder
	ended  map[string]chan struct{}
}

func startRecordingAgent(t *testing.T) *recordingAgent {
	t.Helper()
	a := &recordingAgent{
		socket: filepath.Join(t.TempDir(), "agent.sock"),
		recs:   map[string]*profile.Recorder{},
		ended:  map[string]chan struct{}{},
	}
	ln, err := agent.Listen(a.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &agent.Server{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewHandler: func(c *agent.Container) seccompstream.Handler {
			rec := profile.NewRecorder()
			ended := make(chan struct{})
			a.mu.Lock()
			a.recs[c.ID()], a.ended[c.ID()] = rec, ended
			a.mu.Unlock()
			go func() {
				<-c.Context().Done()
				close(ended)
			}()
			return rec
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	return a
}

// profile waits for container id's stream to end and returns what was
// recorded.
func (a *recordingAgent) profile(t *testing.T, id string) *profile.Profile {
	t.Helper()
	a.mu.Lock()
	rec, ended := a.recs[id], a.ended[id]
	a.mu.Unlock()
	if rec == nil {
		t.Fatalf("the agent never saw container %s", id)
	}
	select {
	case <-ended:
	case <-time.After(60 * time.Second):
		t.Fatalf("container %s: stream still open 60s after the container exited", id)
	}
	return rec.Profile()
}

// TestRuntimesLoadRecordedProfile records a busybox container through the
// agent, writes the profile with this package, and runs the container
// again under it with runc and crun: it runs, and with a call it needs
// taken out, it fails.
func TestRuntimesLoadRecordedProfile(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the calls below are x86_64's")
	}
	script := "mkdir /tmp/d && echo made"
	ocitest.ForEachRuntime(t, func(t *testing.T, rt *ocitest.Runtime) {
		a := startRecordingAgent(t)
		id := rt.ID("rec")
		code, out := rt.Run(t, busyboxBundle(t, recordingProfile(t, a.socket), "/bin/sh", "-c", script), id)
		if code != 0 || out != "made\n" {
			t.Fatalf("recording run: exit %d, output:\n%s", code, out)
		}
		rec := a.profile(t, id)
		native := specs.ArchX86_64
		for _, want := range []string{"execve", "mkdir", "exit_group"} {
			if !rec.Has(native, want) {
				t.Fatalf("recording lacks %s: %v", want, rec.Names(native))
			}
		}
		t.Logf("%s container: %d calls recorded: %s", rt.Name, rec.Len(), strings.Join(rec.Names(native), " "))
		// write is never notified (runc refuses), but runc and the
		// container make it: a recording of a container must add it.
		// runc is a Go program, and between installing the filter and
		// exec'ing the workload its runtime makes some calls only at
		// times (futex when a thread waits, rt_sigreturn after a
		// signal: in 50% and 80% of runs here): add the calls a Go
		// runtime can make there, so that the test does not depend on
		// timing. (Which calls a runtime needs is the later "--base".)
		for _, name := range append([]string{"write"}, goRuntimeCalls...) {
			if err := rec.Add(native, name, 0); err != nil {
				t.Fatal(err)
			}
		}
		b, err := rec.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		code, out = rt.Run(t, busyboxBundle(t, b, "/bin/sh", "-c", script), rt.ID("enf"))
		if code != 0 || out != "made\n" {
			t.Fatalf("under the recorded profile: exit %d, output:\n%s\nprofile:\n%s", code, out, b)
		}
		code, out = rt.Run(t, busyboxBundle(t, b, "/bin/true"), rt.ID("true"))
		if code != 0 || out != "" {
			t.Errorf("busybox true under the profile: exit %d, output:\n%s", code, out)
		}

		// Without mkdir, the workload fails the way a kernel without
		// the call would make it fail.
		missing := rec.Clone()
		missing.Delete(native, "mkdir")
		missing.Delete(native, "mkdirat")
		b, err = missing.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		code, out = rt.Run(t, busyboxBundle(t, b, "/bin/sh", "-c", script), rt.ID("miss"))
		if code == 0 || strings.Contains(out, "made") || !strings.Contains(out, "Function not implemented") {
			t.Errorf("without mkdir: exit %d, output:\n%s", code, out)
		}
	})
}
