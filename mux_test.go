package seccompstream_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// muxNote builds a notification as the kernel would hand it out.
func muxNote(arch uint32, nr int32) *seccompstream.Notification {
	return &seccompstream.Notification{Arch: arch, Syscall: nr}
}

func muxAnswer(v int64) seccompstream.Handler { return seccompstream.Answer(seccompstream.Return(v)) }

func TestMuxRoutesAcrossArches(t *testing.T) {
	m := seccompstream.NewMux()
	m.Handle("openat", muxAnswer(1))
	m.Handle("getppid", muxAnswer(2))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		n    *seccompstream.Notification
		want int64
	}{
		{"x86_64 openat", muxNote(unix.AUDIT_ARCH_X86_64, 257), 1},
		{"x86_64 getppid", muxNote(unix.AUDIT_ARCH_X86_64, 110), 2},
		{"i386 openat", muxNote(unix.AUDIT_ARCH_I386, 295), 1},
		{"i386 getppid", muxNote(unix.AUDIT_ARCH_I386, 64), 2},
		{"x32 openat", muxNote(unix.AUDIT_ARCH_X86_64, 257|0x40000000), 1},
		{"aarch64 openat", muxNote(unix.AUDIT_ARCH_AARCH64, 56), 1},
		// 295 on x86_64 is preadv, not openat.
		{"x86_64 295", muxNote(unix.AUDIT_ARCH_X86_64, 295), -int64(unix.ENOSYS)},
		{"unknown arch", muxNote(0x12345678, 257), -int64(unix.ENOSYS)},
	} {
		r := m.ServeNotification(ctx, tc.n)
		got := r.Value()
		if e := r.Errno(); e != 0 {
			got = -int64(e)
		}
		if got != tc.want {
			t.Errorf("%s (%s): %v, want %d", tc.name, tc.n.SyscallName(), r, tc.want)
		}
	}
	if _, routed := m.Handler(muxNote(unix.AUDIT_ARCH_I386, 64)); !routed {
		t.Error("Handler: i386 getppid not routed")
	}
	if _, routed := m.Handler(muxNote(unix.AUDIT_ARCH_I386, 65)); routed {
		t.Error("Handler: i386 getpgrp routed")
	}
}

func TestMuxDefault(t *testing.T) {
	m := seccompstream.NewMux()
	n := muxNote(unix.AUDIT_ARCH_X86_64, 110)
	if r := m.ServeNotification(context.Background(), n); r.Errno() != unix.ENOSYS {
		t.Fatalf("empty Mux answered %v, want ENOSYS", r)
	}
	m.HandleDefault(seccompstream.Answer(seccompstream.Continue()))
	if r := m.ServeNotification(context.Background(), n); !r.IsContinue() {
		t.Fatalf("default answered %v, want continue", r)
	}
	m.HandleDefault(nil)
	if r := m.ServeNotification(context.Background(), n); r.Errno() != unix.ENOSYS {
		t.Fatalf("reset default answered %v, want ENOSYS", r)
	}
}

func TestMuxMiddlewareOrder(t *testing.T) {
	var trace []string
	mw := func(name string) func(seccompstream.Handler) seccompstream.Handler {
		return func(next seccompstream.Handler) seccompstream.Handler {
			return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
				trace = append(trace, name+">")
				r := next.ServeNotification(ctx, n)
				trace = append(trace, "<"+name)
				return r
			})
		}
	}
	m := seccompstream.NewMux()
	m.Use(mw("a"), mw("b"))
	m.HandleFunc("getppid", func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		trace = append(trace, "getppid")
		return seccompstream.Return(0)
	})
	m.Use(mw("c")) // after a route: still wraps it
	m.HandleDefault(seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		trace = append(trace, "default")
		return seccompstream.Return(0)
	}))
	ctx := context.Background()
	m.ServeNotification(ctx, muxNote(unix.AUDIT_ARCH_X86_64, 110))
	m.ServeNotification(ctx, muxNote(unix.AUDIT_ARCH_X86_64, 111))
	got := strings.Join(trace, " ")
	want := "a> b> c> getppid <c <b <a a> b> c> default <c <b <a"
	if got != want {
		t.Fatalf("trace %q, want %q", got, want)
	}
}

func TestMuxBadRoutes(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(m *seccompstream.Mux)
		want string
	}{
		{"unknown", func(m *seccompstream.Mux) { m.Handle("opne", muxAnswer(0)) }, `"opne"`},
		{"nil", func(m *seccompstream.Mux) { m.Handle("openat", nil) }, "nil Handler"},
		{"nil func", func(m *seccompstream.Mux) { m.HandleFunc("openat", nil) }, "nil func"},
		{"twice", func(m *seccompstream.Mux) { m.Handle("openat", muxAnswer(0)); m.Handle("openat", muxAnswer(0)) }, "twice"},
		{"nil middleware", func(m *seccompstream.Mux) { m.Use(nil) }, "nil"},
		{"middleware returns nil", func(m *seccompstream.Mux) {
			m.Use(func(seccompstream.Handler) seccompstream.Handler { return nil })
		}, "nil Handler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				v := recover()
				if v == nil || !strings.Contains(fmt.Sprint(v), tc.want) {
					t.Fatalf("panic %v, want one naming %s", v, tc.want)
				}
			}()
			tc.f(seccompstream.NewMux())
		})
	}
	if seccompstream.KnownSyscall("opne") || !seccompstream.KnownSyscall("openat") ||
		!seccompstream.KnownSyscall("arm_fadvise64_64") {
		t.Fatal("KnownSyscall wrong")
	}
}

