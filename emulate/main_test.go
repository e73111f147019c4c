package emulate_test

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// programEnv makes the test binary run a Go program of goPrograms instead
// of the tests (see goProgram).
const programEnv = "EMULATE_TEST_PROGRAM"

// scenarios are the bodies of the child processes tests start with
// sectest.StartChild.
var scenarios = map[string]sectest.Scenario{
	// mknod-as PATH FSUID: mknod(PATH, S_IFCHR|0666, 1:3) from a thread
	// with that fsuid (which drops CAP_MKNOD), printing "errno=N".
	"mknod-as": func(args []string) int {
		uid, _ := strconv.Atoi(args[1])
		runtime.LockOSThread()
		unix.Setfsuid(uid)
		err := unix.Mknod(args[0], unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
		errno, _ := err.(unix.Errno)
		fmt.Printf("errno=%d\n", errno)
		return 0
	},
}

// TestMain runs a Go program of goPrograms or a sectest scenario when
// asked to, and otherwise the tests, failing the run if a test leaked a
// descriptor or a goroutine.
func TestMain(m *testing.M) {
	if name := os.Getenv(programEnv); name != "" {
		os.Exit(goPrograms[name](os.Args[1:]))
	}
	sectest.Main(scenarios)
	os.Exit(sectest.RunMain(m.Run, "github.com/seccompstream/seccompstream"))
}

// goProgram returns a command that runs the Go program name of goPrograms
// (the test binary itself, through /proc/self/exe, which any uid may
// execute).
func goProgram(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Env = append(os.Environ(), programEnv+"="+name)
	return cmd
}

//go:embed testdata/helper.c
var helperSource string

var helper struct {
	once sync.Once
	path string
	err  string
}

// helperPath builds testdata/helper.c (once per run) in a directory every
// user may enter, or takes $SECCOMPSTREAM_EMULATE_HELPER where there is no
// gcc (scripts/kernel-test's guest; .ci/run builds it with these flags).
func helperPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SECCOMPSTREAM_EMULATE_HELPER"); p != "" {
		if _, err := exec.LookPath("gcc"); err != nil {
			return p
		}
	}
	gcc := sectest.RequireTool(t, "gcc")
	helper.once.Do(func() {
		dir, err := os.MkdirTemp("", "emulate-helper-")
		if err != nil {
			helper.err = err.Error()
			return
		}
		os.Chmod(dir, 0o755)
		src := filepath.Join(dir, "helper.c")
		helper.path = filepath.Join(dir, "helper")
		if err := os.WriteFile(src, []byte(helperSource), 0o644); err != nil {
			helper.err = err.Error()
			return
		}
		// Static (no loader calls; it runs in the qemu guest too), non-PIE
		// (its static buffers are below 4 GiB for int $0x80), no red zone
		// (the inline int $0x80 pushes below the stack pointer).
		out, err := exec.Command(gcc, "-O1", "-static", "-no-pie", "-mno-red-zone", "-pthread", "-o", helper.path, src).CombinedOutput()
		if err != nil {
			helper.err = err.Error() + "\n" + string(out)
		}
	})
	if helper.err != "" {
		t.Fatalf("building the helper: %s", helper.err)
	}
	t.Cleanup(func() {}) // the helper stays for the run; removed by the OS's /tmp policy
	return helper.path
}

// publicDirB is publicDir for benchmarks.
func publicDirB(b *testing.B) string { return publicDir(b) }

func writeFileB(path string) error { return os.WriteFile(path, []byte("content\n"), 0o644) }

// publicDir returns a new directory every user may enter, removed when the
// test ends.
func publicDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "emulate-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// result is what a sandboxed run gave.
type result struct {
	out    string
	err    error    // the program's end (exec.Cmd.Wait)
	denied []string // "name errno" of each refusal OnDeny saw
	// notified counts the notifications by call name.
	notified map[string]int
}

func (r *result) deniedCall(name string) bool {
	for _, d := range r.denied {
		if strings.HasPrefix(d, name+" ") || strings.HasPrefix(d, name+"[") {
			return true
		}
	}
	return false
}

// sandbox runs cmd under policy p: a filter that notifies the file calls
// (on x86_64 also for i386, and x32 through the mismatch action), served
// by Files through a Mux whose other routes let calls run.
func sandbox(t *testing.T, p emulate.FilePolicy, cmd *exec.Cmd) *result {
	t.Helper()
	sectest.RequireKernel(t, sectest.AddFD)
	res := &result{notified: map[string]int{}}
	var mu sync.Mutex
	fs, err := emulate.NewFiles(p, emulate.OnDeny(func(_ context.Context, n *seccompstream.Notification, r seccompstream.Response) {
		name := n.SyscallName()
		if n.Arch == unix.AUDIT_ARCH_I386 {
			name += "[i386]"
		}
		mu.Lock()
		res.denied = append(res.denied, name+" "+r.String())
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	f := filter.New(filter.Allow)
	if runtime.GOARCH == "amd64" {
		if err := f.AddArch(unix.AUDIT_ARCH_I386); err != nil {
			t.Fatal(err)
		}
		if err := f.SetMismatchAction(filter.Notify); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.AddRules(f); err != nil {
		t.Fatal(err)
	}
	mux := seccompstream.NewMux()
	fs.Register(mux)
	mux.Use(func(next seccompstream.Handler) seccompstream.Handler {
		return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
			mu.Lock()
			res.notified[n.SyscallName()]++
			mu.Unlock()
			return next.ServeNotification(ctx, n)
		})
	})
	mux.HandleDefault(seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Continue()
	}))
	var out bytes.Buffer
	var outMu sync.Mutex
	w := lockedWriter{&outMu, &out}
	if cmd.Stdout == nil {
		cmd.Stdout = w
	}
	if cmd.Stderr == nil {
		cmd.Stderr = w
	}
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Close()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var serveErrs []error
	serr := s.Serve(ctx, mux, seccompstream.WithErrorHandler(func(err error) {
		mu.Lock()
		serveErrs = append(serveErrs, err)
		mu.Unlock()
	}))
	if serr != nil {
		_ = cmd.Process.Kill()
		t.Errorf("Serve: %v", serr)
	}
	res.err = <-waited
	for _, err := range serveErrs {
		t.Errorf("Serve reported: %v", err)
	}
	outMu.Lock()
	res.out = out.String()
	outMu.Unlock()
	return res
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
