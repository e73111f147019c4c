package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysargs/sysargstest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// TestFlagFormatting pins how trace lines show flags and special values
// (formerly trace.go's own tables, now internal/sysargs's).
func TestFlagFormatting(t *testing.T) {
	native := sysnames.Native()
	format := func(k sysargs.Kind, v uint64) string { return sysargs.Format(native, k, v) }
	arg := func(name string, i int, args ...uint64) string {
		nr, _ := sysnames.Number(native, name)
		var a [6]uint64
		copy(a[:], args)
		c := sysargs.Decode(native, nr, a, nil)
		return c.Args[i].String()
	}
	for _, tc := range []struct{ got, want string }{
		{format(sysargs.OpenFlags, unix.O_RDONLY|unix.O_CLOEXEC), "O_RDONLY|O_CLOEXEC"},
		{format(sysargs.OpenFlags, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC), "O_WRONLY|O_CREAT|O_TRUNC"},
		{format(sysargs.OpenFlags, unix.O_RDWR|unix.O_TMPFILE), "O_RDWR|O_TMPFILE"},
		{format(sysargs.OpenFlags, unix.O_RDONLY|unix.O_DIRECTORY), "O_RDONLY|O_DIRECTORY"},
		{format(sysargs.UnlinkFlags, unix.AT_REMOVEDIR), "AT_REMOVEDIR"},
		{format(sysargs.AtFlags, 0), "0"},
		{format(sysargs.AtFlags, 1<<30), "0x40000000"},
		{format(sysargs.AccessMode, unix.R_OK|unix.X_OK), "R_OK|X_OK"},
		{format(sysargs.AccessMode, 0), "F_OK"},
		{arg("openat", 0, uint64(0xffffff9c)), "AT_FDCWD"},
		{arg("mkdirat", 2, 3, 0, 0o755), "0755"},
		{arg("newfstatat", 2, 3, 0, 0), "NULL"},
		{format(sysargs.MmapProt, unix.PROT_READ|unix.PROT_WRITE), "PROT_READ|PROT_WRITE"},
		{format(sysargs.MmapFlags, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS), "MAP_PRIVATE|MAP_ANONYMOUS"},
		{format(sysargs.Signal, uint64(unix.SIGINT)), "SIGINT"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestFormatCallRaw: a number no table knows is shown with its raw
// registers, as before.
func TestFormatCallRaw(t *testing.T) {
	n := &seccompstream.Notification{PID: 7, Arch: sysnames.Native(), Syscall: 9999, Args: [6]uint64{1, 0, 3}}
	got := string(formatCall(n, seccompstream.Errno(unix.ENOSYS), false))
	if got != "7 syscall_9999(0x1, 0x0, 0x3) = ENOSYS\n" {
		t.Errorf("got %q", got)
	}
}

// formatABIHelper runs the ABI helper with the listed calls notified, and
// returns formatCall's lines (text, and JSON) for every notification.
func formatABIHelper(t *testing.T, args []string, calls ...string) (lines []string, records []traceRecord) {
	t.Helper()
	bin := sysargstest.BuildABI(t)
	sysargstest.RunABI(t, bin, args, calls, func(n *seccompstream.Notification) {
		lines = append(lines, string(formatCall(n, seccompstream.Continue(), false)))
		var rec traceRecord
		if err := json.Unmarshal(formatCall(n, seccompstream.Continue(), true), &rec); err != nil {
			t.Errorf("JSON line: %v", err)
		}
		records = append(records, rec)
	})
	return lines, records
}

// TestTraceI386 runs a program that makes i386 calls (int $0x80) on
// x86_64: the trace shows them by their i386 names, decoded with the i386
// ABI (its numbers, 32-bit pointers, mmap2's registers).
func TestTraceI386(t *testing.T) {
	file := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, records := formatABIHelper(t, []string{file}, "getpid", "write", "open", "mmap", "mmap2", "mprotect", "rt_sigaction", "socketcall")
	all := strings.Join(lines, "")
	pid := strings.Fields(lines[len(lines)-1])[0]
	for _, want := range []string{
		pid + " mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = continue\n",
		", 4096, PROT_READ) = continue\n",
		pid + " rt_sigaction(SIGINT, 0x",
		pid + " getpid[i386]() = continue\n",
		pid + ` write[i386](1, "hello\n", 6) = continue` + "\n",
		pid + fmt.Sprintf(" open[i386](%q, O_RDONLY) = continue\n", file),
		pid + " mmap2[i386](NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = continue\n",
		pid + " mmap[i386]({addr=NULL, len=8192, prot=PROT_READ, flags=MAP_PRIVATE|MAP_ANONYMOUS, fd=-1, offset=0}) = continue\n",
		pid + " rt_sigaction[i386](SIGINT, 0x",
		pid + " socketcall[i386](SYS_SOCKET, [AF_INET, SOCK_STREAM, 0]) = continue\n",
		", {AF_INET 127.0.0.1:9}, 16]) = continue\n",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("trace lacks %q:\n%s", want, all)
		}
	}
	sawOpen := false
	for _, rec := range records {
		if rec.Syscall == "open" && rec.Arch == "i386" {
			sawOpen = true
			if len(rec.Args) != 2 || rec.Args[0] != fmt.Sprintf("%q", file) || rec.Args[1] != "O_RDONLY" || len(rec.Raw) != 6 {
				t.Errorf("i386 open record: %+v", rec)
			}
		}
		if rec.Arch != "" && rec.Arch != "i386" {
			t.Errorf("record with arch %q: %+v", rec.Arch, rec)
		}
	}
	if !sawOpen {
		t.Errorf("no JSON record of the i386 open")
	}
}

// TestRunTraceDecodes goes through run(): mmap and mprotect show their
// PROT_ and MAP_ names, rt_sigaction its signal's.
func TestRunTraceDecodes(t *testing.T) {
	bin := sysargstest.BuildABI(t)
	file := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "run", "--trace", "mmap,mprotect,rt_sigaction,openat", "--", bin, "--native", file)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		" mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = continue\n",
		", 4096, PROT_READ) = continue\n",
		" rt_sigaction(SIGINT, 0x",
		fmt.Sprintf(" openat(AT_FDCWD, %q, O_RDONLY|O_CLOEXEC) = continue\n", file),
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("trace lacks %q:\n%s", want, stderr)
		}
	}
}
