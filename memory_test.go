package seccompstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// Markers: the notified calls of these tests carry a marker in an argument
// the kernel ignores, so the Go runtime's own calls (answered with Continue)
// are never mistaken for the test's.
const (
	markPath  = 5000 // openat mode: 5000+case index
	markBlock = 7000 // openat mode: a call that waits to be killed
	markWrite = 777  // read fd: the supervisor writes the buffer
)

// memCase is a string argument placed in the target in a particular way.
type memCase struct {
	name  string
	want  string     // the string, when it reads fine
	errno unix.Errno // the error it reads with otherwise
}

// memCases lists what the "mem-paths" child passes as openat paths; the
// child places case i as memPlace does.
func memCases() []memCase {
	return []memCase{
		{name: "short", want: "/tmp/seccompstream-short"},
		{name: "long", want: "/" + strings.Repeat("long/", 800) + "end"},
		{name: "page-cross", want: "/crosses/the/page/boundary/" + strings.Repeat("x", 40)},
		{name: "end-of-mapping-munmap", want: strings.Repeat("m", 99)},
		{name: "end-of-mapping-mprotect", want: strings.Repeat("p", 99)},
		{name: "null", errno: unix.EFAULT},
		{name: "unmapped", errno: unix.EFAULT},
		{name: "no-nul-before-unmapped", errno: unix.EFAULT},
		{name: "too-long", errno: unix.ENAMETOOLONG},
		{name: "max-minus-one", want: strings.Repeat("b", seccompstream.PathMax-1)},
		{name: "exactly-max", errno: unix.ENAMETOOLONG},
		{name: "kernel-address", errno: unix.EFAULT},
	}
}

// memPlace puts case i into memory in the child and returns its address.
func memPlace(i int) (uintptr, error) {
	page := unix.Getpagesize()
	cstr := func(s string) uintptr {
		b := append([]byte(s), 0)
		keep = append(keep, b)
		return uintptr(unsafe.Pointer(&b[0]))
	}
	// twoPages maps two pages and makes the second unreadable with how.
	twoPages := func(how string) ([]byte, error) {
		b, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return nil, err
		}
		switch how {
		case "munmap":
			_, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&b[page])), uintptr(page), 0)
			if e != 0 {
				return nil, e
			}
		case "mprotect":
			if err := unix.Mprotect(b[page:], unix.PROT_NONE); err != nil {
				return nil, err
			}
		}
		if how == "" {
			return b, nil
		}
		return b[:page:page], nil
	}
	c := memCases()[i]
	switch c.name {
	case "short", "long", "max-minus-one":
		return cstr(c.want), nil
	case "page-cross":
		b, err := twoPages("")
		if err != nil {
			return 0, err
		}
		at := page - 25
		copy(b[at:], c.want+"\x00")
		return uintptr(unsafe.Pointer(&b[at])), nil
	case "end-of-mapping-munmap", "end-of-mapping-mprotect":
		b, err := twoPages(strings.TrimPrefix(c.name, "end-of-mapping-"))
		if err != nil {
			return 0, err
		}
		at := page - len(c.want) - 1
		copy(b[at:], c.want+"\x00")
		return uintptr(unsafe.Pointer(&b[at])), nil
	case "null":
		return 0, nil
	case "unmapped":
		b, err := twoPages("munmap")
		if err != nil {
			return 0, err
		}
		return uintptr(unsafe.Pointer(&b[0])) + uintptr(page), nil
	case "no-nul-before-unmapped":
		b, err := twoPages("munmap")
		if err != nil {
			return 0, err
		}
		for j := range b {
			b[j] = 'u'
		}
		return uintptr(unsafe.Pointer(&b[page-50])), nil
	case "too-long":
		return cstr(strings.Repeat("a", 5000)), nil
	case "exactly-max":
		return cstr(strings.Repeat("c", seccompstream.PathMax)), nil
	case "kernel-address":
		return 0xffff800000000000, nil
	}
	return 0, fmt.Errorf("unknown case %q", c.name)
}

// keep holds the child's strings alive while their addresses are in use.
var keep [][]byte

func rawOpenat(dirfd int, path uintptr, mode int) (int, unix.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), path, unix.O_RDONLY, uintptr(mode), 0, 0)
	return int(r), e
}

