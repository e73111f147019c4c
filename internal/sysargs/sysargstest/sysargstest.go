// Package sysargstest builds and runs the C program the sysargs and CLI
// tests use to see native and i386 calls decoded on the real kernel.
package sysargstest

import (
	"context"
	_ "embed"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/cbuild"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

//go:embed testdata/abi.c
var abiSource []byte

// BuildABI compiles testdata/abi.c with gcc into a temporary directory of
// t and returns the program's path. The program takes a file path; it makes, in
// this order, the native calls mmap(NULL, 4096, PROT_READ|PROT_WRITE,
// MAP_PRIVATE|MAP_ANONYMOUS, -1, 0), mprotect(PROT_READ),
// rt_sigaction(SIGINT), openat(path, O_RDONLY|O_CLOEXEC) (and stops there
// when the path follows a "--native" argument), then the i386 calls (int $0x80) getpid,
// write(1, "hello\n", 6), open(path, O_RDONLY), close, mmap2, munmap, the
// old mmap (struct of six values), rt_sigaction(SIGINT), and socketcall's
// SYS_SOCKET (AF_INET, SOCK_STREAM) and SYS_CONNECT (127.0.0.1:9), and
// exits 0 when each gave the result it expects. "abi i386 NR" and "abi x32
// NR" make the one call NR of that ABI, without arguments, and print its
// raw result.
//
// It skips the test on anything but x86_64, and (failing in CI instead,
// see sectest.BuildC and RequireFeature) when gcc is missing or the
// kernel cannot run i386 code (built without IA32 emulation, or booted with
// ia32_emulation=0).
//
// $SECCOMPSTREAM_SYSARGS_HELPER may name the program built beforehand with
// the same flags, for machines without gcc such as the qemu guest of
// scripts/kernel-test (see .ci/run); when it is set, nothing is compiled.
func BuildABI(t testing.TB) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the i386 helper is for x86_64")
	}
	return checkABI(t, sectest.BuildC(t, abiProgram))
}

// abiProgram is the program BuildABI builds (.ci/run builds it with the
// same flags). Non-PIE, so that static buffers are below 4 GiB; no red
// zone, as sys32 pushes below the stack pointer; static, so that it runs
// where there is no C library (and makes no loader calls).
var abiProgram = cbuild.Program{
	Name:     "abi",
	Source:   abiSource,
	Flags:    []string{"-O1", "-static", "-no-pie", "-mno-red-zone"},
	Prebuilt: "SECCOMPSTREAM_SYSARGS_HELPER",
}

// checkABI runs the helper once without a filter: it must work, or the
// kernel cannot run i386 code.
func checkABI(t testing.TB, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, bin).CombinedOutput()
	if err != nil && strings.Contains(string(out), "abi:") {
		t.Fatalf("%s without a filter: %v\n%s", bin, err, out)
	}
	if err != nil {
		t.Logf("%s without a filter: %v\n%s", bin, err, out)
	}
	// Killed by a signal without a word: int $0x80 does not work.
	sectest.RequireFeature(t, "IA32 emulation (CONFIG_IA32_EMULATION, int $0x80)", "", err == nil)
	return bin
}

// RunABI runs the program BuildABI built, with args, under a filter that
// lets i386 calls through and notifies calls (resolved on x86_64 and on
// i386), calls handle for each notification before answering it with
// Continue, and returns once the program has exited and the stream has
// ended. It fails the test if the program fails; it returns what the
// program wrote to its standard output.
func RunABI(t testing.TB, bin string, args []string, calls []string, handle func(*seccompstream.Notification)) string {
	t.Helper()
	sectest.RequireKernel(t, sectest.Continue)
	f := filter.New(filter.Allow)
	if err := f.AddArch(unix.AUDIT_ARCH_I386); err != nil {
		t.Fatal(err)
	}
	if err := f.Add(filter.Notify, calls...); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Close()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for n, err := range s.All(ctx) {
		if err != nil {
			t.Errorf("Receive: %v", err)
			_ = cmd.Process.Kill()
			break
		}
		handle(n)
		if err := s.Respond(n, seccompstream.Continue()); err != nil {
			t.Errorf("Respond: %v", err)
		}
	}
	if err := <-waited; err != nil {
		t.Fatalf("%s: %v\nstderr: %s", bin, err, stderr.String())
	}
	return stdout.String()
}
