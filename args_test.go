package seccompstream_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
)

// markPathAt: openat mode of the "args-paths" calls, plus the step.
const markPathAt = 6000

func rawConnect(fd int, sa uintptr, length int) (int, unix.Errno) {
	r, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), sa, uintptr(length))
	return int(r), e
}

// Socket addresses of the "args-connect" child.
var (
	sa4                    unix.RawSockaddrInet4
	sa6                    unix.RawSockaddrInet6
	saUn, saAbs, saUnnamed unix.RawSockaddrUnix
)

func htons(p uint16) uint16 { return p<<8 | p>>8 }

func init() {
	// args-connect PORT PATH: connect calls with the socket addresses that
	// TestReadSockaddr expects, in order; step i must return 100+i, or fail
	// with the errno the step names.
	scenarios["args-connect"] = func(args []string) int {
		port, _ := strconv.Atoi(args[0])
		path := args[1]
		in4 := unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(uint16(port)), Addr: [4]byte{127, 0, 0, 1}}
		in6 := unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(uint16(port)), Addr: [16]byte{15: 1}}
		var un, abs, unnamed unix.RawSockaddrUnix
		un.Family = unix.AF_UNIX
		for i := range path {
			un.Path[i] = int8(path[i])
		}
		abs.Family = unix.AF_UNIX
		for i, c := range "\x00seccompstream-abstract" {
			abs.Path[i] = int8(c)
		}
		unnamed.Family = unix.AF_UNIX
		// The structs live in package-level variables: the addresses
		// stay valid as plain numbers.
		sa4, sa6, saUn, saAbs, saUnnamed = in4, in6, un, abs, unnamed
		steps := []struct {
			sa     uintptr
			length int
			errno  unix.Errno
		}{
			{uintptr(unsafe.Pointer(&sa4)), unix.SizeofSockaddrInet4, 0},
			{uintptr(unsafe.Pointer(&sa6)), unix.SizeofSockaddrInet6, 0},
			{uintptr(unsafe.Pointer(&saUn)), 2 + len(path) + 1, 0},
			{uintptr(unsafe.Pointer(&saAbs)), 2 + len("\x00seccompstream-abstract"), 0},
			{uintptr(unsafe.Pointer(&saUnnamed)), 2, 0},
			{uintptr(unsafe.Pointer(&sa4)), 1, unix.EINVAL},
			{uintptr(unsafe.Pointer(&sa4)), 8, unix.EINVAL},
			{8, 16, unix.EFAULT},
		}
		bad := 0
		for i, st := range steps {
			r, e := rawConnect(3, st.sa, st.length)
			if st.errno != 0 && e != st.errno || st.errno == 0 && (e != 0 || r != 100+i) {
				fmt.Printf("step %d: connect = %d, %v; want %d, %v\n", i, r, e, 100+i, st.errno)
				bad++
			}
		}
		if bad > 0 {
			return 1
		}
		return 0
	}
	// args-writev: writev(markWrite) of three buffers must return their
	// total length; writev with too many iovecs must fail with EINVAL.
	scenarios["args-writev"] = func([]string) int {
		bufs := [][]byte{[]byte("hello, "), []byte("iovec "), []byte("world")}
		var iov [3]unix.Iovec
		total := 0
		for i, b := range bufs {
			iov[i].Base = &b[0]
			iov[i].SetLen(len(b))
			total += len(b)
		}
		r, _, e := unix.Syscall(unix.SYS_WRITEV, markWrite, uintptr(unsafe.Pointer(&iov[0])), 3)
		if e != 0 || int(r) != total {
			fmt.Printf("writev = %d, %v; want %d\n", int(r), e, total)
			return 1
		}
		_, _, e = unix.Syscall(unix.SYS_WRITEV, markWrite, uintptr(unsafe.Pointer(&iov[0])), 2000)
		if e != unix.EINVAL {
			fmt.Printf("writev(2000 iovecs) = %v; want EINVAL\n", e)
			return 1
		}
		return 0
	}
	// args-paths DIR: in DIR, openat calls with the dirfds and paths that
	// TestResolvePath expects; step i returns 0 or the errno it names.
	scenarios["args-paths"] = func(args []string) int {
		dir := args[0]
		if err := os.Chdir(dir); err != nil {
			fmt.Println(err)
			return 2
		}
		sub, err := unix.Open(filepath.Join(dir, "sub"), unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			fmt.Println(err)
			return 2
		}
		file, err := unix.Open(filepath.Join(dir, "file"), unix.O_RDONLY, 0)
		if err != nil {
			fmt.Println(err)
			return 2
		}
		steps := []struct {
			dirfd int
			path  string
			errno unix.Errno
		}{
			{unix.AT_FDCWD, "rel/a", 0},
			{sub, "b", 0},
			{sub, "/abs/c", 0},
			{sub, "", 0},
			{999, "x", unix.EBADF},
			{file, "x", unix.ENOTDIR},
			{-5, "x", unix.EBADF},
		}
		bad := 0
		for i, st := range steps {
			p := append([]byte(st.path), 0)
			r, e := rawOpenat(st.dirfd, uintptr(unsafe.Pointer(&p[0])), markPathAt+i)
			if e != st.errno || st.errno == 0 && r != 0 {
				fmt.Printf("step %d: openat = %d, %v; want %v\n", i, r, e, st.errno)
				bad++
			}
		}
		if bad > 0 {
			return 1
		}
		return 0
	}
}

