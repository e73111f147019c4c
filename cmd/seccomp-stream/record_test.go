package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysargs/sysargstest"
	"github.com/seccompstream/seccompstream/profile"
)

// envHelper makes the test binary a program for the tests below instead
// of running the tests (see testHelper).
const envHelper = "SECCOMPSTREAM_CMD_HELPER"

// testHelper runs the helper mode envHelper names, if any:
//
//	gowork   a Go program: goroutines that allocate and collect garbage,
//	         a signal to itself, a busy loop long enough to be preempted,
//	         a times(2) call made only by a second thread, and a child
//	         (this binary in mode sysinfo) that alone calls sysinfo(2);
//	         prints "gowork ok" (or what went wrong)
//	sysinfo  call sysinfo(2) and exit
//	cli      the seccomp-stream command with the arguments of this
//	         process; with SECCOMPSTREAM_CMD_OUTER=1 under an outer
//	         filter that allows everything (no listener) first
func testHelper() (int, bool) {
	switch os.Getenv(envHelper) {
	case "gowork":
		return goWork(), true
	case "sysinfo":
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err != nil {
			fmt.Println(err)
			return 1, true
		}
		return 0, true
	case "cli":
		if os.Getenv("SECCOMPSTREAM_CMD_OUTER") == "1" {
			f := filter.New(filter.Allow)
			if err := f.Add(filter.Errno(unix.EPERM), "acct"); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1, true
			}
			done := make(chan error)
			go func() {
				runtime.LockOSThread() // and exit with the goroutine
				_, err := f.Install(filter.WithTSync())
				done <- err
			}()
			if err := <-done; err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1, true
			}
		}
		return run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr), true
	}
	return 0, false
}

// The main goroutine of gowork keeps the main thread (a goroutine locks
// it only from an init function), so that a second locked goroutine runs
// on another thread.
func init() {
	if os.Getenv(envHelper) == "gowork" {
		runtime.LockOSThread()
	}
}

// goWork is the gowork helper: sectest.GoWork, then the calls of a
// second thread and of a child.
func goWork() int {
	total, err := sectest.GoWork()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	// times on a thread that is not the main one: the main goroutine
	// holds the main thread (see init), so a locked goroutine gets another.
	tid := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var t unix.Tms
		unix.Times(&t)
		tid <- unix.Gettid()
	}()
	if got := <-tid; got == os.Getpid() {
		fmt.Println("times ran on the main thread")
		return 1
	}

	child := exec.Command("/proc/self/exe")
	child.Env = append(os.Environ(), envHelper+"=sysinfo")
	if out, err := child.CombinedOutput(); err != nil {
		fmt.Printf("child: %v %s\n", err, out)
		return 1
	}
	fmt.Printf("gowork ok %d\n", total)
	return 0
}

// helperCmd is the test binary in helper mode mode with args.
func helperCmd(t *testing.T, mode string, args ...string) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envHelper, mode) // inherited by the program run() starts
	return append([]string{self}, args...)
}

// readSpec parses a written profile as runc does.
func readSpec(t *testing.T, b []byte) *specs.LinuxSeccomp {
	t.Helper()
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("profile does not parse as linux.seccomp: %v\n%s", err, b)
	}
	return &s
}

