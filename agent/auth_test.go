package agent_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// envHelperPeer makes the test binary a runtime-like peer: it connects to
// the socket it names and sends a state for container "peer" with
// descriptor 3 as "seccompFd" and descriptor 4 as "other" (see helperPeer).
const envHelperPeer = "SECCOMPSTREAM_AGENT_PEER"

func helperPeer() int {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: os.Getenv(envHelperPeer), Net: "unix"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		return 1
	}
	defer c.Close()
	if _, _, err := c.WriteMsgUnix([]byte(jsonState("peer", "seccompFd", "other")), unix.UnixRights(3, 4), nil); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		return 1
	}
	return 0
}

var (
	peerExeOnce sync.Once
	peerExe     string
	peerExeErr  error
)

// publicTestBinary returns a copy of the test binary that uid 65534 can
// run (go test's build directory is 0700), shared by the tests.
func publicTestBinary(t *testing.T) string {
	t.Helper()
	peerExeOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			peerExeErr = err
			return
		}
		data, err := os.ReadFile(exe)
		if err != nil {
			peerExeErr = err
			return
		}
		dir, err := os.MkdirTemp("", "agent-peer-")
		if err != nil {
			peerExeErr = err
			return
		}
		os.Chmod(dir, 0o755)
		peerExe = filepath.Join(dir, "agent.test")
		peerExeErr = os.WriteFile(peerExe, data, 0o755)
	})
	if peerExeErr != nil {
		t.Fatal(peerExeErr)
	}
	return peerExe
}

// removePublicTestBinary removes publicTestBinary's copy, if it made one;
// TestMain calls it after the tests.
func removePublicTestBinary() {
	if peerExe != "" {
		os.RemoveAll(filepath.Dir(peerExe))
	}
}

// runPeer runs helperPeer as uid and gid 65534 (nobody), handing it
// listener and the write end of a pipe, and returns its pid. It closes
// listener and other.
func runPeer(t *testing.T, sock string, listener, other int) int {
	t.Helper()
	cmd := exec.Command(publicTestBinary(t), "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelperPeer+"="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	// Closed through the Files, which own the descriptors now (their
	// finalizers would close the numbers again, whoever has them then).
	files := []*os.File{os.NewFile(uintptr(listener), "listener"), os.NewFile(uintptr(other), "other")}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	cmd.ExtraFiles = files
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("peer as uid 65534: %v: %s", err, out)
	}
	return cmd.Process.Pid
}

// TestListenMode: the socket is created 0600 by default, SocketMode and
// SocketGroup widen it on purpose, and bad options are refused.
func TestListenMode(t *testing.T) {
	dir := t.TempDir()
	old := unix.Umask(0) // the mode must not depend on the umask
	defer unix.Umask(old)
	for _, tc := range []struct {
		name string
		opts []agent.ListenOption
		mode os.FileMode
		gid  int
	}{
		{"default", nil, 0o600, 0},
		{"group", []agent.ListenOption{agent.SocketMode(0o660), agent.SocketGroup(65534)}, 0o660, 65534},
		{"narrow", []agent.ListenOption{agent.SocketMode(0o200)}, 0o200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".sock")
			ln, err := agent.Listen(path, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != tc.mode {
				t.Errorf("socket file mode %v, want socket %v", fi.Mode(), tc.mode)
			}
			if gid := int(fi.Sys().(*syscall.Stat_t).Gid); gid != tc.gid {
				t.Errorf("socket group %d, want %d", gid, tc.gid)
			}
		})
	}
	for _, tc := range []struct {
		path string
		opts []agent.ListenOption
		want string
	}{
		{"@seccompstream-mode-test", []agent.ListenOption{agent.SocketMode(0o600)}, "abstract socket has no file mode"},
		{"@seccompstream-mode-test", []agent.ListenOption{agent.SocketGroup(0)}, "abstract socket has no file mode"},
		{filepath.Join(dir, "bits.sock"), []agent.ListenOption{agent.SocketMode(os.ModeSetuid | 0o600)}, "other than the permissions"},
		{filepath.Join(dir, "gid.sock"), []agent.ListenOption{agent.SocketGroup(-2)}, "bad socket group"},
	} {
		if ln, err := agent.Listen(tc.path, tc.opts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			if err == nil {
				ln.Close()
			}
			t.Errorf("Listen(%q, ...): %v, want an error mentioning %q", tc.path, err, tc.want)
		}
	}
}

