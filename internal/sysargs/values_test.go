package sysargs_test

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

func arch(t *testing.T, name string) uint32 {
	t.Helper()
	a, ok := sysnames.ArchByName(name)
	if !ok {
		t.Fatalf("unknown arch %s", name)
	}
	return a
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		arch string
		kind sysargs.Kind
		v    uint64
		want string
	}{
		{"x86_64", sysargs.OpenFlags, unix.O_RDONLY | unix.O_CLOEXEC, "O_RDONLY|O_CLOEXEC"},
		{"x86_64", sysargs.OpenFlags, unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, "O_WRONLY|O_CREAT|O_TRUNC"},
		{"x86_64", sysargs.OpenFlags, unix.O_RDWR | unix.O_SYNC, "O_RDWR|O_SYNC"},
		{"x86_64", sysargs.OpenFlags, unix.O_RDWR | unix.O_DSYNC, "O_RDWR|O_DSYNC"},
		{"x86_64", sysargs.OpenFlags, unix.O_RDWR | unix.O_TMPFILE, "O_RDWR|O_TMPFILE"},
		{"x86_64", sysargs.OpenFlags, unix.O_RDONLY | unix.O_DIRECTORY, "O_RDONLY|O_DIRECTORY"},
		{"x86_64", sysargs.OpenFlags, 3 | 0x4000000, "0x3|0x4000000"},
		// arm and aarch64 number O_DIRECTORY and friends differently.
		{"arm", sysargs.OpenFlags, 0x4000, "O_RDONLY|O_DIRECTORY"},
		{"aarch64", sysargs.OpenFlags, 0x4000, "O_RDONLY|O_DIRECTORY"},
		{"x86_64", sysargs.OpenFlags, 0x4000, "O_RDONLY|O_DIRECT"},
		{"i386", sysargs.OpenFlags, 0x8000, "O_RDONLY|O_LARGEFILE"},
		{"x86_64", sysargs.MmapProt, 0, "PROT_NONE"},
		{"x86_64", sysargs.MmapProt, unix.PROT_READ | unix.PROT_WRITE, "PROT_READ|PROT_WRITE"},
		{"x86_64", sysargs.MmapFlags, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS, "MAP_PRIVATE|MAP_ANONYMOUS"},
		{"mips", sysargs.MmapFlags, 0x802, "MAP_PRIVATE|MAP_ANONYMOUS"},
		{"x86_64", sysargs.MmapFlags, unix.MAP_SHARED | unix.MAP_FIXED, "MAP_SHARED|MAP_FIXED"},
		{"x86_64", sysargs.Signal, 2, "SIGINT"},
		{"x86_64", sysargs.Signal, 17, "SIGCHLD"},
		{"mips", sysargs.Signal, 18, "SIGCHLD"},
		{"sparc64", sysargs.Signal, 20, "SIGCHLD"},
		{"x86_64", sysargs.Signal, 32, "SIGRTMIN"},
		{"x86_64", sysargs.Signal, 34, "SIGRT_2"},
		{"x86_64", sysargs.Signal, 65, "65"},
		{"mips", sysargs.Signal, 100, "SIGRT_68"},
		{"x86_64", sysargs.Signal, 0, "0"},
		{"x86_64", sysargs.CloneFlags, unix.CLONE_VM | unix.CLONE_FS | uint64(unix.SIGCHLD), "CLONE_VM|CLONE_FS|SIGCHLD"},
		{"x86_64", sysargs.CloneFlags, unix.CLONE_THREAD, "CLONE_THREAD"},
		{"x86_64", sysargs.CloneFlags, 0, "0"},
		{"x86_64", sysargs.UnshareFlags, unix.CLONE_NEWNS | unix.CLONE_NEWTIME, "CLONE_NEWTIME|CLONE_NEWNS"},
		{"x86_64", sysargs.SocketFamily, unix.AF_INET6, "AF_INET6"},
		{"x86_64", sysargs.SocketFamily, 250, "250"},
		{"x86_64", sysargs.SocketType, unix.SOCK_STREAM | unix.SOCK_CLOEXEC, "SOCK_STREAM|SOCK_CLOEXEC"},
		{"mips", sysargs.SocketType, 2, "SOCK_STREAM"},
		{"mips", sysargs.SocketType, 1, "SOCK_DGRAM"},
		{"x86_64", sysargs.AccessMode, 0, "F_OK"},
		{"x86_64", sysargs.AccessMode, unix.R_OK | unix.X_OK, "R_OK|X_OK"},
		{"x86_64", sysargs.AtFlags, unix.AT_SYMLINK_NOFOLLOW | unix.AT_EMPTY_PATH, "AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH"},
		{"x86_64", sysargs.UnlinkFlags, unix.AT_REMOVEDIR, "AT_REMOVEDIR"},
		{"x86_64", sysargs.AccessAtFlags, unix.AT_EACCESS, "AT_EACCESS"},
		{"x86_64", sysargs.NodeMode, unix.S_IFCHR | 0o620, "S_IFCHR|0620"},
		{"x86_64", sysargs.FcntlCmd, unix.F_SETFL, "F_SETFL"},
		{"x86_64", sysargs.FcntlCmd, 9999, "9999"},
		{"x86_64", sysargs.PrctlOption, unix.PR_SET_NO_NEW_PRIVS, "PR_SET_NO_NEW_PRIVS"},
		{"x86_64", sysargs.Personality, 0x0040000, "PER_LINUX|ADDR_NO_RANDOMIZE"},
		{"x86_64", sysargs.Personality, 0xffffffff, "0xffffffff"},
		{"x86_64", sysargs.Personality, 8, "PER_LINUX32"},
		{"x86_64", sysargs.Whence, unix.SEEK_END, "SEEK_END"},
		{"x86_64", sysargs.FutexOp, 128 | 9, "FUTEX_WAIT_BITSET|FUTEX_PRIVATE_FLAG"},
		{"x86_64", sysargs.SigprocmaskHow, 2, "SIG_SETMASK"},
		{"mips", sysargs.SigprocmaskHow, 3, "SIG_SETMASK"},
		{"sparc64", sysargs.SigprocmaskHow, 4, "SIG_SETMASK"},
		{"x86_64", sysargs.MountFlags, unix.MS_BIND | unix.MS_REC, "MS_BIND|MS_REC"},
		{"x86_64", sysargs.MountFlags, 0xc0ed0000 | unix.MS_RDONLY, "MS_MGC_VAL|MS_RDONLY"},
		{"x86_64", sysargs.IPCCall, 1<<16 | 21, "SHMAT|0x10000"},
		{"x86_64", sysargs.SocketCall, 3, "SYS_CONNECT"},
		{"x86_64", sysargs.MsgFlags, 0, "0"},
		{"x86_64", sysargs.WaitOptions, unix.WNOHANG | unix.WALL, "WNOHANG|__WALL"},
		{"x86_64", sysargs.ResolveFlags, unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS, "RESOLVE_NO_MAGICLINKS|RESOLVE_IN_ROOT"},
		{"x86_64", sysargs.Hex, 255, "0xff"},
	} {
		if got := sysargs.Format(arch(t, tc.arch), tc.kind, tc.v); got != tc.want {
			t.Errorf("Format(%s, %v, %#x) = %q, want %q", tc.arch, tc.kind, tc.v, got, tc.want)
		}
	}
	if got := sysargs.Format(unix.AUDIT_ARCH_PARISC, sysargs.OpenFlags, 1); got != "0x1" {
		t.Errorf("Format on an unknown arch = %q", got)
	}
}