func TestReadSockaddr(t *testing.T) {
	const port = 4242
	path := "/run/seccompstream-test.sock"
	want := []struct {
		family uint16
		str    string
		errno  unix.Errno
	}{
		{unix.AF_INET, "127.0.0.1:4242", 0},
		{unix.AF_INET6, "[::1]:4242", 0},
		{unix.AF_UNIX, path, 0},
		{unix.AF_UNIX, "@seccompstream-abstract", 0},
		{unix.AF_UNIX, "(unnamed)", 0},
		{0, "", unix.EINVAL},
		{0, "", unix.EINVAL},
		{0, "", unix.EFAULT},
	}
	c, s := startNotify(t, "args-connect", []string{strconv.Itoa(port), path}, "connect")
	step := 0
	serveAll(t, s, func(n *seccompstream.Notification) seccompstream.Response {
		if n.SyscallName() != "connect" || n.Args[0] != 3 {
			return seccompstream.Continue()
		}
		i := step
		step++
		if i >= len(want) {
			t.Errorf("unexpected connect %v", n)
			return seccompstream.Errno(unix.EBADMSG)
		}
		w := want[i]
		m, err := n.OpenMemory()
		if err != nil {
			t.Errorf("step %d: %v", i, err)
			return seccompstream.Errno(unix.EBADMSG)
		}
		defer m.Close()
		sa, err := m.ReadSockaddr(n.Args[1], int(n.Args[2]))
		if w.errno != 0 {
			if !errors.Is(err, w.errno) {
				t.Errorf("step %d: ReadSockaddr = %v, %v; want %v", i, sa, err, w.errno)
			}
			return seccompstream.Error(err)
		}
		if err != nil || sa.Family != w.family || sa.String() != w.str {
			t.Errorf("step %d: ReadSockaddr = %v (family %d), %v; want %s", i, sa, sa.Family, err, w.str)
			return seccompstream.Errno(unix.EBADMSG)
		}
		switch sa.Family {
		case unix.AF_INET:
			if sa.AddrPort != netip.MustParseAddrPort("127.0.0.1:4242") {
				t.Errorf("AddrPort = %v", sa.AddrPort)
			}
			// The same bytes as a struct.
			raw, err := seccompstream.ReadValue[unix.RawSockaddrInet4](m, n.Args[1])
			if err != nil || raw.Family != unix.AF_INET || htons(raw.Port) != port || raw.Addr != [4]byte{127, 0, 0, 1} {
				t.Errorf("ReadValue[RawSockaddrInet4] = %+v, %v", raw, err)
			}
			if _, err := seccompstream.ReadValue[*int](m, n.Args[1]); !errors.Is(err, unix.EINVAL) {
				t.Errorf("ReadValue[*int] = %v, want a refusal", err)
			}
			if _, err := seccompstream.ReadValue[struct {
				A uint32
				S string
			}](m, n.Args[1]); err == nil || !strings.Contains(err.Error(), "string") {
				t.Errorf("ReadValue[struct with a string] = %v, want a refusal", err)
			}
		case unix.AF_INET6:
			if !sa.AddrPort.Addr().Is6() || sa.AddrPort.Port() != port {
				t.Errorf("AddrPort = %v", sa.AddrPort)
			}
		}
		return seccompstream.Return(int64(100 + i))
	})
	exitZero(t, c)
	if step != len(want) {
		t.Fatalf("saw %d connect calls, want %d", step, len(want))
	}
}