// TestPeerRefused: a peer running as uid 65534 connects (the socket widened
// on purpose) and sends a valid state with a real listener. By default it
// is refused before anything is read: the refusal is logged with its pid
// and uid, every descriptor it sent is closed, and the notified call of
// the listener's target fails with ENOSYS. With 65534 in AllowUIDs it is
// served.
func TestPeerRefused(t *testing.T) {
	for _, allowed := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowed=%v", allowed), func(t *testing.T) {
			log := newLogRecorder()
			var refused []error
			var mu sync.Mutex
			srv := &agent.Server{
				NewHandler: answer4242,
				Logger:     slog.New(log),
				Hooks: agent.Hooks{Refused: func(p agent.Peer, err error) {
					mu.Lock()
					defer mu.Unlock()
					refused = append(refused, err)
				}},
			}
			if allowed {
				srv.AllowUIDs = []uint32{0, 65534}
			}
			sock := filepath.Join(sectest.PublicDir(t), "agent.sock")
			ln, err := agent.Listen(sock, agent.SocketMode(0o666))
			if err != nil {
				t.Fatal(err)
			}
			// The peer connects and sends before the server accepts: its
			// message is queued whole when the server looks at the peer
			// (otherwise a quick refusal could make its send fail).
			child := sectest.StartChild(t, sectest.Opts{Scenario: "getppid", Notify: []string{"getppid"}})
			r, w := pipeFD(t)
			pid := runPeer(t, sock, child.Listener, w)
			serveListener(t, srv, ln)
			readEOF(t, r) // the agent has no copy of what the peer sent
			child.ExitCode()
			out := child.Output()
			if !allowed {
				if !strings.Contains(out, "errno=38") {
					t.Errorf("refused peer's target: %q, want ENOSYS (errno=38)", out)
				}
				rec := log.wait(t, "agent: connection refused")
				if got := fmt.Sprint(attr(rec, "peer_uid")); got != "65534" {
					t.Errorf("logged peer_uid %v, want 65534", got)
				}
				if got := fmt.Sprint(attr(rec, "peer_pid")); got != fmt.Sprint(pid) {
					t.Errorf("logged peer_pid %v, want %d", got, pid)
				}
				err, _ := attr(rec, "err").(error)
				if !errors.Is(err, agent.ErrPeerRefused) {
					t.Errorf("logged %v, want ErrPeerRefused", err)
				}
				// The agent logs the refusal before it calls the hook.
				sectest.Poll(func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(refused) > 0
				})
				mu.Lock()
				if len(refused) != 1 || !errors.Is(refused[0], agent.ErrPeerRefused) {
					t.Errorf("Hooks.Refused got %v, want one ErrPeerRefused", refused)
				}
				mu.Unlock()
				return
			}
			if !strings.Contains(out, "getppid=4242 ") {
				t.Errorf("allowed peer's target: %q, want the agent's answer 4242", out)
			}
			rec := log.wait(t, "agent: container connected")
			if got := attr(rec, "container"); got != "peer" {
				t.Errorf("connected container %v, want peer", got)
			}
		})
	}
}

// TestAuthorize: Authorize replaces AllowUIDs, and its error is logged.
func TestAuthorize(t *testing.T) {
	log := newLogRecorder()
	srv := &agent.Server{
		NewHandler: answer4242,
		Logger:     slog.New(log),
		AllowUIDs:  []uint32{0},
		Authorize: func(p agent.Peer) error {
			if p.PID == os.Getpid() {
				return errors.New("not the test process")
			}
			return nil
		},
	}
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := agent.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	r, w := pipeFD(t)
	c := dial(t, path) // queued before the server accepts, as in TestPeerRefused
	writeParts(t, c, []string{jsonState("self", "seccompFd")}, []int{w})
	c.Close()
	closeFDs([]int{w})
	serveListener(t, srv, ln)
	readEOF(t, r)
	rec := log.wait(t, "agent: connection refused")
	err, _ = attr(rec, "err").(error)
	if !errors.Is(err, agent.ErrPeerRefused) || !strings.Contains(fmt.Sprint(err), "not the test process") {
		t.Errorf("logged %v, want ErrPeerRefused with Authorize's reason", err)
	}
}
