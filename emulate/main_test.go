package emulate_test

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
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
	"github.com/seccompstream/seccompstream/internal/cbuild"
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
	os.Exit(sectest.RunMain(func() int {
		defer netHelper.remove()
		defer helper.remove()
		return m.Run()
	}, "github.com/seccompstream/seccompstream"))
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
var helperSource []byte

// helper is testdata/helper.c, the file policy's C program.
var helper = newCHelper("helper", helperSource, "SECCOMPSTREAM_EMULATE_HELPER")

// helperPath builds testdata/helper.c (see cHelper.path).
func helperPath(t testing.TB) string { return helper.path(t) }

// cHelper is a C program of testdata that the tests build once per run.
type cHelper struct {
	prog cbuild.Program

	once  sync.Once
	dir   string // where it was built, removed by TestMain
	built string
	err   error
}

// newCHelper returns the C program name with its source. prebuilt names
// the variable that holds the program built beforehand (scripts/
// kernel-test's guest has no gcc; .ci/run builds it with these flags).
func newCHelper(name string, source []byte, prebuilt string) *cHelper {
	// Static (no loader calls; it runs in the qemu guest too), non-PIE
	// (its static buffers are below 4 GiB for int $0x80), no red zone
	// (the inline int $0x80 pushes below the stack pointer).
	return &cHelper{prog: cbuild.Program{
		Name: name, Source: source, Prebuilt: prebuilt,
		Flags: []string{"-O1", "-static", "-no-pie", "-mno-red-zone", "-pthread"},
	}}
}

// path builds the program (once per run) in a directory every user may
// enter, or takes the prebuilt one (cbuild.Program.Build).
func (h *cHelper) path(t testing.TB) string {
	t.Helper()
	if _, ok := h.prog.PrebuiltPath(); !ok {
		sectest.RequireTool(t, "gcc")
	}
	h.once.Do(func() {
		if h.dir, h.err = os.MkdirTemp("", "emulate-"+h.prog.Name+"-"); h.err != nil {
			return
		}
		if h.err = os.Chmod(h.dir, 0o755); h.err != nil {
			return
		}
		h.built, h.err = h.prog.Build(h.dir)
	})
	if h.err != nil {
		t.Fatalf("building %s: %v", h.prog.Name, h.err)
	}
	return h.built
}

// remove removes the directory the program was built in.
func (h *cHelper) remove() {
	if h.dir != "" {
		os.RemoveAll(h.dir)
	}
}

func writeFileB(path string) error { return os.WriteFile(path, []byte("content\n"), 0o644) }

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
	err    error // the program's end (exec.Cmd.Wait)
	mu     sync.Mutex
	denied []string // "name errno" of each refusal OnDeny saw
	// notified counts the notifications by call name.
	notified map[string]int
	// started, when not nil, is closed once the program runs (cmd.Process
	// is set).
	started chan struct{}
}

func (r *result) deniedCall(name string) bool {
	for _, d := range r.denied {
		if strings.HasPrefix(d, name+" ") || strings.HasPrefix(d, name+"[") {
			return true
		}
	}
	return false
}

// recordDenial is an OnDeny function that keeps "name errno".
func (r *result) recordDenial(_ context.Context, n *seccompstream.Notification, resp seccompstream.Response) {
	name := n.SyscallName()
	if n.Arch == unix.AUDIT_ARCH_I386 {
		name += "[i386]"
	}
	r.mu.Lock()
	r.denied = append(r.denied, name+" "+resp.String())
	r.mu.Unlock()
}

// sandbox runs cmd under policy p: a filter that notifies the file calls
// (on x86_64 also for i386, and x32 through the mismatch action), served
// by Files through a Mux whose other routes let calls run.
func sandbox(t *testing.T, p emulate.FilePolicy, cmd *exec.Cmd) *result {
	t.Helper()
	res := &result{notified: map[string]int{}}
	fs, err := emulate.NewFiles(p, emulate.OnDeny(res.recordDenial))
	if err != nil {
		t.Fatal(err)
	}
	serveUnder(t, fs, res, cmd)
	return res
}

// policyHandlers are the handlers of a policy of package emulate.
type policyHandlers interface {
	AddRules(*filter.Filter) error
	Register(*seccompstream.Mux)
}

// serveUnder runs cmd under the policy of h and fills res: a filter that
// notifies what h needs (on x86_64 also for i386, and x32 through the
// mismatch action), served by h through a Mux whose other routes let
// calls run.
func serveUnder(t *testing.T, h policyHandlers, res *result, cmd *exec.Cmd) {
	t.Helper()
	sectest.RequireKernel(t, sectest.AddFD)
	f := filter.New(filter.Allow)
	if runtime.GOARCH == "amd64" {
		if err := f.AddArch(unix.AUDIT_ARCH_I386); err != nil {
			t.Fatal(err)
		}
		if err := f.SetMismatchAction(filter.Notify); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.AddRules(f); err != nil {
		t.Fatal(err)
	}
	mux := seccompstream.NewMux()
	h.Register(mux)
	mux.Use(func(next seccompstream.Handler) seccompstream.Handler {
		return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
			res.mu.Lock()
			res.notified[n.SyscallName()]++
			res.mu.Unlock()
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
	if res.started != nil {
		close(res.started)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var serveErrs []error
	serr := s.Serve(ctx, mux, seccompstream.WithErrorHandler(func(err error) {
		res.mu.Lock()
		serveErrs = append(serveErrs, err)
		res.mu.Unlock()
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
