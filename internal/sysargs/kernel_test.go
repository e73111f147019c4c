package sysargs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysargs/sysargstest"
)

func TestMain(m *testing.M) {
	os.Exit(sectest.RunMain(m.Run, "github.com/seccompstream/seccompstream/internal/sysargs"))
}

// traced is one decoded notification.
type traced struct {
	abi  string
	text string
	call sysargs.Call
}

// traceABIHelper runs the ABI helper with the listed calls notified and
// decodes every notification with the target's real memory.
func traceABIHelper(t *testing.T, calls ...string) []traced {
	t.Helper()
	bin := sysargstest.BuildABI(t)
	file := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var seen []traced
	out := sysargstest.RunABI(t, bin, []string{file}, calls, func(n *seccompstream.Notification) {
		var c sysargs.Call
		if m, err := n.OpenMemory(); err != nil {
			t.Errorf("OpenMemory: %v", err)
			c = sysargs.Decode(n.Arch, n.Syscall, n.Args, nil)
		} else {
			c = sysargs.Decode(n.Arch, n.Syscall, n.Args, m)
			m.Close()
		}
		seen = append(seen, traced{abi: c.ABI(), text: c.String(), call: c})
	})
	if out != "hello\n" {
		t.Errorf("helper wrote %q, want the i386 write's hello", out)
	}
	return seen
}

// TestKernelABIs decodes a program's native and i386 calls with the real
// target memory: i386 calls by their own numbers, with 32-bit pointers.
func TestKernelABIs(t *testing.T) {
	seen := traceABIHelper(t, "getpid", "write", "open", "openat", "mmap", "mmap2", "mprotect", "rt_sigaction", "socketcall")
	var got []string
	for _, s := range seen {
		got = append(got, s.abi+" "+s.text)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"x86_64 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)",
		"x86_64 mprotect(0x",
		", 4096, PROT_READ)",
		"x86_64 rt_sigaction(SIGINT, 0x",
		`x86_64 openat(AT_FDCWD, "` + "/",
		"/input\", O_RDONLY|O_CLOEXEC)",
		"i386 getpid()",
		`i386 write(1, "hello\n", 6)`,
		`/input", O_RDONLY)`,
		"i386 mmap2(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)",
		"i386 mmap({addr=NULL, len=8192, prot=PROT_READ, flags=MAP_PRIVATE|MAP_ANONYMOUS, fd=-1, offset=0})",
		"i386 rt_sigaction(SIGINT, 0x",
		"i386 socketcall(SYS_SOCKET, [AF_INET, SOCK_STREAM, 0])",
		"i386 socketcall(SYS_CONNECT, [",
		", {AF_INET 127.0.0.1:9}, 16])",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in the decoded calls:\n%s", want, all)
		}
	}
	for _, s := range seen {
		if s.abi == "i386" && s.call.Name == "open" {
			if p := s.call.Args[0]; p.Kind != sysargs.Path || !strings.HasSuffix(p.Str, "/input") || p.Err != nil {
				t.Errorf("i386 open path: %+v", p)
			}
		}
	}
}
