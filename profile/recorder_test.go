package profile_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/filter/oci"
	"github.com/seccompstream/seccompstream/internal/cbuild"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/profile"
)

// result is how a program run ended.
type result struct {
	code   int // exit status, 128+N for signal N
	stdout string
	stderr string
}

func exitCode(cmd *exec.Cmd) int {
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// runPlain runs cmd without a filter.
func runPlain(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return result{exitCode(cmd), out.String(), errb.String()}
}

// recordFilter notifies every call of the native ABI and, on x86_64, of
// i386.
func recordFilter(t *testing.T) *filter.Filter {
	t.Helper()
	f := filter.New(filter.Notify)
	if sysnames.Native() == unix.AUDIT_ARCH_X86_64 {
		if err := f.AddArch(unix.AUDIT_ARCH_I386); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// record runs cmd under a filter that notifies every call, serves it with
// a Recorder and returns what it recorded.
func record(t *testing.T, cmd *exec.Cmd) (*profile.Profile, *profile.Recorder, result) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	s, err := seccompstream.Start(cmd, recordFilter(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	rec := profile.NewRecorder()
	if err := s.Serve(ctx, rec); err != nil {
		t.Errorf("Serve: %v", err)
	}
	werr := <-waited
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		t.Fatal(werr)
	}
	return rec.Profile(), rec, result{exitCode(cmd), out.String(), errb.String()}
}

// enforce runs cmd under p, as a runtime would load it.
func enforce(t *testing.T, p *profile.Profile, cmd *exec.Cmd) result {
	t.Helper()
	s, err := p.OCI()
	if err != nil {
		t.Fatal(err)
	}
	f, err := oci.FromSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	st, err := seccompstream.Start(cmd, f)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	werr := cmd.Wait()
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		t.Fatal(werr)
	}
	return result{exitCode(cmd), out.String(), errb.String()}
}

func TestRecordShell(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hostname")
	if err := os.WriteFile(file, []byte("box\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "ls / >/dev/null; cat " + file
	plain := runPlain(t, exec.Command("sh", "-c", script))
	if plain.code != 0 || plain.stdout != "box\n" {
		t.Fatalf("plain run: %+v", plain)
	}
	p, _, got := record(t, exec.Command("sh", "-c", script))
	if got != plain {
		t.Fatalf("recorded run: %+v\nplain run: %+v", got, plain)
	}
	native, _ := nativeOCIArch()
	for _, name := range []string{"execve", "exit_group", "write", "getdents64"} {
		if !p.Has(native, name) {
			t.Errorf("recording lacks %s", name)
		}
	}
	if !p.Has(native, "openat") && !p.Has(native, "open") {
		t.Error("recording lacks openat and open")
	}
	if !p.Has(native, "read") && !p.Has(native, "sendfile") { // busybox cat: sendfile
		t.Error("recording lacks read and sendfile")
	}
	// Start answers the exec of sh itself (it is the launcher's last
	// call), so the Stream shows only the ones sh makes: ls and cat (as a
	// busybox shell in the qemu guest runs them, at least one).
	if c, _ := p.Lookup(native, "execve"); c.Count < 1 || c.Count > 2 {
		t.Errorf("execve count %d, want 1 or 2 (ls, cat)", c.Count)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var s specs.LinuxSeccomp
	if err := jsonUnmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Architectures) != 1 || s.Architectures[0] != native {
		t.Errorf("architectures %v, want [%s]", s.Architectures, native)
	}

	// The program runs the same under its profile...
	if under := enforce(t, p, exec.Command("sh", "-c", script)); under != plain {
		t.Errorf("under its profile: %+v\nplain: %+v", under, plain)
	}
	// ...and a call it never made fails, with nothing done.
	dir := filepath.Join(t.TempDir(), "made")
	under := enforce(t, p, exec.Command("sh", "-c", script+"; mkdir "+dir))
	if under.code == 0 || !strings.Contains(under.stderr, "not implemented") {
		t.Errorf("mkdir under the profile: %+v", under)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s was made (%v)", dir, err)
	}
}

// TestRecordDeterministic: two recordings of one deterministic program
// give the same file, counts included.
func TestRecordDeterministic(t *testing.T) {
	var files [2][]byte
	for i := range files {
		p, _, res := record(t, exec.Command("ls", "/"))
		if res.code != 0 {
			t.Fatalf("ls: %+v", res)
		}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		files[i] = b
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Errorf("two recordings of ls / differ:\n%s\n---\n%s", files[0], files[1])
	}
}

// TestRecordChildAndThread: calls that only a forked child and only a
// second thread make are recorded.
func TestRecordChildAndThread(t *testing.T) {
	bin := buildC(t, "forkthread", `
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

static void *thread(void *arg) {
	struct tms t;
	syscall(SYS_times, &t); /* only this thread calls times */
	return arg;
}

int main(void) {
	pid_t pid = fork();
	if (pid == 0) {
		struct sysinfo si;
		syscall(SYS_sysinfo, &si); /* only the child calls sysinfo */
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	pthread_t th;
	pthread_create(&th, NULL, thread, NULL);
	pthread_join(th, NULL);
	puts("done");
	return 0;
}
`, "-pthread")
	p, _, res := record(t, exec.Command(bin))
	if res.code != 0 || res.stdout != "done\n" {
		t.Fatalf("helper: %+v", res)
	}
	native, _ := nativeOCIArch()
	for _, name := range []string{"sysinfo", "times", "wait4"} {
		if !p.Has(native, name) {
			t.Errorf("recording lacks %s", name)
		}
	}
	if !p.Has(native, "clone") && !p.Has(native, "clone3") && !p.Has(native, "fork") {
		t.Error("recording lacks the fork")
	}
	if under := enforce(t, p, exec.Command(bin)); under != res {
		t.Errorf("under its profile: %+v", under)
	}
}

// TestRecordI386: an x86_64 program's int $0x80 calls are i386 calls, and
// are recorded as such.
func TestRecordI386(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("int $0x80 is an x86_64 thing")
	}
	// Static and not position-independent, so that the message is below
	// 4 GiB, where the i386 ABI's 32-bit pointers reach it.
	bin := buildC(t, "i386", `
static const char msg[] = "hi from i386\n";

static long call32(long nr, long a, long b, long c) {
	long ret;
	__asm__ volatile ("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

int main(void) {
	call32(20, 0, 0, 0);                         /* getpid */
	call32(4, 1, (long)msg, sizeof msg - 1);     /* write */
	call32(252, 7, 0, 0);                        /* exit_group(7) */
	return 1;
}
`, "-static", "-no-pie")
	p, _, res := record(t, exec.Command(bin))
	if res.code != 7 || res.stdout != "hi from i386\n" {
		t.Fatalf("helper: %+v", res)
	}
	for _, name := range []string{"getpid", "write", "exit_group"} {
		if !p.Has(i386, name) {
			t.Errorf("recording lacks i386 %s", name)
		}
	}
	if p.Has(i386, "arch_prctl") || !p.Has(x86_64, "arch_prctl") {
		t.Error("the C library's start-up calls recorded on the wrong arch")
	}
	if got := p.Arches(); len(got) != 2 {
		t.Errorf("arches %v, want SCMP_ARCH_X86 and SCMP_ARCH_X86_64", got)
	}
	if under := enforce(t, p, exec.Command(bin)); under != res {
		t.Errorf("under its profile: %+v, want %+v", under, res)
	}
	// Without the i386 architecture, its calls are refused.
	if under := enforce(t, onlyArch(p, x86_64), exec.Command(bin)); under.code == 7 {
		t.Errorf("ran without the i386 architecture: %+v", under)
	}
}

// onlyArch returns p's calls of arch.
func onlyArch(p *profile.Profile, arch specs.Arch) *profile.Profile {
	q := profile.New()
	for _, c := range p.Calls() {
		if c.Arch == arch {
			_ = q.Add(c.Arch, c.Name, c.Count)
		}
	}
	return q
}

// TestRecordGoProgram: a Go program with goroutines, garbage collection and
// preemption signals records, and then runs under its profile.
func TestRecordGoProgram(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	gowork := func() *exec.Cmd {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), envGoWork+"=1")
		return cmd
	}
	plain := runPlain(t, gowork())
	if plain.code != 0 || plain.stdout != goWorkOutput {
		t.Fatalf("plain run: %+v", plain)
	}
	// A Go program's runtime makes some calls only at times (a thread
	// started, a heap grown): record a few runs and take their union, as
	// a user recording a test suite would.
	var runs []*profile.Profile
	for range 3 {
		p, _, res := record(t, gowork())
		if res != plain {
			t.Fatalf("recorded run: %+v", res)
		}
		runs = append(runs, p)
	}
	p := profile.Merge(runs...)
	native, _ := nativeOCIArch()
	for _, name := range []string{"futex", "mmap", "rt_sigaction", "rt_sigreturn", "exit_group"} {
		if !p.Has(native, name) {
			t.Errorf("recording lacks %s", name)
		}
	}
	// Threads: clone from the Go runtime, clone3 from glibc's
	// pthread_create under cgo (the race detector).
	if !p.Has(native, "clone") && !p.Has(native, "clone3") {
		t.Errorf("recording lacks clone and clone3: %v", p.Names(native))
	}
	base := profile.Intersect(runs...)
	t.Logf("%d calls in the union, %d in every run; only some runs: %v",
		p.Len(), base.Len(), callStrings(profile.Diff(p, base)))
	for i := range 3 {
		if under := enforce(t, p, gowork()); under != plain {
			t.Fatalf("run %d under its profile: %+v", i, under)
		}
	}
}

// nativeOCIArch is the OCI name of the test's own architecture.
func nativeOCIArch() (specs.Arch, bool) {
	switch runtime.GOARCH {
	case "amd64":
		return x86_64, true
	case "arm64":
		return specs.ArchAARCH64, true
	}
	return "", false
}

// buildC compiles a C program with gcc.
func buildC(t *testing.T, name, src string, flags ...string) string {
	t.Helper()
	return sectest.BuildC(t, cbuild.Program{Name: name, Source: []byte(src), Flags: append([]string{"-O2", "-Wall"}, flags...)})
}

func TestRecorderUnknownAndX32(t *testing.T) {
	rec := profile.NewRecorder()
	n := &seccompstream.Notification{Arch: unix.AUDIT_ARCH_X86_64, Syscall: 0} // read
	rec.Record(n)
	rec.Record(&seccompstream.Notification{Arch: unix.AUDIT_ARCH_X86_64, Syscall: 99999})
	rec.Record(&seccompstream.Notification{Arch: unix.AUDIT_ARCH_X86_64, Syscall: -1})
	rec.Record(&seccompstream.Notification{Arch: unix.AUDIT_ARCH_X86_64, Syscall: sysnames.X32Bit | 1})   // x32 write
	rec.Record(&seccompstream.Notification{Arch: unix.AUDIT_ARCH_X86_64, Syscall: sysnames.X32Bit | 520}) // x32's own execve
	rec.Record(&seccompstream.Notification{Arch: unix.AUDIT_ARCH_X86_64, Syscall: sysnames.X32Bit | 59})  // x86_64's execve: not x32's
	rec.Record(&seccompstream.Notification{Arch: 0x1234, Syscall: 3})
	rec.Record(&seccompstream.Notification{Arch: 0x1234, Syscall: 3})
	got := callStrings(rec.Profile())
	if want := []string{"SCMP_ARCH_X32 execve", "SCMP_ARCH_X32 write", "SCMP_ARCH_X86_64 read"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Profile: %q, want %q", got, want)
	}
	want := []profile.UnknownCall{
		{Arch: 0x1234, Syscall: 3, Count: 2},
		{Arch: unix.AUDIT_ARCH_X86_64, Syscall: -1, Count: 1},
		{Arch: unix.AUDIT_ARCH_X86_64, Syscall: 99999, Count: 1},
		{Arch: unix.AUDIT_ARCH_X86_64, Syscall: sysnames.X32Bit | 59, Count: 1},
	}
	if got := rec.Unknown(); !slices.Equal(got, want) {
		t.Errorf("Unknown() = %+v, want %+v", got, want)
	}
	if resp := rec.ServeNotification(context.Background(), n); !resp.IsContinue() {
		t.Errorf("answer %v, want continue", resp)
	}
	h := rec.Wrap(seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Errno(unix.EPERM)
	}))
	if resp := h.ServeNotification(context.Background(), n); resp.Errno() != unix.EPERM {
		t.Errorf("wrapped answer %v", resp)
	}
	if c, _ := rec.Profile().Lookup(x86_64, "read"); c.Count != 3 {
		t.Errorf("read counted %d times, want 3", c.Count)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	var rec profile.Recorder // the zero value works
	const goroutines = 8
	n := sectest.Scale(20000)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arch := uint32(unix.AUDIT_ARCH_X86_64)
			if g%2 == 1 {
				arch = unix.AUDIT_ARCH_I386
			}
			for i := range n {
				rec.Record(&seccompstream.Notification{Arch: arch, Syscall: int32(i % 3)})
				if i%1000 == 0 {
					rec.Profile() // snapshots while recording
				}
			}
		}()
	}
	wg.Wait()
	p := rec.Profile()
	var total uint64
	for _, c := range p.Calls() {
		total += c.Count
	}
	if total != goroutines*uint64(n) || p.Len() != 6 {
		t.Errorf("%d calls counted in %v, want %d in 6", total, callStrings(p), goroutines*n)
	}
}

