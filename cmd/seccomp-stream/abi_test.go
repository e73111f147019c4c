package main

import (
	"encoding/json"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sysargs/sysargstest"
)

// Call numbers for sysargstest's helper, which "abi i386 NR" makes the one
// i386 call NR (int $0x80), "abi x32 NR" the one x32 call NR (the syscall
// instruction with the x32 bit set), each without arguments, and prints
// the raw result (a negative errno on failure). getpid is 20 on i386
// (x86_64's 20 is writev) and 39 on x32 and x86_64; x32 has no call 1000.
// The helper is static, so it also runs in a busybox container.
const (
	i386Getpid = "20"
	x32Getpid  = "39"
	x32Unnamed = "1000"
)

// A line of the trace that shows call name through ABI abi (as the text
// form marks other ABIs), with the decision.
func abiLine(name, abi, decision string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\d+ ` + regexp.QuoteMeta(name) + `.*` + regexp.QuoteMeta(abi) + `.*\) = ` + regexp.QuoteMeta(decision) + `$`)
}

// TestRunTraceAllI386: --trace all shows an i386 getpid by its i386 name
// and lets it run. (Before, the filter killed the helper with SIGSYS, exit
// 159, and nothing was printed.)
func TestRunTraceAllI386(t *testing.T) {
	bin := sysargstest.BuildABI(t)
	code, stdout, stderr := runCLI(t, "run", "--trace", "all", "--", bin, "i386", i386Getpid)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if v, err := strconv.Atoi(strings.TrimSpace(stdout)); err != nil || v <= 0 {
		t.Errorf("i386 getpid printed %q, want a pid", stdout)
	}
	if !abiLine("getpid", "[i386]", "continue").MatchString(stderr) {
		t.Errorf("no trace line for the i386 getpid:\n%s", stderr)
	}

	// The same in JSON: the record names the call and its ABI.
	code, _, stderr = runCLI(t, "run", "--trace", "all", "--json", "--", bin, "i386", i386Getpid)
	if code != 0 {
		t.Fatalf("--json: exit %d; stderr:\n%s", code, stderr)
	}
	found := false
	for line := range strings.SplitSeq(strings.TrimSpace(stderr), "\n") {
		var rec traceRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if rec.Syscall == "getpid" && rec.Arch == "i386" && rec.Decision == "continue" {
			found = true
		}
	}
	if !found {
		t.Errorf("no JSON record of the i386 getpid:\n%s", stderr)
	}
}

// TestRunNamesEveryABI: --trace NAME and --deny NAME apply to the i386 call
// of that name, not to the i386 call with the native number.
func TestRunNamesEveryABI(t *testing.T) {
	bin := sysargstest.BuildABI(t)
	code, stdout, stderr := runCLI(t, "run", "--deny", "getpid:EXDEV", "--", bin, "i386", i386Getpid)
	if code != 0 || strings.TrimSpace(stdout) != strconv.Itoa(-int(syscall.EXDEV)) {
		t.Fatalf("--deny getpid:EXDEV: exit %d, i386 getpid printed %q, want -%d; stderr:\n%s", code, stdout, syscall.EXDEV, stderr)
	}
	if !abiLine("getpid", "[i386]", "EXDEV").MatchString(stderr) {
		t.Errorf("no trace line for the denied i386 getpid:\n%s", stderr)
	}

	code, stdout, stderr = runCLI(t, "run", "--trace", "getpid", "--", bin, "i386", i386Getpid)
	if v, _ := strconv.Atoi(strings.TrimSpace(stdout)); code != 0 || v <= 0 {
		t.Fatalf("--trace getpid: exit %d, printed %q; stderr:\n%s", code, stdout, stderr)
	}
	if !abiLine("getpid", "[i386]", "continue").MatchString(stderr) {
		t.Errorf("--trace getpid does not show the i386 getpid:\n%s", stderr)
	}

	// writev is x86_64's number 20: denying it leaves i386's 20 alone.
	code, stdout, stderr = runCLI(t, "run", "--deny", "writev:EXDEV", "--", bin, "i386", i386Getpid)
	if v, _ := strconv.Atoi(strings.TrimSpace(stdout)); code != 0 || v <= 0 {
		t.Fatalf("--deny writev: exit %d, i386 getpid printed %q, want a pid; stderr:\n%s", code, stdout, stderr)
	}
}

// x32 calls reach the rules too. On a kernel without x32 (most, and this
// project's machines) a call that runs fails with ENOSYS (-38); with it, a
// getpid returns the pid. Either way the program is not killed.
func TestRunX32(t *testing.T) {
	bin := sysargstest.BuildABI(t)
	ran := func(out string) bool {
		v, err := strconv.Atoi(strings.TrimSpace(out))
		return err == nil && (v > 0 || v == -int(syscall.ENOSYS))
	}
	code, stdout, stderr := runCLI(t, "run", "--trace", "all", "--", bin, "x32", x32Getpid)
	if code != 0 || !ran(stdout) {
		t.Fatalf("--trace all: exit %d, x32 getpid printed %q; stderr:\n%s", code, stdout, stderr)
	}
	if !abiLine("getpid", "x32", "continue").MatchString(stderr) {
		t.Errorf("no trace line for the x32 getpid:\n%s", stderr)
	}

	code, stdout, stderr = runCLI(t, "run", "--deny", "getpid:EXDEV", "--", bin, "x32", x32Getpid)
	if code != 0 || strings.TrimSpace(stdout) != strconv.Itoa(-int(syscall.EXDEV)) {
		t.Fatalf("--deny getpid:EXDEV: exit %d, x32 getpid printed %q; stderr:\n%s", code, stdout, stderr)
	}
	if !abiLine("getpid", "x32", "EXDEV").MatchString(stderr) {
		t.Errorf("no trace line for the denied x32 getpid:\n%s", stderr)
	}

	// Not named: let run, not shown.
	code, stdout, stderr = runCLI(t, "run", "--trace", "openat", "--", bin, "x32", x32Getpid)
	if code != 0 || !ran(stdout) || strings.Contains(stderr, "getpid") {
		t.Fatalf("--trace openat: exit %d, x32 getpid printed %q; stderr:\n%s", code, stdout, stderr)
	}

	// A number the tables cannot name fails with ENOSYS under a deny list
	// (it could be a denied call), shown, whatever the kernel.
	code, stdout, stderr = runCLI(t, "run", "--deny", "execve", "--", bin, "x32", x32Unnamed)
	if code != 0 || strings.TrimSpace(stdout) != strconv.Itoa(-int(syscall.ENOSYS)) {
		t.Fatalf("--deny execve, x32 call %s: exit %d, printed %q; stderr:\n%s", x32Unnamed, code, stdout, stderr)
	}
	if !regexp.MustCompile(`(?m)^\d+ .*\) = ENOSYS$`).MatchString(stderr) {
		t.Errorf("no trace line for the unnamed x32 call:\n%s", stderr)
	}
}

// TestRunKilledBySIGSYS: a program that dies of SIGSYS gets one line
// saying whether the filter can have done it (here: it cannot).
func TestRunKilledBySIGSYS(t *testing.T) {
	code, _, stderr := runCLI(t, "run", "--trace", "getpid", "--", "sh", "-c", "kill -SYS $$")
	if code != 128+int(syscall.SIGSYS) {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, 128+int(syscall.SIGSYS), stderr)
	}
	want := "seccomp-stream run: sh was killed by SIGSYS"
	if strings.Count(stderr, want) != 1 {
		t.Fatalf("stderr lacks one %q line:\n%s", want, stderr)
	}
	if runtime.GOARCH == "amd64" && !strings.Contains(stderr, "not by this filter") {
		t.Errorf("on x86_64 the filter kills nothing:\n%s", stderr)
	}
}