func init() {
	// mem-paths: openat every memCase with mode markPath+i; expect the
	// supervisor's answer 1000+i.
	scenarios["mem-paths"] = func([]string) int {
		bad := 0
		for i := range memCases() {
			p, err := memPlace(i)
			if err != nil {
				fmt.Printf("case %d: %v\n", i, err)
				return 2
			}
			r, e := rawOpenat(unix.AT_FDCWD, p, markPath+i)
			if e != 0 || r != 1000+i {
				fmt.Printf("case %d: openat = %d, %v\n", i, r, e)
				bad++
			}
		}
		if bad > 0 {
			return 1
		}
		return 0
	}
	// mem-block: openat args[0] with mode markBlock; wait to be killed.
	scenarios["mem-block"] = func(args []string) int {
		p := append([]byte(args[0]), 0)
		r, e := rawOpenat(unix.AT_FDCWD, uintptr(unsafe.Pointer(&p[0])), markBlock)
		fmt.Printf("openat = %d, %v\n", r, e)
		return 0
	}
	// mem-write: read(markWrite, buf, 32); expect the supervisor to have
	// written args[0] into buf and to return its length.
	scenarios["mem-write"] = func(args []string) int {
		buf := make([]byte, 32)
		r, _, e := unix.Syscall(unix.SYS_READ, markWrite, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		if e != 0 || int(r) != len(args[0]) || string(buf[:r]) != args[0] {
			fmt.Printf("read = %d, %v, buf %q\n", int(r), e, buf)
			return 1
		}
		return 0
	}
}

// startNotify starts a child running scenario under a filter that notifies
// the calls named, and returns it with a Stream over its listener.
func startNotify(t testing.TB, scenario string, args []string, notify ...string) (*sectest.Child, *seccompstream.Stream) {
	t.Helper()
	c := sectest.StartChild(t, sectest.Opts{Scenario: scenario, Args: args, Notify: notify})
	s, err := seccompstream.New(c.Listener)
	if err != nil {
		unix.Close(c.Listener)
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c, s
}

func timeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serveAll answers every notification with answer(n) until the stream ends.
func serveAll(t testing.TB, s *seccompstream.Stream, answer func(*seccompstream.Notification) seccompstream.Response) {
	t.Helper()
	for n, err := range s.All(timeout(t)) {
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if err := s.Respond(n, answer(n)); err != nil && !errors.Is(err, seccompstream.ErrGone) {
			t.Fatalf("Respond(%v): %v", n, err)
		}
	}
}

// receiveMarked returns the next notification of the call named with the
// marker in argument arg, answering others with Continue.
func receiveMarked(t testing.TB, s *seccompstream.Stream, name string, arg int, mark uint64) *seccompstream.Notification {
	t.Helper()
	ctx := timeout(t)
	for {
		n, err := s.Receive(ctx)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if n.SyscallName() == name && n.Args[arg] == mark {
			return n
		}
		if err := s.Respond(n, seccompstream.Continue()); err != nil && !errors.Is(err, seccompstream.ErrGone) {
			t.Fatal(err)
		}
	}
}

func exitZero(t testing.TB, c *sectest.Child) {
	t.Helper()
	if code := c.ExitCode(); code != 0 {
		t.Fatalf("child exit %d; output:\n%s", code, c.Output())
	}
}

// memModes runs f with Memory reading through process_vm_readv and through
// /proc/<tid>/mem.
var memModes = []struct {
	name  string
	setup func(*seccompstream.Memory)
}{
	{"process_vm_readv", func(*seccompstream.Memory) {}},
	{"proc-mem", seccompstream.ForceProcMem},
}

func TestReadStringPaths(t *testing.T) {
	cases := memCases()
	for _, mode := range memModes {
		t.Run(mode.name, func(t *testing.T) {
			c, s := startNotify(t, "mem-paths", nil, "openat")
			serveAll(t, s, func(n *seccompstream.Notification) seccompstream.Response {
				i := int(n.Args[3]) - markPath
				if n.SyscallName() != "openat" || i < 0 || i >= len(cases) {
					return seccompstream.Continue()
				}
				tc := cases[i]
				m, err := n.OpenMemory()
				if err != nil {
					t.Errorf("%s: OpenMemory: %v", tc.name, err)
					return seccompstream.Errno(unix.EIO)
				}
				defer m.Close()
				mode.setup(m)
				got, err := m.ReadString(n.Args[1], seccompstream.PathMax)
				switch {
				case tc.errno != 0:
					if !errors.Is(err, tc.errno) {
						t.Errorf("%s: ReadString = %.40q, %v; want an error matching %v", tc.name, got, err, tc.errno)
					} else if got != "" {
						t.Errorf("%s: ReadString returned %q with its error", tc.name, got)
					}
					if errors.Is(err, seccompstream.ErrGone) {
						t.Errorf("%s: ReadString error %v matches ErrGone", tc.name, err)
					}
				case err != nil:
					t.Errorf("%s: ReadString: %v", tc.name, err)
				case got != tc.want:
					t.Errorf("%s: ReadString = %.60q (len %d), want %.60q (len %d)", tc.name, got, len(got), tc.want, len(tc.want))
				}
				if tc.errno == 0 {
					// The one-call form, and ReadAt over the same bytes.
					if got, err := n.ReadString(n.Args[1], seccompstream.PathMax); err != nil || got != tc.want {
						t.Errorf("%s: Notification.ReadString = %.40q, %v", tc.name, got, err)
					}
					buf := make([]byte, len(tc.want)+1)
					if k, err := m.ReadAt(buf, int64(n.Args[1])); err != nil || k != len(buf) || string(buf) != tc.want+"\x00" {
						t.Errorf("%s: ReadAt = %d, %v", tc.name, k, err)
					}
				}
				if tc.name == "end-of-mapping-munmap" {
					// A read running off the mapping returns what was there.
					buf := make([]byte, 200)
					k, err := m.ReadAt(buf, int64(n.Args[1]))
					if k != len(tc.want)+1 || !errors.Is(err, unix.EFAULT) || !bytes.Equal(buf[:k], []byte(tc.want+"\x00")) {
						t.Errorf("ReadAt across the end of a mapping = %d, %v", k, err)
					}
				}
				if tc.name == "short" {
					// max shorter than the string: an error, never a prefix.
					if got, err := m.ReadString(n.Args[1], 5); !errors.Is(err, unix.ENAMETOOLONG) {
						t.Errorf("ReadString(max 5) = %q, %v; want ENAMETOOLONG", got, err)
					}
					if _, err := m.ReadString(n.Args[1], 0); !errors.Is(err, unix.EINVAL) {
						t.Errorf("ReadString(max 0) = %v; want EINVAL", err)
					}
					// Exactly long enough for the NUL.
					if got, err := m.ReadString(n.Args[1], len(tc.want)+1); err != nil || got != tc.want {
						t.Errorf("ReadString(max len+1) = %q, %v", got, err)
					}
				}
				return seccompstream.Return(int64(1000 + i))
			})
			exitZero(t, c)
		})
	}
}

func TestMemoryAfterTargetKilled(t *testing.T) {
	for _, mode := range memModes {
		t.Run(mode.name, func(t *testing.T) {
			const path = "/tmp/seccompstream-killed"
			c, s := startNotify(t, "mem-block", []string{path}, "openat")
			n := receiveMarked(t, s, "openat", 3, markBlock)
			m, err := n.OpenMemory()
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			mode.setup(m)
			if got, err := m.ReadString(n.Args[1], seccompstream.PathMax); err != nil || got != path {
				t.Fatalf("ReadString before the kill = %q, %v", got, err)
			}
			c.Cmd.Process.Kill()
			c.Wait()

			wantGone := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, seccompstream.ErrGone) || !errors.Is(err, unix.ENOENT) {
					t.Errorf("%s after the kill = %v, want ErrGone", what, err)
				}
			}
			_, err = m.ReadString(n.Args[1], seccompstream.PathMax)
			wantGone("ReadString", err)
			buf := []byte("sentinel")
			k, err := m.ReadAt(buf, int64(n.Args[1]))
			wantGone("ReadAt", err)
			if k != 0 || !bytes.Equal(buf, make([]byte, len(buf))) {
				t.Errorf("ReadAt after the kill returned %d bytes, buffer %q", k, buf)
			}
			_, err = seccompstream.ReadValue[uint64](m, n.Args[1])
			wantGone("ReadValue", err)
			_, err = m.UnsafeWriteAt([]byte("x"), n.Args[1])
			if mode.name == "proc-mem" {
				// The file was opened for the target before the kill; the
				// write goes to its (dead) memory and ErrGone says so.
				wantGone("UnsafeWriteAt", err)
			} else if err == nil {
				t.Error("UnsafeWriteAt after the kill succeeded")
			}
			_, err = n.OpenMemory()
			wantGone("OpenMemory", err)
			_, err = n.ReadString(n.Args[1], seccompstream.PathMax)
			wantGone("Notification.ReadString", err)
			_, err = n.ResolvePath(unix.AT_FDCWD, n.Args[1])
			wantGone("ResolvePath", err)
			_, err = n.OpenDir(unix.AT_FDCWD)
			wantGone("OpenDir", err)
			wantGone("Respond", s.Respond(n, seccompstream.Return(0)))
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := m.ReadString(n.Args[1], 10); !errors.Is(err, os.ErrClosed) {
				t.Errorf("ReadString after Close = %v", err)
			}
		})
	}
}

