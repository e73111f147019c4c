package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// runCLI calls run() as main would.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunDenyMkdir(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "x")
	code, _, stderr := runCLI(t, "run", "--deny", "mkdir:EACCES,mkdirat:EACCES", "--", "mkdir", target)
	if code == 0 {
		t.Fatalf("mkdir succeeded; stderr:\n%s", stderr)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("%s was created (%v)", target, err)
	}
	if !strings.Contains(stderr, "Permission denied") {
		t.Errorf("stderr lacks EACCES message:\n%s", stderr)
	}
	if !strings.Contains(stderr, fmt.Sprintf("(%q, 0777) = EACCES", target)) {
		t.Errorf("no trace line for the denied mkdir:\n%s", stderr)
	}
}

func TestRunDenyDefaultEPERM(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "run", "--deny", "mkdir,mkdirat", "--", "mkdir", filepath.Join(dir, "x"))
	if code == 0 || !strings.Contains(stderr, "Operation not permitted") || !strings.Contains(stderr, "= EPERM") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestRunTraceOpenatCat(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(file, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "run", "--trace", "openat", "--", "cat", file)
	if code != 0 || stdout != "hello\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	want := fmt.Sprintf("openat(AT_FDCWD, %q, O_RDONLY", file)
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, ") = continue") {
		t.Fatalf("trace lacks %q:\n%s", want, stderr)
	}
}

func TestRunUnknownNameBeforeRun(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	code, _, stderr := runCLI(t, "run", "--trace", "openat,opne", "--", "touch", marker)
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, `"opne"`) {
		t.Errorf("stderr does not name the bad name:\n%s", stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the program ran")
	}
}

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "Usage: seccomp-stream"},
		{[]string{"help"}, 0, "Commands:"},
		{[]string{"run", "--help"}, 0, "Examples:"},
		{[]string{"help", "run"}, 0, "--deny LIST"},
		{[]string{"run"}, exitUsage, "no program"},
		{[]string{"run", "--bogus", "--", "true"}, exitUsage, "bogus"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"run", "--", "/nonexistent/prog"}, exitNotFound, "no such file"},
		{[]string{"run", "--", "no-such-program-seccompstream"}, exitNotFound, "not found"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%q: exit %d, want %d; output lacks %q?\n%s%s", tc.args, code, tc.code, tc.want, stdout, stderr)
		}
	}
}

func TestRunExitStatus(t *testing.T) {
	code, _, stderr := runCLI(t, "run", "--", "sh", "-c", "exit 7")
	if code != 7 {
		t.Errorf("exit %d, want 7; stderr:\n%s", code, stderr)
	}
	code, _, stderr = runCLI(t, "run", "--trace", "getpid", "--", "sh", "-c", "kill -TERM $$")
	if code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, 128+int(syscall.SIGTERM), stderr)
	}
}

func TestRunJSONAndOutputFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "in")
	os.WriteFile(file, []byte("x"), 0o644)
	out := filepath.Join(dir, "trace.jsonl")
	code, _, stderr := runCLI(t, "run", "--trace", "openat", "--deny", "mkdir:EROFS,mkdirat:EROFS", "--json", "-o", out,
		"--", "sh", "-c", fmt.Sprintf("cat %s >/dev/null; mkdir %s/d; exit 0", file, dir))
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "openat") {
		t.Errorf("trace went to stderr despite -o:\n%s", stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var sawOpen, sawMkdir bool
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var rec traceRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if rec.PID <= 0 || rec.Syscall == "" || len(rec.Raw) != 6 {
			t.Errorf("incomplete record %q", line)
		}
		if rec.Syscall == "openat" && len(rec.Args) > 1 && rec.Args[1] == strconv.Quote(file) && rec.Decision == "continue" {
			sawOpen = true
		}
		if strings.HasPrefix(rec.Syscall, "mkdir") && rec.Decision == "EROFS" && rec.Errno == int(syscall.EROFS) {
			sawMkdir = true
		}
	}
	if !sawOpen || !sawMkdir {
		t.Errorf("open seen %v, mkdir seen %v in:\n%s", sawOpen, sawMkdir, b)
	}
}

