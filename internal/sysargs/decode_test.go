package sysargs_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

const (
	x86  = unix.AUDIT_ARCH_X86_64
	i386 = unix.AUDIT_ARCH_I386
)

func nr(t *testing.T, arch uint32, name string) int32 {
	t.Helper()
	n, ok := sysnames.Number(arch, name)
	if !ok {
		t.Fatalf("no %s on %#x", name, arch)
	}
	return n
}

func decode(t *testing.T, arch uint32, name string, mem sysargs.Memory, args ...uint64) sysargs.Call {
	t.Helper()
	var a [6]uint64
	copy(a[:], args)
	return sysargs.Decode(arch, nr(t, arch, name), a, mem)
}

func TestDecodeStrings(t *testing.T) {
	le := binary.LittleEndian
	m := newMemory()
	path := m.putString(0x1000, "/etc/passwd")
	arg0 := m.putString(0x2000, "ls")
	arg1 := m.putString(0x2100, "-l")
	argv := m.putWords(0x3000, 8, le, arg0, arg1, 0)
	argv32 := m.putWords(0x3100, 4, le, arg0, arg1, 0)
	envp := m.putWords(0x3200, 8, le, arg0, arg0, arg0, 0)
	msg := m.put(0x4000, []byte("hello\n"))
	long := m.put(0x5000, []byte(strings.Repeat("x", 100)))
	sin := m.put(0x6000, sockaddrIn(80))

	for _, tc := range []struct {
		arch uint32
		name string
		args []uint64
		want string
	}{
		{x86, "openat", []uint64{0xffffff9c, path, unix.O_RDONLY | unix.O_CLOEXEC, 0o777},
			`openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC)`},
		{x86, "openat", []uint64{3, path, unix.O_WRONLY | unix.O_CREAT, 0o644},
			`openat(3, "/etc/passwd", O_WRONLY|O_CREAT, 0644)`},
		{x86, "openat", []uint64{3, path, unix.O_RDWR | unix.O_TMPFILE, 0o600},
			`openat(3, "/etc/passwd", O_RDWR|O_TMPFILE, 0600)`},
		{x86, "mkdir", []uint64{path, 0o777}, `mkdir("/etc/passwd", 0777)`},
		{x86, "execve", []uint64{path, argv, envp}, `execve("/etc/passwd", ["ls", "-l"], 0x3200 /* 3 vars */)`},
		{x86, "write", []uint64{1, msg, 6}, `write(1, "hello\n", 6)`},
		{x86, "write", []uint64{1, long, 100}, `write(1, "` + strings.Repeat("x", sysargs.BufferMax) + `"..., 100)`},
		{x86, "write", []uint64{1, msg, 0}, `write(1, "", 0)`},
		{x86, "connect", []uint64{3, sin, 16}, `connect(3, {AF_INET 127.0.0.1:80}, 16)`},
		{x86, "sendto", []uint64{3, msg, 6, unix.MSG_DONTWAIT, sin, 16}, `sendto(3, "hello\n", 6, MSG_DONTWAIT, {AF_INET 127.0.0.1:80}, 16)`},
		{x86, "read", []uint64{0, 0x7000, 10}, `read(0, 0x7000, 10)`},
		{x86, "openat", []uint64{0xffffff9c, 0, 0}, `openat(AT_FDCWD, NULL, O_RDONLY)`},
		{x86, "openat", []uint64{0xffffff9c, 0x9999000, 0}, `openat(AT_FDCWD, 0x9999000 <EFAULT>, O_RDONLY)`},
		{x86, "getpid", nil, `getpid()`},
		{x86, "symlinkat", []uint64{path, 0xffffff9c, path}, `symlinkat("/etc/passwd", AT_FDCWD, "/etc/passwd")`},
		{x86, "fchownat", []uint64{0xffffff9c, path, 0xffffffff, 0, unix.AT_SYMLINK_NOFOLLOW}, `fchownat(AT_FDCWD, "/etc/passwd", -1, 0, AT_SYMLINK_NOFOLLOW)`},
		{x86, "unlinkat", []uint64{5, path, unix.AT_REMOVEDIR}, `unlinkat(5, "/etc/passwd", AT_REMOVEDIR)`},
		{x86, "mknodat", []uint64{0xffffff9c, path, unix.S_IFIFO | 0o600, 0}, `mknodat(AT_FDCWD, "/etc/passwd", S_IFIFO|0600, 0)`},
		// i386: 32-bit pointers and 4-byte argv entries; its own numbers.
		{i386, "execve", []uint64{path, argv32, 0}, `execve("/etc/passwd", ["ls", "-l"], NULL)`},
		{i386, "open", []uint64{path, unix.O_RDONLY}, `open("/etc/passwd", O_RDONLY)`},
		{i386, "write", []uint64{1 | 0xffffffff00000000, msg, 6}, `write(1, "hello\n", 6)`},
	} {
		c := decode(t, tc.arch, tc.name, m, tc.args...)
		if got := c.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestDecodeStructured(t *testing.T) {
	m := newMemory()
	path := m.putString(0x1000, "dir/file")
	sin := m.put(0x6000, sockaddrIn(443))
	c := decode(t, x86, "openat", m, 7, path, unix.O_RDONLY, 0o755)
	if !c.Described || len(c.Args) != 4 {
		t.Fatalf("%+v", c)
	}
	p := c.Args[1]
	if p.Kind != sysargs.Path || p.Str != "dir/file" || p.Err != nil || p.Ref != 0 {
		t.Errorf("path: %+v", p)
	}
	if d := c.Args[p.Ref]; d.Kind != sysargs.DirFD || int64(d.Value) != 7 {
		t.Errorf("dirfd: %+v", d)
	}
	if !c.Args[3].Unused {
		t.Error("mode of an open without O_CREAT is not marked unused")
	}
	c = decode(t, x86, "connect", m, 3, sin, 16)
	sa := c.Args[1].Sockaddr
	if sa == nil || sa.Family != unix.AF_INET || sa.AddrPort.Port() != 443 {
		t.Errorf("connect sockaddr: %+v", c.Args[1])
	}
	if c.Syscall.Name != "connect" || c.ABI() != "x86_64" {
		t.Errorf("call %+v", c.Syscall)
	}
}

func TestDecodeStructs(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	m := newMemory()
	how := m.putWords(0x1000, 8, le, unix.O_RDONLY|unix.O_CLOEXEC, 0, unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_MAGICLINKS)
	path := m.putString(0x2000, "a")
	mm32 := m.putWords(0x3000, 4, le, 0, 8192, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, 0xffffffff, 0)
	mm64be := m.putWords(0x3100, 8, be, 0x10000, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, 3, 4096)
	sin := m.put(0x4000, sockaddrIn(53))
	msg64 := m.put(0x5000, func() []byte {
		b := make([]byte, 56)
		le.PutUint64(b[0:], sin)
		le.PutUint32(b[8:], 16)
		le.PutUint64(b[16:], 0x7000)
		le.PutUint64(b[24:], 1)
		return b
	}())
	msg32 := m.putWords(0x5100, 4, le, sin, 16, 0x7000, 2, 0, 0, 0)
	sockArgs := m.putWords(0x6000, 4, le, 3, sin, 16)
	socketArgs := m.putWords(0x6100, 4, le, unix.AF_INET, unix.SOCK_STREAM, 0)
	cloneArgs := m.putWords(0x7000, 8, le, unix.CLONE_VM|unix.CLONE_NEWPID, 0, 0, 0, uint64(unix.SIGCHLD), 0x9000, 0x1000, 0)

	for _, tc := range []struct {
		arch uint32
		name string
		args []uint64
		want string
	}{
		{x86, "openat2", []uint64{0xffffff9c, path, how, 24},
			`openat2(AT_FDCWD, "a", {flags=O_RDONLY|O_CLOEXEC, mode=00, resolve=RESOLVE_NO_MAGICLINKS|RESOLVE_IN_ROOT}, 24)`},
		{x86, "openat2", []uint64{0xffffff9c, path, how, 8}, `openat2(AT_FDCWD, "a", {flags=O_RDONLY|O_CLOEXEC}, 8)`},
		{i386, "mmap", []uint64{mm32},
			`mmap({addr=NULL, len=8192, prot=PROT_READ, flags=MAP_PRIVATE|MAP_ANONYMOUS, fd=-1, offset=0})`},
		{unix.AUDIT_ARCH_S390X, "mmap", []uint64{mm64be},
			`mmap({addr=0x10000, len=4096, prot=PROT_READ|PROT_WRITE, flags=MAP_SHARED, fd=3, offset=4096})`},
		{x86, "sendmsg", []uint64{3, msg64, unix.MSG_NOSIGNAL},
			`sendmsg(3, {msg_name={AF_INET 127.0.0.1:53}, msg_namelen=16, msg_iov=0x7000, msg_iovlen=1, msg_control=NULL, msg_controllen=0, msg_flags=0}, MSG_NOSIGNAL)`},
		{i386, "sendmsg", []uint64{3, msg32, 0},
			`sendmsg(3, {msg_name={AF_INET 127.0.0.1:53}, msg_namelen=16, msg_iov=0x7000, msg_iovlen=2, msg_control=NULL, msg_controllen=0, msg_flags=0}, 0)`},
		{i386, "socketcall", []uint64{3, sockArgs}, `socketcall(SYS_CONNECT, [3, {AF_INET 127.0.0.1:53}, 16])`},
		{i386, "socketcall", []uint64{1, socketArgs}, `socketcall(SYS_SOCKET, [AF_INET, SOCK_STREAM, 0])`},
		{i386, "socketcall", []uint64{99, socketArgs}, `socketcall(99, 0x6100)`},
		{i386, "socketcall", []uint64{3, 0x9999000}, `socketcall(SYS_CONNECT, 0x9999000 <EFAULT>)`},
		{x86, "clone3", []uint64{cloneArgs, 64},
			`clone3({flags=CLONE_VM|CLONE_NEWPID, pidfd=NULL, child_tid=NULL, parent_tid=NULL, exit_signal=SIGCHLD, stack=0x9000, stack_size=4096, tls=0}, 64)`},
		{x86, "fcntl", []uint64{3, unix.F_SETFD, unix.FD_CLOEXEC}, `fcntl(3, F_SETFD, FD_CLOEXEC)`},
		{x86, "fcntl", []uint64{3, unix.F_SETFL, unix.O_NONBLOCK | unix.O_RDWR}, `fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK)`},
		{x86, "fcntl", []uint64{3, unix.F_DUPFD_CLOEXEC, 10}, `fcntl(3, F_DUPFD_CLOEXEC, 10)`},
		{x86, "fcntl", []uint64{3, unix.F_GETFL, 0x1234}, `fcntl(3, F_GETFL)`},
		{x86, "fcntl", []uint64{3, unix.F_SETLKW, 0x8000}, `fcntl(3, F_SETLKW, 0x8000)`},
		{x86, "fcntl", []uint64{3, unix.F_SETSIG, 10}, `fcntl(3, F_SETSIG, SIGUSR1)`},
		{x86, "ipc", nil, ``}, // x86_64 has no ipc: skipped below
	} {
		if _, ok := sysnames.Number(tc.arch, tc.name); !ok {
			continue
		}
		c := decode(t, tc.arch, tc.name, m, tc.args...)
		if got := c.String(); got != tc.want {
			t.Errorf("%s %s:\n got %s\nwant %s", sysnames.ArchName(tc.arch), tc.name, got, tc.want)
		}
	}
	c := decode(t, i386, "socketcall", m, 3, sockArgs)
	if c.Sub == nil || c.Sub.Name != "connect" || c.Sub.Args[1].Sockaddr == nil || c.Sub.Args[1].Sockaddr.AddrPort.Port() != 53 {
		t.Errorf("socketcall Sub: %+v", c.Sub)
	}
}

func TestDecodeUnreadable(t *testing.T) {
	m := newMemory()
	path := m.putString(0x1000, "/x")
	m.gone = true
	c := decode(t, x86, "openat", m, 0xffffff9c, path, 0)
	if a := c.Args[1]; !errors.Is(a.Err, seccompstream.ErrGone) || !strings.Contains(c.String(), "0x1000 <gone>") {
		t.Errorf("gone target: %s, err %v", c.String(), a.Err)
	}
	m.gone = false
	c = decode(t, x86, "connect", m, 3, 0x9000, 16)
	if !strings.Contains(c.String(), "0x9000 <EFAULT>") {
		t.Errorf("unreadable sockaddr: %s", c.String())
	}
	c = decode(t, x86, "connect", m, 3, 0x1000, 1)
	if !strings.Contains(c.String(), "0x1000 <EINVAL>") {
		t.Errorf("short sockaddr: %s", c.String())
	}
	// Without memory, pointers are shown as addresses and nothing is read.
	c = decode(t, x86, "openat", nil, 0xffffff9c, path, 0)
	if got := c.String(); got != "openat(AT_FDCWD, 0x1000, O_RDONLY)" {
		t.Errorf("nil memory: %s", got)
	}
}

func TestDecodeUndescribed(t *testing.T) {
	c := sysargs.Decode(x86, 9999, [6]uint64{1, 0x20, 0, 4}, nil)
	if c.Described || c.String() != "syscall_9999(0x1, 0x20, 0x0, 0x4)" {
		t.Errorf("unknown number: %s %+v", c.String(), c)
	}
	c = sysargs.Decode(x86, 183, [6]uint64{}, nil) // afs_syscall
	if c.Described || c.String() != "afs_syscall()" {
		t.Errorf("afs_syscall: %s", c.String())
	}
	c = sysargs.Decode(unix.AUDIT_ARCH_PARISC, 1, [6]uint64{7}, nil)
	if c.String() != "syscall_1(0x7)" {
		t.Errorf("unknown arch: %s", c.String())
	}
}

// TestDecodeReadsBounded checks that a hostile argv (no NULL within the
// limit) is read only up to ArrayMax entries.
func TestDecodeReadsBounded(t *testing.T) {
	m := newMemory()
	s := m.putString(0x1000, "a")
	words := make([]uint64, 200)
	for i := range words {
		words[i] = s
	}
	argv := m.putWords(0x2000, 8, binary.LittleEndian, words...)
	envp := m.putWords(0x10000, 8, binary.LittleEndian, words...)
	c := decode(t, x86, "execve", m, s, argv, envp)
	a := c.Args[1]
	if len(a.Strs) != sysargs.ArrayMax || !a.Truncated || !strings.Contains(c.String(), `"a", ...]`) {
		t.Errorf("argv: %d strings, truncated %v: %s", len(a.Strs), a.Truncated, c.String())
	}
	if e := c.Args[2]; e.Count != 200 || e.Err == nil {
		// The fake array ends in unmapped memory after 200 entries.
		t.Errorf("envp: count %d, err %v", e.Count, e.Err)
	}
	if m.reads > sysargs.ArrayMax+16 {
		t.Errorf("%d reads", m.reads)
	}
}

func TestDecodeArgvEntries(t *testing.T) {
	m := newMemory()
	a0 := m.putString(0x1000, "sh")
	argv := m.putWords(0x2000, 8, binary.LittleEndian, a0, 0x9999000, a0, 0)
	c := decode(t, x86, "execve", m, a0, argv, 0)
	a := c.Args[1]
	if len(a.Strs) != 3 || a.Strs[0] != "sh" || a.Strs[1] != "" || a.Errs == nil || a.Errs[0] != nil || !errors.Is(a.Errs[1], unix.EFAULT) {
		t.Errorf("argv: %q, errs %v", a.Strs, a.Errs)
	}
	if got := c.String(); got != `execve("sh", ["sh", 0x9999000 <EFAULT>, "sh"], NULL)` {
		t.Errorf("got %s", got)
	}
}