// allowed lists the names a written profile allows (its ALLOW rules).
func allowed(s *specs.LinuxSeccomp) []string {
	var names []string
	for _, r := range s.Syscalls {
		if r.Action == specs.ActAllow {
			names = append(names, r.Names...)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func requireNames(t *testing.T, what string, s *specs.LinuxSeccomp, names ...string) {
	t.Helper()
	have := allowed(s)
	for _, n := range names {
		if !slices.Contains(have, n) {
			t.Errorf("%s lacks %s: %v", what, n, have)
		}
	}
}

// plainRun runs a command without a filter.
func plainRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// TestRecordShell is the first two tests: a recording of a shell
// that lists / and cats a file runs the same, the profile parses and
// has what the shell used; under run --profile the shell runs the same,
// and a mkdir fails, makes nothing and is shown.
func TestRecordShell(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hostname")
	if err := os.WriteFile(file, []byte("box\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "ls / >/dev/null; cat " + file
	pcode, pout, _ := plainRun(t, "sh", "-c", script)
	out := filepath.Join(dir, "sh.json")
	code, stdout, stderr := runCLI(t, "record", "-o", out, "--", "sh", "-c", script)
	if code != pcode || stdout != pout || pout != "box\n" {
		t.Fatalf("recorded: exit %d, stdout %q; plain: exit %d, stdout %q; stderr:\n%s", code, stdout, pcode, pout, stderr)
	}
	if !strings.Contains(stderr, "--base runc") {
		t.Errorf("no note on container runtimes:\n%s", stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := readSpec(t, b)
	if runtime.GOARCH == "amd64" && !slices.Equal(s.Architectures, []specs.Arch{specs.ArchX86_64}) {
		t.Errorf("architectures %v, want [SCMP_ARCH_X86_64]", s.Architectures)
	}
	if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != uint(unix.ENOSYS) {
		t.Errorf("default %s %v, want SCMP_ACT_ERRNO ENOSYS", s.DefaultAction, s.DefaultErrnoRet)
	}
	requireNames(t, "recording", s, "execve", "exit_group", "getdents64")
	if have := allowed(s); !slices.Contains(have, "openat") && !slices.Contains(have, "open") {
		t.Errorf("recording lacks openat and open: %v", have)
	}

	code, stdout, stderr = runCLI(t, "run", "--profile", out, "--", "sh", "-c", script)
	if code != pcode || stdout != pout || strings.Contains(stderr, "denied") {
		t.Errorf("under its profile: exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}

	made := filepath.Join(dir, "made")
	code, _, stderr = runCLI(t, "run", "--profile", out, "--", "sh", "-c", script+"; mkdir "+made)
	if code == 0 || !strings.Contains(stderr, "not implemented") {
		t.Errorf("mkdir under the profile: exit %d; stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(made); !os.IsNotExist(err) {
		t.Errorf("%s was made (%v)", made, err)
	}
	if !strings.Contains(stderr, fmt.Sprintf("mkdir(%q, 0777) = ENOSYS", made)) ||
		!strings.Contains(stderr, out+" denied 1 call: mkdir (1)") {
		t.Errorf("the denied mkdir is not shown:\n%s", stderr)
	}

	// --complain lets it run, still shows it, and exits as the program.
	code, _, stderr = runCLI(t, "run", "--profile", out, "--complain", "--json", "--", "sh", "-c", "mkdir "+made+" && exit 3")
	if code != 3 {
		t.Errorf("--complain: exit %d, want the program's 3; stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(made); err != nil {
		t.Errorf("--complain: mkdir did not run: %v", err)
	}
	var rec traceRecord
	line, _, _ := strings.Cut(stderr, "\n")
	if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Syscall != "mkdir" || rec.Decision != "continue" || rec.Profile != "ENOSYS" {
		t.Errorf("--complain --json line %q (%v), want mkdir, continue, profile ENOSYS; stderr:\n%s", line, err, stderr)
	}
	if !strings.Contains(stderr, out+" would have denied 1 call: mkdir (1)") {
		t.Errorf("--complain summary missing:\n%s", stderr)
	}
}

// TestRecordDeterministic: two recordings of ls / give the same bytes,
// on standard output.
func TestRecordDeterministic(t *testing.T) {
	var outs [2]string
	for i := range outs {
		code, stdout, stderr := runCLI(t, "record", "--", "ls", "/")
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr)
		}
		// ls's own output comes first, then the profile.
		i0 := strings.Index(stdout, "{\n")
		if i0 < 0 {
			t.Fatalf("no profile in stdout:\n%s", stdout)
		}
		outs[i] = stdout[i0:]
		readSpec(t, []byte(outs[i]))
	}
	if outs[0] != outs[1] {
		t.Errorf("two recordings of ls / differ:\n%s\n---\n%s", outs[0], outs[1])
	}
}

// TestRecordMerge: a recording of mkdir with --merge of an ls profile
// has both; the calls of the ls profile were let through unseen (their
// counts are the ls profile's).
func TestRecordMerge(t *testing.T) {
	dir := t.TempDir()
	ls, both := filepath.Join(dir, "ls.json"), filepath.Join(dir, "both.json")
	if code, _, stderr := runCLI(t, "record", "-o", ls, "--", "ls", "/"); code != 0 {
		t.Fatalf("ls: exit %d\n%s", code, stderr)
	}
	made := filepath.Join(dir, "d")
	code, _, stderr := runCLI(t, "record", "--merge", ls, "-o", both, "--", "mkdir", made)
	if code != 0 {
		t.Fatalf("mkdir: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "--base runc") {
		t.Errorf("the note on runtimes is for recordings from scratch:\n%s", stderr)
	}
	p0, err := profile.ReadFile(ls)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.ReadFile(both)
	if err != nil {
		t.Fatal(err)
	}
	native, _ := profile.NativeArch()
	for _, name := range []string{"getdents64", "mkdir", "execve", "exit_group"} {
		if !p.Has(native, name) && !(name == "mkdir" && p.Has(native, "mkdirat")) {
			t.Errorf("merged recording lacks %s: %v", name, p.Names(native))
		}
	}
	// Seeded calls did not reach the recorder again: their counts are the
	// seed's, although mkdir makes some of them too (exit_group at least).
	if c, _ := p0.Lookup(native, "exit_group"); c.Count == 0 {
		t.Fatalf("the ls recording did not count exit_group: %v", c)
	}
	for _, c0 := range p0.Calls() {
		if c, _ := p.Lookup(c0.Arch, c0.Name); c.Count != c0.Count {
			t.Errorf("%s counted %d times after seeding, %d in the seed: seeded calls must not notify", c0, c.Count, c0.Count)
		}
	}
}

// TestRecordGoProgram: a Go program with goroutines, garbage collection,
// a signal and preemption, a call only a second thread makes and one only
// its child makes, records them all and then runs under its profile.
func TestRecordGoProgram(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "go.json")
	cmd := helperCmd(t, "gowork")
	// Three recordings, each seeded with the ones before: what the Go
	// runtime does only at times is in the union.
	for i := range 3 {
		args := []string{"record", "-o", prof, "--args"}
		if i > 0 {
			args = append(args, "--merge", prof)
		}
		code, stdout, stderr := runCLI(t, append(append(args, "--"), cmd...)...)
		if code != 0 || !strings.HasPrefix(stdout, "gowork ok ") {
			t.Fatalf("recording %d: exit %d, stdout %q; stderr:\n%s", i, code, stdout, stderr)
		}
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	s := readSpec(t, b)
	requireNames(t, "Go recording", s, "times", "sysinfo", "rt_sigreturn", "futex", "execve", "exit_group")
	// --args: clone is allowed by its CLONE_NEW* flags (none) only.
	if runtime.GOARCH == "amd64" {
		found := false
		for _, r := range s.Syscalls {
			if slices.Equal(r.Names, []string{"clone"}) && len(r.Args) == 1 &&
				r.Args[0].Op == specs.OpMaskedEqual && r.Args[0].Value == profile.CloneNamespaceMask && r.Args[0].ValueTwo == 0 {
				found = true
			}
		}
		if !found && !sectest.RaceEnabled() { // under -race threads come from glibc's clone3
			t.Errorf("no clone rule on its namespace flags:\n%s", b)
		}
	}
	for i := range 3 {
		code, stdout, stderr := runCLI(t, append([]string{"run", "--profile", prof, "--"}, cmd...)...)
		if code != 0 || !strings.HasPrefix(stdout, "gowork ok ") {
			t.Fatalf("run %d under the profile: exit %d, stdout %q; stderr:\n%s", i, code, stdout, stderr)
		}
		if strings.Contains(stderr, "denied") {
			// A timing-dependent runtime call the three recordings did
			// not see fails with ENOSYS, which the runtime survives.
			t.Logf("run %d under the profile: %s", i, stderr)
		}
	}
}

// TestRecordI386: an x86_64 program's i386 call (int $0x80) is recorded as
// SCMP_ARCH_X86 by its i386 name, and the program runs under the profile.
func TestRecordI386(t *testing.T) {
	bin := sysargstest.BuildABI(t)
	prof := filepath.Join(t.TempDir(), "abi.json")
	code, stdout, stderr := runCLI(t, "record", "-o", prof, "--", bin, "i386", i386Getpid)
	if code != 0 || strings.HasPrefix(strings.TrimSpace(stdout), "-") {
		t.Fatalf("record: exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	p, err := profile.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Arches(), []specs.Arch{specs.ArchX86, specs.ArchX86_64}) || !p.Has(specs.ArchX86, "getpid") {
		t.Fatalf("recording: %v; i386: %v", p.Arches(), p.Names(specs.ArchX86))
	}
	if p.Has(specs.ArchX86, "writev") {
		t.Error("i386's 20 recorded by x86_64's name")
	}
	code, stdout2, stderr := runCLI(t, "run", "--profile", prof, "--", bin, "i386", i386Getpid)
	if code != 0 || strings.HasPrefix(strings.TrimSpace(stdout2), "-") || strings.Contains(stderr, "denied") {
		t.Errorf("under its profile: exit %d, stdout %q; stderr:\n%s", code, stdout2, stderr)
	}

	// Without SCMP_ARCH_X86 the profile kills the i386 call, as runc's
	// filter would; --complain shows it and lets it run.
	native := profile.New()
	for _, c := range p.Calls() {
		if c.Arch == specs.ArchX86_64 {
			_ = native.Add(c.Arch, c.Name, c.Count)
		}
	}
	nativeOnly := filepath.Join(t.TempDir(), "native.json")
	if err := native.WriteFile(nativeOnly); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "run", "--profile", nativeOnly, "--", bin, "i386", i386Getpid)
	if code != 128+int(syscall.SIGSYS) || !strings.Contains(stderr, "calls of an architecture it does not list") {
		t.Errorf("without the i386 architecture: exit %d, want %d; stderr:\n%s", code, 128+int(syscall.SIGSYS), stderr)
	}
	code, _, stderr = runCLI(t, "run", "--profile", nativeOnly, "--complain", "--", bin, "i386", i386Getpid)
	if code != 0 || !abiLine("getpid", "[i386]", "continue (profile: kill_process)").MatchString(stderr) {
		t.Errorf("--complain without the i386 architecture: exit %d; stderr:\n%s", code, stderr)
	}
}

// TestRecordBadInput: bad flags and files are refused before anything
// runs, with status 2 and a message naming the file and the item; a
// name no table has is skipped with a warning, as runtimes do.
func TestRecordBadInput(t *testing.T) {
	dir := t.TempDir()
	files := writeProfiles(t, map[string]string{
		"malformed.json": "{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [}",
		"badaction.json": `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_BOGUS"}]}`,
		"badermo.json":   `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EBOGUS", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}`,
		"unknown.json":   `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["frobnicate", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`,
	})
	missing := filepath.Join(dir, "missing.json")
	marker := filepath.Join(dir, "ran")
	prog := []string{"--", "touch", marker}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--profile", missing}, []string{missing, "no such file"}},
		{[]string{"run", "--profile", files["malformed.json"]}, []string{files["malformed.json"], "line 2"}},
		{[]string{"run", "--profile", files["badaction.json"]}, []string{files["badaction.json"], "syscalls[0].action", "SCMP_ACT_BOGUS"}},
		{[]string{"run", "--profile", files["badermo.json"]}, []string{files["badermo.json"], "unknown errno", "EBOGUS"}},
		{[]string{"run", "--complain"}, []string{"--complain needs --profile"}},
		{[]string{"run", "--profile", files["unknown.json"], "--deny", "mkdir"}, []string{"cannot be combined"}},
		{[]string{"run", "--profile", files["unknown.json"], "--allow-read", "/"}, []string{"cannot be combined", "--allow-read"}},
		{[]string{"run", "--complain", "--allow-write", "/tmp"}, []string{"cannot be combined", "--allow-write"}},
		{[]string{"run", "--profile", files["unknown.json"], "--allow-connect", "tcp:127.0.0.1:80"}, []string{"cannot be combined", "--allow-connect"}},
		{[]string{"run", "--profile", files["unknown.json"], "--allow-bind", "tcp:127.0.0.1:0"}, []string{"cannot be combined", "--allow-bind"}},
		{[]string{"record", "--merge", missing}, []string{missing, "no such file"}},
		{[]string{"record", "--merge", files["malformed.json"]}, []string{files["malformed.json"], "line 2"}},
		{[]string{"record", "--errno", "EBOGUS"}, []string{"--errno", "EBOGUS"}},
		{[]string{"record", "--base", "docker"}, []string{"--base", `"docker"`, "runc"}},
		{[]string{"record", "-o", filepath.Join(dir, "no", "such", "dir.json")}, []string{"-o", "no such file"}},
		{[]string{"record", "--bogus"}, []string{"bogus"}},
	} {
		code, _, stderr := runCLI(t, append(tc.args, prog...)...)
		wantCode := exitUsage
		if slices.Contains(tc.args, "-o") {
			wantCode = exitFailure // the output cannot be written
		}
		if code != wantCode {
			t.Errorf("%q: exit %d, want %d; stderr:\n%s", tc.args, code, wantCode, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%q: stderr lacks %q:\n%s", tc.args, w, stderr)
			}
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%q: the program ran", tc.args)
		}
	}

	// An unknown name: a warning naming file and item, and the rest of
	// the profile holds (mkdir fails with EACCES).
	code, _, stderr := runCLI(t, "run", "--profile", files["unknown.json"], "--", "mkdir", filepath.Join(dir, "m"))
	if code == 0 || !strings.Contains(stderr, "Permission denied") {
		t.Errorf("unknown name: exit %d; stderr:\n%s", code, stderr)
	}
	for _, w := range []string{"warning", files["unknown.json"], "syscalls[0].names[0]", "frobnicate"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("unknown name: stderr lacks %q:\n%s", w, stderr)
		}
	}
}

// TestRecordWarnings: under an outer filter the recording warns that it
// may miss calls; under another recording (a listener above) it says
// plainly that the kernel refused a second listener.
func TestRecordWarnings(t *testing.T) {
	self := helperCmd(t, "cli")
	t.Setenv("SECCOMPSTREAM_CMD_OUTER", "1")
	code, stdout, stderr := plainRun(t, append(self, "record", "--", "true")...)
	if code != 0 || !strings.Contains(stderr, "already runs under 1 seccomp filter") || !strings.Contains(stdout, `"exit_group"`) {
		t.Errorf("under an outer filter: exit %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	t.Setenv("SECCOMPSTREAM_CMD_OUTER", "0")
	code, _, stderr = runCLI(t, append([]string{"record", "-o", filepath.Join(t.TempDir(), "outer.json"), "--"}, append(self, "record", "--", "true")...)...)
	if code != exitFailure || !strings.Contains(stderr, "refused a seccomp listener (EBUSY)") {
		t.Errorf("record under record: exit %d, want %d; stderr:\n%s", code, exitFailure, stderr)
	}
}

func TestSeccompStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status")
	os.WriteFile(path, []byte("Name:\tx\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\nSpeculation_Store_Bypass:\tx\n"), 0o644)
	if mode, n, err := seccompStatus(path); mode != 2 || n != 3 || err != nil {
		t.Errorf("seccompStatus = %d, %d, %v; want 2, 3", mode, n, err)
	}
	os.WriteFile(path, []byte("Seccomp:\t0\n"), 0o644)
	if mode, n, err := seccompStatus(path); mode != 0 || n != -1 || err != nil {
		t.Errorf("old kernel: seccompStatus = %d, %d, %v; want 0, -1", mode, n, err)
	}
}

func TestRecordUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"record", "--help"}, 0, "--base NAME"},
		{[]string{"help", "record"}, 0, "ENOSYS, not EPERM"},
		{[]string{"help"}, 0, "record"},
		{[]string{"record"}, exitUsage, "no program"},
		{[]string{"help", "run"}, 0, "--complain"},
		{[]string{"help", "agent"}, 0, "--record DIR"},
		{[]string{"record", "--", "/nonexistent/prog"}, exitNotFound, "no such file"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%q: exit %d, want %d; output lacks %q?\n%s%s", tc.args, code, tc.code, tc.want, stdout, stderr)
		}
	}
	// The exit status is the program's, and the profile is written.
	out := filepath.Join(t.TempDir(), "p.json")
	if code, _, stderr := runCLI(t, "record", "-o", out, "--", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exit %d, want 7\n%s", code, stderr)
	}
	if _, err := profile.ReadFile(out); err != nil {
		t.Errorf("no profile after a failing program: %v", err)
	}
}

func TestProfileFileName(t *testing.T) {
	for id, want := range map[string]string{
		"web-1":      "web-1.json",
		"a_b+c.d":    "a_b+c.d.json",
		"../../etc":  "%2E.%2F..%2Fetc.json",
		".hidden":    "%2Ehidden.json",
		"x/y":        "x%2Fy.json",
		"":           "%00.json",
		"sp ace\x00": "sp%20ace%00.json",
	} {
		if got := profileFileName(id); got != want {
			t.Errorf("profileFileName(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestRunDockerProfile: run --profile enforces Docker's default profile
// (moby's own, with argument conditions and errno rules of its own):
// ordinary programs run, and a call it denies without CAP_SYS_ADMIN
// (unshare of a user namespace) fails with its errno and is shown.
func TestRunDockerProfile(t *testing.T) {
	sectest.RequireTool(t, "unshare")
	prof := filepath.Join(t.TempDir(), "docker.json")
	if err := os.WriteFile(prof, ocitest.DockerProfile(t), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "run", "--profile", prof, "--", "sh", "-c", "echo hi; ls / >/dev/null")
	if code != 0 || stdout != "hi\n" {
		t.Errorf("sh under Docker's profile: exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "run", "--profile", prof, "--", "unshare", "-U", "true")
	if code == 0 || !strings.Contains(stderr, "unshare(CLONE_NEWUSER) = EPERM") || !strings.Contains(stderr, "denied 1 call: unshare (1)") {
		t.Errorf("unshare -U under Docker's profile: exit %d; stderr:\n%s", code, stderr)
	}
}
