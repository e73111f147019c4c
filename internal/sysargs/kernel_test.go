package sysargs_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
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

// traceABIHelper runs the C helper under a filter that lets i386 through and
// notifies the listed calls on both ABIs, decodes every notification with
// the target's real memory, and answers Continue.
func traceABIHelper(t *testing.T, calls ...string) []traced {
	t.Helper()
	bin := sysargstest.BuildABI(t)
	file := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := filter.New(filter.Allow)
	if err := f.AddArch(unix.AUDIT_ARCH_I386); err != nil {
		t.Fatal(err)
	}
	if err := f.Add(filter.Notify, calls...); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	cmd := exec.Command(bin, file)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	var waitErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		waitErr = cmd.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var seen []traced
	for n, err := range s.All(ctx) {
		if err != nil {
			t.Errorf("Receive: %v", err)
			break
		}
		m, err := n.OpenMemory()
		var c sysargs.Call
		if err != nil {
			c = sysargs.Decode(n.Arch, n.Syscall, n.Args, nil)
		} else {
			c = sysargs.Decode(n.Arch, n.Syscall, n.Args, m)
			m.Close()
		}
		seen = append(seen, traced{abi: c.ABI(), text: c.String(), call: c})
		if err := s.Respond(n, seccompstream.Continue()); err != nil {
			t.Errorf("Respond: %v", err)
		}
	}
	cancel()
	wg.Wait()
	if waitErr != nil {
		t.Fatalf("helper: %v\nstderr: %s", waitErr, stderr.String())
	}
	if stdout.String() != "hello\n" {
		t.Errorf("helper wrote %q, want the i386 write's hello", stdout.String())
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