func TestReadIovecs(t *testing.T) {
	c, s := startNotify(t, "args-writev", nil, "writev")
	serveAll(t, s, answerWritev(t, "writev"))
	exitZero(t, c)
}

// answerWritev answers the writev calls (named name) on markWrite of the
// "args-writev" children with the length of what their iovecs point to,
// which must be "hello, iovec world"; other calls continue.
func answerWritev(t *testing.T, name string) func(*seccompstream.Notification) seccompstream.Response {
	return func(n *seccompstream.Notification) seccompstream.Response {
		if n.SyscallName() != name || n.Args[0] != markWrite {
			return seccompstream.Continue()
		}
		m, err := n.OpenMemory()
		if err != nil {
			t.Error(err)
			return seccompstream.Error(err)
		}
		defer m.Close()
		iov, err := m.ReadIovecs(n.Args[1], int(n.Args[2]))
		if err != nil {
			if n.Args[2] <= seccompstream.IovMax || !errors.Is(err, unix.EINVAL) {
				t.Errorf("ReadIovecs(%d) = %v", n.Args[2], err)
			}
			return seccompstream.Error(err)
		}
		var got []byte
		for _, v := range iov {
			if v.Len > 64 {
				t.Errorf("iovecs %+v: no buffer of the child is that long", iov)
				return seccompstream.Errno(unix.EBADMSG)
			}
			b := make([]byte, v.Len)
			if _, err := m.ReadAt(b, int64(v.Base)); err != nil {
				t.Error(err)
				return seccompstream.Error(err)
			}
			got = append(got, b...)
		}
		if string(got) != "hello, iovec world" {
			t.Errorf("iovecs read %q", got)
			return seccompstream.Errno(unix.EBADMSG)
		}
		return seccompstream.Return(int64(len(got)))
	}
}

func TestResolvePath(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		path  string
		errno unix.Errno
	}{
		{dir + "/rel/a", 0},
		{dir + "/sub/b", 0},
		{"/abs/c", 0},
		{dir + "/sub", 0},
		{"", unix.EBADF},
		{"", unix.ENOTDIR},
		{"", unix.EBADF},
	}
	var subStat unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "sub"), &subStat); err != nil {
		t.Fatal(err)
	}
	c, s := startNotify(t, "args-paths", []string{dir}, "openat")
	seen := 0
	serveAll(t, s, func(n *seccompstream.Notification) seccompstream.Response {
		i := int(n.Args[3]) - markPathAt
		if n.SyscallName() != "openat" || i < 0 || i >= len(want) {
			return seccompstream.Continue()
		}
		seen++
		dirfd := int(int32(n.Args[0]))
		got, err := n.ResolvePath(dirfd, n.Args[1])
		w := want[i]
		if w.errno != 0 {
			if !errors.Is(err, w.errno) {
				t.Errorf("step %d: ResolvePath = %q, %v; want %v", i, got, err, w.errno)
			}
			return seccompstream.Error(err)
		}
		if err != nil || got != w.path {
			t.Errorf("step %d: ResolvePath = %q, %v; want %q", i, got, err, w.path)
		}
		if i == 1 {
			// The directory itself, opened for the supervisor.
			f, err := n.OpenDir(dirfd)
			if err != nil {
				t.Errorf("OpenDir: %v", err)
			} else {
				var st unix.Stat_t
				if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Ino != subStat.Ino || st.Dev != subStat.Dev {
					t.Errorf("OpenDir opened inode %d, want %d (%v)", st.Ino, subStat.Ino, err)
				}
				f.Close()
			}
			r, err := n.OpenRoot()
			if err != nil {
				t.Errorf("OpenRoot: %v", err)
			} else {
				r.Close()
			}
		}
		return seccompstream.Return(0)
	})
	exitZero(t, c)
	if seen != len(want) {
		t.Fatalf("saw %d marked openat calls, want %d", seen, len(want))
	}
}

func BenchmarkReadValue(b *testing.B) {
	_, s := startNotify(b, "mem-block", []string{"/tmp/seccompstream-bench"}, "openat")
	n := receiveMarked(b, s, "openat", 3, markBlock)
	m, err := n.OpenMemory()
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seccompstream.ReadValue[unix.RawSockaddrInet4](m, n.Args[1]); err != nil {
			b.Fatal(err)
		}
	}
}
