package agent_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// startServer runs s on a fresh socket and returns its path. The server is
// shut down, and must have returned, when the test ends.
func startServer(t *testing.T, s *agent.Server) string {
	t.Helper()
	path, _ := startServerStop(t, s)
	return path
}

// startServerStop is startServer that also returns a function that shuts
// the server down and returns what Serve returned.
func startServerStop(t *testing.T, s *agent.Server) (string, func() error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := agent.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, serveListener(t, s, ln)
}

// serveListener runs s on ln and returns a function that shuts the server
// down and returns what Serve returned. The server is shut down, and must
// have returned, when the test ends.
func serveListener(t *testing.T, s *agent.Server, ln *net.UnixListener) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var (
		once   sync.Once
		result error
	)
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(60 * time.Second):
				result = errors.New("Serve did not return within 60s of the shutdown")
			}
		})
		return result
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return stop
}

// dial connects to the agent like a runtime.
func dial(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeParts writes the parts of a message, parts[i] with fds[i] (if any).
func writeParts(t *testing.T, c *net.UnixConn, parts []string, fds ...[]int) {
	t.Helper()
	for i, p := range parts {
		var oob []byte
		if i < len(fds) && len(fds[i]) > 0 {
			oob = unix.UnixRights(fds[i]...)
		}
		if _, _, err := c.WriteMsgUnix([]byte(p), oob, nil); err != nil {
			t.Fatalf("sending part %d: %v", i, err)
		}
	}
}

// pipeFD returns the read end of a new pipe, and the write end as a raw
// descriptor to send; the caller's copy of it is closed when the test
// ends. readEOF on the read end then tells whether the agent closed its
// copy.
func pipeFD(t *testing.T) (*os.File, int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	r := os.NewFile(uintptr(p[0]), "pipe-r")
	t.Cleanup(func() { r.Close() })
	return r, p[1]
}

// readEOF fails the test unless every write end of r's pipe gets closed.
func readEOF(t *testing.T, r *os.File) {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(30 * time.Second))
	var b [1]byte
	if _, err := r.Read(b[:]); err != io.EOF {
		t.Errorf("the agent kept a descriptor it received: read gave %v, want EOF", err)
	}
}

func jsonState(id string, names ...string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + n + `"`
	}
	return `{"ociVersion":"1.0.2-dev","fds":[` + strings.Join(q, ",") + `],"pid":1,"state":{"ociVersion":"1.0.2-dev","id":"` + id + `","status":"creating","pid":1,"bundle":"/b"}}`
}

// serveChild hands a real listener to the agent (with an extra fd named
// "other") and checks that the child's notified getppid is answered by
// the handler and the extra fd is closed.
// With keepOpen the connection stays open until the child was served, as
// runc 1.1 does: a complete JSON object ends the message.
func serveChild(t *testing.T, path string, log *logRecorder, id string, parts []string, keepOpen bool) {
	t.Helper()
	child := sectest.StartChild(t, sectest.Opts{Scenario: "getppid", Notify: []string{"getppid"}})
	r, w := pipeFD(t)
	fds := []int{child.Listener, w}
	conn := dial(t, path)
	defer conn.Close()
	writeParts(t, conn, parts, fds)
	if !keepOpen {
		conn.Close()
	}
	closeFDs(fds)
	readEOF(t, r)
	rec := log.wait(t, "agent: container connected")
	if got := attr(rec, "container"); got != id {
		t.Errorf("connected container %v, want %q", got, id)
	}
	if code := child.ExitCode(); code != 0 {
		t.Fatalf("child exit %d: %s", code, child.Output())
	}
	if out := child.Output(); !strings.Contains(out, "getppid=4242 ") {
		t.Errorf("child saw %q, want the agent's answer 4242", out)
	}
	rec = log.wait(t, "agent: container stream ended")
	if got := attr(rec, "container"); got != id {
		t.Errorf("ended container %v, want %q", got, id)
	}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func answer4242(c *agent.Container) seccompstream.Handler {
	return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(4242)
	})
}