func TestMuxAllocs(t *testing.T) {
	m := seccompstream.NewMux()
	m.Handle("getppid", muxAnswer(1))
	m.Use(func(h seccompstream.Handler) seccompstream.Handler { return h })
	n := muxNote(unix.AUDIT_ARCH_X86_64, 110)
	ctx := context.Background()
	if a := testing.AllocsPerRun(1000, func() { m.ServeNotification(ctx, n) }); a != 0 {
		t.Fatalf("%.1f allocations per routed call", a)
	}
}

// TestMuxServe routes real calls: getppid through the Mux and its
// middleware, answered by Serve.
func TestMuxServe(t *testing.T) {
	threads, calls := 4, 200
	c, s := start(t, "threads", []string{strconv.Itoa(threads), strconv.Itoa(calls)})
	m := seccompstream.NewMux()
	var seen atomic.Int64
	m.Use(func(next seccompstream.Handler) seccompstream.Handler {
		return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
			r := next.ServeNotification(ctx, n)
			return seccompstream.Return(r.Value() * 3)
		})
	})
	m.HandleFunc("getppid", func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		seen.Add(1)
		return seccompstream.Return(int64(n.Args[0]))
	})
	if err := s.Serve(testCtx(t), m, seccompstream.WithMaxInFlight(1)); err != nil {
		t.Fatal(err)
	}
	wantExit0(t, c)
	if seen.Load() < int64(threads*calls) {
		t.Fatalf("getppid route saw %d calls, want >= %d", seen.Load(), threads*calls)
	}
}

func ExampleMux() {
	m := seccompstream.NewMux()
	// Log every call, routed or not.
	m.Use(func(next seccompstream.Handler) seccompstream.Handler {
		return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
			r := next.ServeNotification(ctx, n)
			fmt.Printf("%s -> %v\n", n, r)
			return r
		})
	})
	m.HandleFunc("mkdir", func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Errno(unix.EACCES)
	})
	m.HandleFunc("mkdirat", func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Errno(unix.EACCES)
	})
	m.HandleDefault(seccompstream.Answer(seccompstream.Continue()))

	var s *seccompstream.Stream // from New or Start
	if s != nil {
		_ = s.Serve(context.Background(), m)
	}
}

// Routes added after lookups were made are found, and every name of a
// large set routes (the numbers are built on first lookup).
func TestMuxRoutesAfterLookup(t *testing.T) {
	m := seccompstream.NewMux()
	m.Handle("getppid", muxAnswer(1))
	ctx := context.Background()
	if got := m.ServeNotification(ctx, muxNote(unix.AUDIT_ARCH_X86_64, 110)); got.Value() != 1 {
		t.Fatalf("getppid: %v", got)
	}
	m.Handle("getpid", muxAnswer(2))
	m.HandleDefault(muxAnswer(3))
	for _, tc := range []struct {
		nr   int32
		want int64
	}{{110, 1}, {39, 2}, {102, 3}} {
		if got := m.ServeNotification(ctx, muxNote(unix.AUDIT_ARCH_X86_64, tc.nr)); got.Value() != tc.want {
			t.Errorf("x86_64 %d: %v, want %d", tc.nr, got, tc.want)
		}
	}
	big := seccompstream.NewMux()
	names := sysnames.Names(unix.AUDIT_ARCH_X86_64)[:300]
	for i, name := range names {
		big.Handle(name, muxAnswer(int64(i)))
	}
	for i, name := range names {
		nr, _ := sysnames.Number(unix.AUDIT_ARCH_X86_64, name)
		if got := big.ServeNotification(ctx, muxNote(unix.AUDIT_ARCH_X86_64, nr)); got.Value() != int64(i) {
			t.Fatalf("%s: %v, want %d", name, got, i)
		}
	}
}

// x32 numbers its own calls from 512 up (execve is 520 there, 59 on
// x86_64): where the tables name them, a route by name gets them too.
func TestMuxRoutesX32OwnNumbers(t *testing.T) {
	const x86 = unix.AUDIT_ARCH_X86_64
	ctx := context.Background()
	for nr := int32(512); nr < 1024; nr++ {
		name, ok := sysnames.Name(x86, nr|sysnames.X32Bit)
		if !ok {
			continue
		}
		name = strings.TrimSuffix(name, sysnames.X32Suffix)
		if n64, _ := sysnames.Number(x86, name); n64 == nr {
			continue
		}
		m := seccompstream.NewMux()
		m.Handle(name, muxAnswer(7))
		if got := m.ServeNotification(ctx, muxNote(x86, nr|sysnames.X32Bit)); got.Value() != 7 {
			t.Errorf("x32 %s (%d): %v, want the route", name, nr, got)
		}
	}
}