func TestUnsafeWriteAt(t *testing.T) {
	const msg = "from-above!"
	c, s := startNotify(t, "mem-write", []string{msg}, "read")
	n := receiveMarked(t, s, "read", 0, markWrite)
	m, err := n.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	k, err := m.UnsafeWriteAt([]byte(msg), n.Args[1])
	if err != nil || k != len(msg) {
		t.Fatalf("UnsafeWriteAt = %d, %v", k, err)
	}
	// What was written reads back.
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(io.NewSectionReader(m, int64(n.Args[1]), int64(len(msg))), buf); err != nil || string(buf) != msg {
		t.Fatalf("read back %q, %v", buf, err)
	}
	if _, err := m.UnsafeWriteAt([]byte("x"), 8); !errors.Is(err, unix.EFAULT) {
		t.Fatalf("UnsafeWriteAt at an unmapped address = %v, want EFAULT", err)
	}
	if err := s.Respond(n, seccompstream.Return(int64(len(msg)))); err != nil {
		t.Fatal(err)
	}
	serveAll(t, s, func(*seccompstream.Notification) seccompstream.Response { return seccompstream.Continue() })
	exitZero(t, c)
}

func TestOpenMemoryInvalid(t *testing.T) {
	n := &seccompstream.Notification{PID: os.Getpid()}
	if _, err := n.OpenMemory(); err == nil || !strings.Contains(err.Error(), "Stream") {
		t.Fatalf("OpenMemory of a Notification not from a Stream = %v", err)
	}
	if _, err := n.ReadString(0, 10); err == nil {
		t.Fatal("ReadString of a Notification not from a Stream succeeded")
	}
	var nilN *seccompstream.Notification
	if _, err := nilN.OpenMemory(); err == nil {
		t.Fatal("OpenMemory of nil succeeded")
	}
}