func TestRecordAllocs(t *testing.T) {
	if sectest.RaceEnabled() {
		t.Skip("the race detector allocates")
	}
	rec := profile.NewRecorder()
	n := &seccompstream.Notification{Arch: sysnames.Native(), Syscall: 1}
	rec.Record(n) // first call of the arch: the table is made
	if a := testing.AllocsPerRun(1000, func() { rec.Record(n) }); a != 0 {
		t.Errorf("Record allocates %v times per call", a)
	}
	if a := testing.AllocsPerRun(1000, func() { rec.ServeNotification(context.Background(), n) }); a != 0 {
		t.Errorf("ServeNotification allocates %v times per call", a)
	}
}

func BenchmarkRecord(b *testing.B) {
	rec := profile.NewRecorder()
	n := &seccompstream.Notification{Arch: sysnames.Native(), Syscall: 1}
	rec.Record(n)
	b.ReportAllocs()
	for b.Loop() {
		rec.Record(n)
	}
}

func BenchmarkRecordParallel(b *testing.B) {
	rec := profile.NewRecorder()
	rec.Record(&seccompstream.Notification{Arch: sysnames.Native(), Syscall: 1})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		n := &seccompstream.Notification{Arch: sysnames.Native()}
		i := int32(0)
		for pb.Next() {
			n.Syscall = i % 64
			rec.Record(n)
			i++
		}
	})
}

// BenchmarkServeRecorder measures a notified call answered through Serve
// by a Recorder, beside the same Serve with a handler that only answers
// Continue: the difference is what recording costs per call.
func BenchmarkServeRecorder(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    func() seccompstream.Handler
	}{
		{"continue", func() seccompstream.Handler { return seccompstream.Answer(seccompstream.Continue()) }},
		{"recorder", func() seccompstream.Handler { return profile.NewRecorder() }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := sectest.StartChild(b, sectest.Opts{Scenario: "spin", Args: []string{strconv.Itoa(b.N)}, Notify: []string{"getppid"}, WaitKillableRecv: true})
			s, err := seccompstream.New(c.Listener)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			h := bc.h()
			b.ReportAllocs()
			b.ResetTimer()
			if err := s.Serve(context.Background(), h); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if code := c.ExitCode(); code != 0 {
				b.Fatalf("child exited %d: %s", code, c.Output())
			}
		})
	}
}