// A program that forks 20 children making traced calls is fully traced.
func TestRunForkedChildren(t *testing.T) {
	dir := t.TempDir()
	n := 20
	for i := range n {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), []byte("x"), 0o644)
	}
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do cat %s/f$i >/dev/null & i=$((i+1)); done; wait`, n, dir)
	code, _, stderr := runCLI(t, "run", "--trace", "openat", "--", "sh", "-c", script)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	pids := map[string]bool{}
	for i := range n {
		want := strconv.Quote(filepath.Join(dir, fmt.Sprintf("f%d", i)))
		found := false
		for line := range strings.SplitSeq(stderr, "\n") {
			if strings.Contains(line, want) {
				found = true
				pids[strings.Fields(line)[0]] = true
			}
		}
		if !found {
			t.Errorf("no trace of %s", want)
		}
	}
	if len(pids) != n {
		t.Errorf("files opened by %d processes, want %d", len(pids), n)
	}
}

// buildCLI builds the command into a temporary directory.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "seccomp-stream")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// End to end: the built binary, a Go program built here, signals.
func TestEndToEnd(t *testing.T) {
	sectest.RequireTool(t, "go")
	bin := buildCLI(t)
	dir := t.TempDir()

	t.Run("deny-mkdir", func(t *testing.T) {
		target := filepath.Join(dir, "denied")
		cmd := exec.Command(bin, "run", "--deny", "mkdir:EACCES,mkdirat:EACCES", "--", "mkdir", target)
		out, err := cmd.CombinedOutput()
		if err == nil || cmd.ProcessState.ExitCode() != 1 {
			t.Fatalf("%v\n%s", err, out)
		}
		if _, err := os.Stat(target); err == nil {
			t.Fatal("directory created")
		}
		if !bytes.Contains(out, []byte("= EACCES")) {
			t.Errorf("no trace line:\n%s", out)
		}
	})

	t.Run("go-program", func(t *testing.T) {
		src := filepath.Join(dir, "gosrc")
		os.MkdirAll(src, 0o755)
		prog := `package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

func main() {
	if _, err := os.ReadFile(os.Args[1]); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	denied := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := os.Mkdir(fmt.Sprintf("%s/d%d", os.Args[2], i), 0o755)
			if errors.Is(err, fs.ErrPermission) {
				mu.Lock()
				denied++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	os.Exit(10 + denied)
}
`
		os.WriteFile(filepath.Join(src, "main.go"), []byte(prog), 0o644)
		os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/p\n\ngo 1.22\n"), 0o644)
		gobin := filepath.Join(dir, "goprog")
		build := exec.Command("go", "build", "-o", gobin, ".")
		build.Dir = src
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		input := filepath.Join(dir, "input")
		os.WriteFile(input, []byte("data"), 0o644)
		mk := filepath.Join(dir, "gomk")
		os.MkdirAll(mk, 0o755)
		cmd := exec.Command(bin, "run", "--trace", "openat", "--deny", "mkdirat:EACCES", "--", gobin, input, mk)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 18 {
			t.Fatalf("exit %d, want 18 (8 denied mkdirs):\n%s", code, out)
		}
		if !bytes.Contains(out, []byte(strconv.Quote(input))) {
			t.Errorf("no trace of opening %s:\n%s", input, out)
		}
		if ents, _ := os.ReadDir(mk); len(ents) != 0 {
			t.Errorf("%d directories created", len(ents))
		}
	})

	t.Run("signal-forwarded", func(t *testing.T) {
		cmd := exec.Command(bin, "run", "--trace", "openat", "--", "sh", "-c", "echo ready; exec sleep 100")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			t.Fatalf("read %q, %v; stderr:\n%s", line, err, &errb)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
			t.Fatalf("exit %d (%v), want %d; stderr:\n%s", code, cmd.ProcessState, 128+int(syscall.SIGTERM), &errb)
		}
	})

	t.Run("json", func(t *testing.T) {
		cmd := exec.Command(bin, "run", "--trace", "openat,execve", "--json", "--", "sh", "-c", "cat /etc/hostname >/dev/null")
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v\n%s", err, &errb)
		}
		lines := 0
		sawExec := false
		for line := range strings.SplitSeq(strings.TrimSpace(errb.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			if m["syscall"] == "execve" {
				sawExec = true
			}
			lines++
		}
		if lines == 0 || !sawExec {
			t.Errorf("%d lines, execve of cat seen: %v\n%s", lines, sawExec, &errb)
		}
	})
}