func TestParse(t *testing.T) {
	x86 := uint32(unix.AUDIT_ARCH_X86_64)
	for _, tc := range []struct {
		kind sysargs.Kind
		s    string
		want uint64
	}{
		{sysargs.OpenFlags, "O_WRONLY|O_CREAT", unix.O_WRONLY | unix.O_CREAT},
		{sysargs.OpenFlags, "O_RDONLY", 0},
		{sysargs.SocketFamily, "AF_INET", unix.AF_INET},
		{sysargs.SocketFamily, "16", 16},
		{sysargs.Signal, "SIGRTMIN", 32},
		{sysargs.Signal, "SIGRT_3", 35},
		{sysargs.CloneFlags, "CLONE_VM|SIGCHLD", unix.CLONE_VM | uint64(unix.SIGCHLD)},
		{sysargs.MmapProt, "PROT_NONE", 0},
		{sysargs.Mode, "0644", 0o644},
		{sysargs.Int, "-1", ^uint64(0)},
		{sysargs.AccessMode, "F_OK", 0},
	} {
		got, err := sysargs.Parse(x86, tc.kind, tc.s)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%v, %q) = %#x, %v; want %#x", tc.kind, tc.s, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		kind sysargs.Kind
		s    string
	}{
		{sysargs.OpenFlags, ""},
		{sysargs.OpenFlags, "O_BOGUS"},
		{sysargs.OpenFlags, "AF_INET"},
		{sysargs.Signal, "SIGRT_99"},
		{sysargs.Signal, "sigint"},
		{sysargs.Path, "x"},
	} {
		if v, err := sysargs.Parse(x86, tc.kind, tc.s); err == nil {
			t.Errorf("Parse(%v, %q) = %#x, want an error", tc.kind, tc.s, v)
		} else if tc.s != "" && !strings.Contains(err.Error(), tc.s) {
			t.Errorf("Parse(%v, %q): error %q does not name the input", tc.kind, tc.s, err)
		}
	}
	if _, err := sysargs.Parse(unix.AUDIT_ARCH_PARISC, sysargs.OpenFlags, "O_RDONLY"); err == nil {
		t.Error("Parse accepted an unknown arch")
	}
}