// TestServeBadInput sends every kind of bad message to one server: each is
// rejected with a logged error naming the problem, every descriptor it
// carried is closed, and the server keeps serving good messages.
func TestServeBadInput(t *testing.T) {
	log := newLogRecorder()
	srv := &agent.Server{
		NewHandler:      answer4242,
		Logger:          slog.New(log),
		MaxMessageBytes: 64 << 10,
		ReadTimeout:     2 * time.Second, // the stall case waits for it
	}
	path := startServer(t, srv)

	serveChild(t, path, log, "good-1", []string{jsonState("good-1", "seccompFd", "other")}, false)

	big := `{"fds":["seccompFd"],"state":{"id":"big","annotations":{"x":"` + strings.Repeat("y", 70<<10) + `"}}}`
	for _, tc := range []struct {
		name  string
		parts []string
		nfds  []int // descriptors per part (pipe write ends)
		want  error
		text  string
	}{
		{"no fd", []string{jsonState("c", "seccompFd")}, nil, agent.ErrNoSeccompFD, "sent no file descriptor"},
		{"two seccompFd", []string{jsonState("c", "seccompFd", "seccompFd")}, []int{2}, agent.ErrFDMismatch, "named twice"},
		{"fd without name", []string{jsonState("c", "seccompFd")}, []int{2}, agent.ErrFDMismatch, "but 2 were received"},
		{"name without fd", []string{jsonState("c", "seccompFd", "x")}, []int{1}, agent.ErrFDMismatch, "names 2 descriptors"},
		{"empty name", []string{jsonState("c", "seccompFd", "")}, []int{2}, agent.ErrFDMismatch, "no name"},
		{"no seccompFd", []string{jsonState("c", "other")}, []int{1}, agent.ErrNoSeccompFD, `"other"`},
		{"malformed JSON", []string{`{"fds":["seccompFd"],"state":{"id":`}, []int{1}, agent.ErrMalformedState, "unexpected end"},
		{"not JSON", []string{"hello"}, []int{1}, agent.ErrMalformedState, "invalid character"},
		{"empty", nil, nil, agent.ErrMalformedState, "empty message"},
		{"oversized", []string{big}, []int{1}, agent.ErrMessageTooLarge, "more than 65536 bytes"},
		{"fds in two parts", []string{jsonState("c", "seccompFd", "a")[:20], jsonState("c", "seccompFd", "a")[20:]}, []int{1, 1}, agent.ErrFDMismatch, "after the first part"},
		{"too many fds", []string{jsonState("c", "seccompFd")}, []int{agent.DefaultMaxFDs + 4}, agent.ErrMessageTooLarge, "file descriptors"},
		{"not a listener", []string{jsonState("pipe", "seccompFd")}, []int{1}, nil, "not a seccomp listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var readers []*os.File
			fds := make([][]int, len(tc.nfds))
			for i, n := range tc.nfds {
				for range n {
					r, w := pipeFD(t)
					readers = append(readers, r)
					fds[i] = append(fds[i], w)
				}
			}
			c := dial(t, path)
			writeParts(t, c, tc.parts, fds...)
			if tc.parts == nil {
				c.CloseWrite()
			}
			c.Close()
			for _, f := range fds {
				closeFDs(f)
			}
			rec := log.wait(t, "agent: rejected runtime message")
			err, _ := attr(rec, "err").(error)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("logged error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("logged error %q does not mention %q", err, tc.text)
			}
			for _, r := range readers {
				readEOF(t, r)
			}
		})
	}

	t.Run("stalled", func(t *testing.T) {
		r, w := pipeFD(t)
		c := dial(t, path)
		defer c.Close()
		writeParts(t, c, []string{`{"fds":["seccompFd"],`}, []int{w})
		unix.Close(w)
		rec := log.wait(t, "agent: rejected runtime message")
		err, _ := attr(rec, "err").(error)
		if !errors.Is(err, agent.ErrStalled) {
			t.Fatalf("logged error %v, want ErrStalled", err)
		}
		readEOF(t, r)
	})

	// Still serving, and a message in many small parts (fds with the first)
	// is put back together.
	msg := jsonState("good-2", "seccompFd", "other")
	var parts []string
	for len(msg) > 0 {
		k := min(len(msg), 17)
		parts = append(parts, msg[:k])
		msg = msg[k:]
	}
	serveChild(t, path, log, "good-2", parts, false)
	serveChild(t, path, log, "kept-open", []string{jsonState("kept-open", "seccompFd", "other") + "\n"}, true)
}
