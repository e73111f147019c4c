package policy_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/policy"
)

// shown records the calls a Handler shows.
type shown struct {
	mu    sync.Mutex
	calls map[string]seccompstream.Response
}

func (s *shown) show(_ context.Context, n *seccompstream.Notification, r seccompstream.Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]seccompstream.Response{}
	}
	s.calls[n.ArchName()+" "+n.SyscallName()] = r
}

func TestHandlerRoutesEveryABI(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the numbers below are x86_64's and i386's")
	}
	const x86, i386 = unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386
	nr := func(arch uint32, name string) int32 { return number(t, arch, name) }
	x32Execve := seccompstream.Errno(unix.ENOSYS)
	if name, ok := sysnames.Name(x86, 520|sysnames.X32Bit); ok && strings.HasPrefix(name, "execve") {
		x32Execve = seccompstream.Errno(unix.EPERM)
	}
	for _, tc := range []struct {
		name        string
		trace, deny []string
		arch        uint32
		nr          int32
		want        seccompstream.Response
		shown       bool
	}{
		{"i386 getpid denied", nil, []string{"getpid:EXDEV"}, i386, nr(i386, "getpid"), seccompstream.Errno(unix.EXDEV), true},
		{"i386 writev is not x86_64's 20", nil, []string{"getpid:EXDEV"}, i386, nr(i386, "writev"), seccompstream.Continue(), false},
		{"x86_64 getpid denied", nil, []string{"getpid:EXDEV"}, x86, nr(x86, "getpid"), seccompstream.Errno(unix.EXDEV), true},
		{"x32 getpid denied", nil, []string{"getpid:EXDEV"}, x86, nr(x86, "getpid") | sysnames.X32Bit, seccompstream.Errno(unix.EXDEV), true},
		{"x32 getppid allowed", nil, []string{"getpid:EXDEV"}, x86, nr(x86, "getppid") | sysnames.X32Bit, seccompstream.Continue(), false},
		{"x32 traced", []string{"getpid"}, nil, x86, nr(x86, "getpid") | sysnames.X32Bit, seccompstream.Continue(), true},
		{"i386 traced by all", []string{"all"}, nil, i386, nr(i386, "getpid"), seccompstream.Continue(), true},
		// x32 numbers the tables cannot name: with a deny they fail with
		// ENOSYS (they could be a denied call), without one they get the
		// default.
		{"unnamed x32 number under a deny", nil, []string{"execve"}, x86, 1000 | sysnames.X32Bit, seccompstream.Errno(unix.ENOSYS), true},
		{"unnamed x32 number, trace all", []string{"all"}, nil, x86, 1000 | sysnames.X32Bit, seccompstream.Continue(), true},
		{"unnamed x32 number, trace some", []string{"getpid"}, nil, x86, 1000 | sysnames.X32Bit, seccompstream.Continue(), false},
		// x32's own execve (520) is denied as execve where the tables name
		// it, and fails with ENOSYS where they do not: never let run.
		{"x32 execve under a deny", nil, []string{"execve"}, x86, 520 | sysnames.X32Bit, x32Execve, true},
		{"ABI without a table under a deny", nil, []string{"mkdir"}, 0x12345, 83, seccompstream.Errno(unix.ENOSYS), true},
		// An unknown native number is not a named call.
		{"unknown x86_64 number under a deny", []string{"all"}, []string{"mkdir"}, x86, 4000, seccompstream.Continue(), true},
	} {
		r := parseX86(t, tc.trace, tc.deny)
		var s shown
		h, err := r.Handler(s.show)
		if err != nil {
			t.Fatal(err)
		}
		n := &seccompstream.Notification{ID: 1, PID: 1, Arch: tc.arch, Syscall: tc.nr}
		got := h.ServeNotification(context.Background(), n)
		if got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if len(s.calls) == 1 != tc.shown {
			t.Errorf("%s: shown %v, want %v", tc.name, s.calls, tc.shown)
		}
		for _, r := range s.calls {
			if r != got {
				t.Errorf("%s: shown with %v, answered %v", tc.name, r, got)
			}
		}
	}
}

// Routes added to the Mux answer as their handlers do and are not shown.
func TestHandlerOwnRoutes(t *testing.T) {
	r := &policy.Rules{Default: policy.Trace}
	var s shown
	m, err := r.Handler(s.show)
	if err != nil {
		t.Fatal(err)
	}
	m.HandleFunc("getpid", func(context.Context, *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(42)
	})
	nr, _ := sysnames.Number(sysnames.Native(), "getpid")
	got := m.ServeNotification(context.Background(), &seccompstream.Notification{Arch: sysnames.Native(), Syscall: nr})
	if got != seccompstream.Return(42) || len(s.calls) != 0 {
		t.Errorf("own route: %v, shown %v", got, s.calls)
	}
	// A nil ShowFunc shows nothing and answers the same.
	m, err = r.Handler(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.ServeNotification(context.Background(), &seccompstream.Notification{Arch: sysnames.Native(), Syscall: nr}); !got.IsContinue() {
		t.Errorf("trace default without show: %v", got)
	}
}
