// Package sysargstest builds the C program the sysargs and CLI tests run
// to see native and i386 calls decoded on the real kernel.
package sysargstest

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

//go:embed testdata/abi.c
var abiSource string

// BuildABI compiles testdata/abi.c with gcc into a temporary directory of t and
// returns the program's path. The program takes a file path; it makes, in
// this order, the native calls mmap(NULL, 4096, PROT_READ|PROT_WRITE,
// MAP_PRIVATE|MAP_ANONYMOUS, -1, 0), mprotect(PROT_READ),
// rt_sigaction(SIGINT), openat(path, O_RDONLY|O_CLOEXEC) (and stops there
// when the path follows a "--native" argument), then the i386 calls (int $0x80) getpid,
// write(1, "hello\n", 6), open(path, O_RDONLY), close, mmap2, munmap, the
// old mmap (struct of six values), rt_sigaction(SIGINT), and socketcall's
// SYS_SOCKET (AF_INET, SOCK_STREAM) and SYS_CONNECT (127.0.0.1:9), and
// exits 0 when each gave the result it expects.
//
// It skips the test on anything but x86_64, when gcc is missing (failing
// in CI, see sectest.RequireTool), and when the kernel cannot run i386
// code (built without IA32 emulation, or booted with ia32_emulation=0).
func BuildABI(t testing.TB) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the i386 helper is for x86_64")
	}
	gcc := sectest.RequireTool(t, "gcc")
	dir := t.TempDir()
	src := filepath.Join(dir, "abi.c")
	bin := filepath.Join(dir, "abi")
	if err := os.WriteFile(src, []byte(abiSource), 0o644); err != nil {
		t.Fatal(err)
	}
	// Non-PIE, so that static buffers are below 4 GiB; no red zone, as
	// sys32 pushes below the stack pointer.
	out, err := exec.Command(gcc, "-O1", "-no-pie", "-mno-red-zone", "-o", bin, src).CombinedOutput()
	if err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, src).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "abi:") {
			t.Fatalf("%s without a filter: %v\n%s", bin, err, out)
		}
		t.Skipf("%s does not run (no IA32 emulation?): %v\n%s", bin, err, out)
	}
	return bin
}