func BenchmarkReadString40(b *testing.B) {
	path := "/usr/lib/seccompstream/" + strings.Repeat("p", 40-len("/usr/lib/seccompstream/"))
	for _, mode := range memModes {
		b.Run(mode.name, func(b *testing.B) {
			_, s := startNotify(b, "mem-block", []string{path}, "openat")
			n := receiveMarked(b, s, "openat", 3, markBlock)
			m, err := n.OpenMemory()
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			mode.setup(m)
			b.ReportAllocs()
			for b.Loop() {
				got, err := m.ReadString(n.Args[1], seccompstream.PathMax)
				if err != nil || len(got) != 40 {
					b.Fatalf("ReadString = %q, %v", got, err)
				}
			}
		})
	}
	b.Run("ID_VALID-only", func(b *testing.B) {
		// The check every read ends with, for scale.
		_, s := startNotify(b, "mem-block", []string{path}, "openat")
		n := receiveMarked(b, s, "openat", 3, markBlock)
		b.ReportAllocs()
		for b.Loop() {
			if !n.Valid() {
				b.Fatal("not valid")
			}
		}
	})
	b.Run("OpenMemory+proc-mem+Close", func(b *testing.B) {
		// A one-off read through /proc: open, validate, read, close.
		_, s := startNotify(b, "mem-block", []string{path}, "openat")
		n := receiveMarked(b, s, "openat", 3, markBlock)
		b.ReportAllocs()
		for b.Loop() {
			m, err := n.OpenMemory()
			if err != nil {
				b.Fatal(err)
			}
			seccompstream.ForceProcMem(m)
			if got, err := m.ReadString(n.Args[1], seccompstream.PathMax); err != nil || len(got) != 40 {
				b.Fatalf("ReadString = %q, %v", got, err)
			}
			m.Close()
		}
	})
	b.Run("Notification.ReadString", func(b *testing.B) {
		_, s := startNotify(b, "mem-block", []string{path}, "openat")
		n := receiveMarked(b, s, "openat", 3, markBlock)
		b.ReportAllocs()
		for b.Loop() {
			if got, err := n.ReadString(n.Args[1], seccompstream.PathMax); err != nil || len(got) != 40 {
				b.Fatalf("ReadString = %q, %v", got, err)
			}
		}
	})
}