// TestFormatParse checks that Parse reads back what Format writes, for every
// named kind on every arch, over values built from single bits and small
// numbers.
func TestFormatParse(t *testing.T) {
	var values []uint64
	for i := 0; i < 64; i++ {
		values = append(values, 1<<i)
	}
	for i := uint64(0); i < 140; i++ {
		values = append(values, i)
	}
	values = append(values, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0xffffffff, 0x11|unix.CLONE_VM)
	for _, a := range sysnames.Arches() {
		for k := sysargs.Kind(0); k < 200; k++ {
			if !k.Named() {
				continue
			}
			for _, v := range values {
				s := sysargs.Format(a, k, v)
				got, err := sysargs.Parse(a, k, s)
				if err != nil {
					t.Errorf("%s %v: Parse(Format(%#x) = %q): %v", sysnames.ArchName(a), k, v, s, err)
					continue
				}
				// Enumerated kinds show unknown values as signed decimal
				// numbers of 32 bits.
				if got != v && uint32(got) != uint32(v) {
					t.Errorf("%s %v: Parse(Format(%#x) = %q) = %#x", sysnames.ArchName(a), k, v, s, got)
				}
			}
		}
	}
}

func TestKindString(t *testing.T) {
	if got := sysargs.OpenFlags.String(); got != "OpenFlags" {
		t.Errorf("OpenFlags.String() = %q", got)
	}
	if got := sysargs.Kind(250).String(); got != "Kind(250)" {
		t.Errorf("Kind(250).String() = %q", got)
	}
	if !sysargs.Path.Pointer() || !sysargs.Pointer.Pointer() || sysargs.FD.Pointer() || sysargs.SocketFamily.Pointer() || sysargs.Kind(250).Pointer() {
		t.Error("Pointer() wrong")
	}
	if !sysargs.SocketFamily.Named() || !sysargs.Signal.Named() || sysargs.Path.Named() || sysargs.Int.Named() {
		t.Error("Named() wrong")
	}
}
