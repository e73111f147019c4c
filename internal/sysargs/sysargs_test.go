package sysargs_test

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// layout shows where a call's parameters sit: "fd:FD:0 pos:Offset:4+5"
// (register, or low+high registers).
func layout(s sysargs.Syscall) string {
	var parts []string
	for _, p := range s.Params {
		r := fmt.Sprint(p.Reg)
		if p.Hi >= 0 {
			r += fmt.Sprintf("+%d", p.Hi)
		}
		parts = append(parts, p.Name+":"+p.Kind.String()+":"+r)
	}
	return strings.Join(parts, " ")
}

// abiCall looks up a call by ABI name ("x32" included) and call name.
func abiCall(t *testing.T, abi, name string) sysargs.Syscall {
	t.Helper()
	if abi == "x32" {
		for nr := int32(0); nr < 1024; nr++ {
			if n, ok := sysnames.Name(unix.AUDIT_ARCH_X86_64, nr|sysnames.X32Bit); ok && n == name+sysnames.X32Suffix {
				s, ok := sysargs.Lookup(unix.AUDIT_ARCH_X86_64, nr|sysnames.X32Bit)
				if !ok {
					t.Fatalf("x32 %s (%d) not described", name, nr)
				}
				return s
			}
		}
		t.Fatalf("no x32 call %s", name)
	}
	arch, ok := sysnames.ArchByName(abi)
	if !ok {
		t.Fatalf("unknown arch %s", abi)
	}
	s, ok := sysargs.LookupName(arch, name)
	if !ok {
		t.Fatalf("%s %s not described", abi, name)
	}
	if s.ABI() != abi {
		t.Fatalf("%s %s: ABI %q", abi, name, s.ABI())
	}
	return s
}

// TestLayouts pins the placements where ABIs differ. The expected values
// were checked against the kernel's own entry points (the compat wrappers,
// which spell each register out) for each ABI.
func TestLayouts(t *testing.T) {
	for _, tc := range []struct{ abi, name, want string }{
		// 64-bit values: one register on 64-bit ABIs; two, low word first,
		// on i386; an even register pair on arm (padding skipped), high
		// word first on big-endian ppc and mips.
		{"x86_64", "pread64", "fd:FD:0 buf:Pointer:1 count:Size:2 pos:Offset:3"},
		{"i386", "pread64", "fd:FD:0 buf:Pointer:1 count:Size:2 pos:Offset:3+4"},
		{"arm", "pread64", "fd:FD:0 buf:Pointer:1 count:Size:2 pos:Offset:4+5"},
		{"ppc", "pread64", "fd:FD:0 buf:Pointer:1 count:Size:2 pos:Offset:5+4"},
		{"mips", "pread64", "fd:FD:0 buf:Pointer:1 count:Size:2 pos:Offset:5+4"},
		{"mipsel", "pread64", "fd:FD:0 buf:Pointer:1 count:Size:2 pos:Offset:4+5"},
		{"arm", "ftruncate64", "fd:FD:0 length:Offset:2+3"},
		{"i386", "ftruncate64", "fd:FD:0 length:Offset:1+2"},
		{"i386", "fadvise64_64", "fd:FD:0 offset:Offset:1+2 len:Offset:3+4 advice:Int:5"},
		{"ppc", "fadvise64_64", "fd:FD:0 advice:Int:1 offset:Offset:3+2 len:Offset:5+4"},
		{"arm", "arm_fadvise64_64", "fd:FD:0 advice:Int:1 offset:Offset:2+3 len:Offset:4+5"},
		{"i386", "fadvise64", "fd:FD:0 offset:Offset:1+2 len:Size:3 advice:Int:4"},
		{"ppc", "fadvise64", "fd:FD:0 offset:Offset:3+2 len:Size:4 advice:Int:5"},
		{"ppc", "fanotify_mark", "fanotify_fd:FD:0 flags:Hex:1 mask:Hex:3+2 dfd:DirFD:4 pathname:Path:5"},
		{"arm", "readahead", "fd:FD:0 offset:Offset:2+3 count:Size:4"},
		// mips o32 passes the seventh argument on the stack: not in seccomp_data.
		{"mips", "sync_file_range", "fd:FD:0 offset:Offset:3+2 nbytes:Offset:5+4"},
		{"x86_64", "sync_file_range", "fd:FD:0 offset:Offset:1 nbytes:Offset:2 flags:Hex:3"},
		// clone's three orders.
		{"x86_64", "clone", "clone_flags:CloneFlags:0 newsp:Pointer:1 parent_tidptr:Pointer:2 child_tidptr:Pointer:3 tls:Hex:4"},
		{"x32", "clone", "clone_flags:CloneFlags:0 newsp:Pointer:1 parent_tidptr:Pointer:2 child_tidptr:Pointer:3 tls:Hex:4"},
		{"i386", "clone", "clone_flags:CloneFlags:0 newsp:Pointer:1 parent_tidptr:Pointer:2 tls:Hex:3 child_tidptr:Pointer:4"},
		{"aarch64", "clone", "clone_flags:CloneFlags:0 newsp:Pointer:1 parent_tidptr:Pointer:2 tls:Hex:3 child_tidptr:Pointer:4"},
		{"arm", "clone", "clone_flags:CloneFlags:0 newsp:Pointer:1 parent_tidptr:Pointer:2 tls:Hex:3 child_tidptr:Pointer:4"},
		{"riscv64", "clone", "clone_flags:CloneFlags:0 newsp:Pointer:1 parent_tidptr:Pointer:2 tls:Hex:3 child_tidptr:Pointer:4"},
		{"s390x", "clone", "newsp:Pointer:0 clone_flags:CloneFlags:1 parent_tidptr:Pointer:2 child_tidptr:Pointer:3 tls:Hex:4"},
		// mmap: registers, a struct pointer (old_mmap), or a page offset.
		{"x86_64", "mmap", "addr:Pointer:0 len:Size:1 prot:MmapProt:2 flags:MmapFlags:3 fd:FD:4 off:Offset:5"},
		{"i386", "mmap", "arg:MmapArgs:0"},
		{"s390x", "mmap", "arg:MmapArgs:0"},
		{"i386", "mmap2", "addr:Pointer:0 len:Size:1 prot:MmapProt:2 flags:MmapFlags:3 fd:FD:4 pgoff:Ulong:5"},
		{"arm", "mmap2", "addr:Pointer:0 len:Size:1 prot:MmapProt:2 flags:MmapFlags:3 fd:FD:4 pgoff:Ulong:5"},
		// Multiplexers.
		{"i386", "socketcall", "call:SocketCall:0 args:SocketCallArgs:1"},
		{"i386", "ipc", "call:IPCCall:0 first:Int:1 second:Hex:2 third:Hex:3 ptr:Pointer:4 fifth:Hex:5"},
		{"s390x", "ipc", "call:IPCCall:0 first:Int:1 second:Hex:2 third:Hex:3 ptr:Pointer:4"},
		// Arch quirks.
		{"mips", "pipe", ""},
		{"x86_64", "pipe", "fildes:Pointer:0"},
		{"sparc64", "rt_sigaction", "sig:Signal:0 act:Pointer:1 oact:Pointer:2 restorer:Pointer:3 sigsetsize:Size:4"},
		{"x32", "preadv", "fd:FD:0 vec:Pointer:1 vlen:Ulong:2 pos:Offset:3"},
		{"x86_64", "preadv", "fd:FD:0 vec:Pointer:1 vlen:Ulong:2 pos_l:Ulong:3 pos_h:Ulong:4"},
		{"x32", "execve", "filename:Path:0 argv:StringArray:1 envp:EnvArray:2"},
		// The calls emulation needs, on the native ABI.
		{"x86_64", "openat", "dfd:DirFD:0 filename:Path:1 flags:OpenFlags:2 mode:Mode:3"},
		{"x86_64", "openat2", "dfd:DirFD:0 filename:Path:1 how:OpenHow:2 usize:Size:3"},
		{"x86_64", "connect", "fd:FD:0 uservaddr:Sockaddr:1 addrlen:SockaddrLen:2"},
		{"x86_64", "sendto", "fd:FD:0 buff:Buffer:1 len:Size:2 flags:MsgFlags:3 addr:Sockaddr:4 addr_len:SockaddrLen:5"},
		{"x86_64", "sendmsg", "fd:FD:0 msg:MsgHdr:1 flags:MsgFlags:2"},
		{"x86_64", "renameat2", "olddfd:DirFD:0 oldname:Path:1 newdfd:DirFD:2 newname:Path:3 flags:RenameFlags:4"},
		{"x86_64", "symlinkat", "oldname:String:0 newdfd:DirFD:1 newname:Path:2"},
		{"aarch64", "mknodat", "dfd:DirFD:0 filename:Path:1 mode:NodeMode:2 dev:Hex:3"},
	} {
		s := abiCall(t, tc.abi, tc.name)
		if got := layout(s); got != tc.want {
			t.Errorf("%s %s:\n got %s\nwant %s", tc.abi, tc.name, got, tc.want)
		}
	}
}

// TestRefs checks the references between parameters: a path to its
// directory fd, an address or buffer to its length.
func TestRefs(t *testing.T) {
	s := abiCall(t, "x86_64", "linkat")
	if s.Params[1].Ref != 0 || s.Params[3].Ref != 2 {
		t.Errorf("linkat refs: %+v", s.Params)
	}
	if s := abiCall(t, "x86_64", "open"); s.Params[0].Ref != -1 {
		t.Errorf("open's path refers to %d, want -1 (the working directory)", s.Params[0].Ref)
	}
	if s := abiCall(t, "x86_64", "connect"); s.Params[1].Ref != 2 {
		t.Errorf("connect's address refers to %d, want 2", s.Params[1].Ref)
	}
	if s := abiCall(t, "x86_64", "write"); s.Params[1].Ref != 2 {
		t.Errorf("write's buffer refers to %d, want 2", s.Params[1].Ref)
	}
}

// TestEveryABI walks every call of every ABI: each described call has
// parameters in seccomp_data's six registers, 64-bit halves only on 32-bit
// ABIs, references that point to a parameter of the right kind, and most
// calls are described.
func TestEveryABI(t *testing.T) {
	refKinds := map[sysargs.Kind][]sysargs.Kind{
		sysargs.Path:           {sysargs.DirFD},
		sysargs.Sockaddr:       {sysargs.SockaddrLen},
		sysargs.Buffer:         {sysargs.Size, sysargs.Int},
		sysargs.OpenHow:        {sysargs.Size},
		sysargs.CloneArgs:      {sysargs.Size},
		sysargs.SocketCallArgs: {sysargs.SocketCall},
	}
	abis := 0
	for _, arch := range sysnames.Arches() {
		for _, bit := range []int32{0, sysnames.X32Bit} {
			if bit != 0 && arch != unix.AUDIT_ARCH_X86_64 {
				continue
			}
			abis++
			total, described := 0, 0
			for nr := int32(0); nr < 6000; nr++ {
				s, ok := sysargs.Lookup(arch, nr|bit)
				if s.Name == "" {
					continue
				}
				total++
				if !ok {
					continue
				}
				described++
				for i, p := range s.Params {
					where := fmt.Sprintf("%s %s param %d (%s)", s.ABI(), s.Name, i, p.Name)
					if p.Reg < 0 || p.Reg > 5 || p.Hi > 5 || p.Hi < -1 {
						t.Errorf("%s: registers %d, %d", where, p.Reg, p.Hi)
					}
					if p.Hi >= 0 && s.Is64() {
						t.Errorf("%s: split on a 64-bit ABI", where)
					}
					if p.Kind == sysargs.Invalid || p.Kind.String() == "" || strings.HasPrefix(p.Kind.String(), "Kind(") {
						t.Errorf("%s: kind %v", where, p.Kind)
					}
					if p.Ref >= 0 {
						if int(p.Ref) >= len(s.Params) || int(p.Ref) == i {
							t.Errorf("%s: ref %d", where, p.Ref)
							continue
						}
						if want, ok := refKinds[p.Kind]; !ok || !containsKind(want, s.Params[p.Ref].Kind) {
							t.Errorf("%s: %v refers to a %v", where, p.Kind, s.Params[p.Ref].Kind)
						}
					} else if p.Kind == sysargs.Sockaddr || p.Kind == sysargs.Buffer || p.Kind == sysargs.SocketCallArgs {
						t.Errorf("%s: %v without its length", where, p.Kind)
					}
				}
			}
			if total == 0 || described*100 < total*90 {
				t.Errorf("arch %#x (bit %#x): %d of %d calls described", arch, bit, described, total)
			}
		}
	}
	if abis < 16 {
		t.Errorf("%d ABIs, want 16", abis)
	}
}

func containsKind(ks []sysargs.Kind, k sysargs.Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// TestX32 checks the x32 ABI: its own numbers are described, the x86_64
// numbers it lost are not, and it shares the x86_64 prototypes otherwise.
func TestX32(t *testing.T) {
	s, ok := sysargs.Lookup(unix.AUDIT_ARCH_X86_64, 520|sysnames.X32Bit)
	if !ok || s.Name != "execve" || s.ABI() != "x32" || s.PointerSize() != 4 || !s.Is64() {
		t.Errorf("x32 520: %+v %v", s, ok)
	}
	if s, ok := sysargs.Lookup(unix.AUDIT_ARCH_X86_64, 59|sysnames.X32Bit); ok || s.Name != "" {
		t.Errorf("x32 59 (x86_64's execve) described: %+v", s)
	}
	if s, ok := sysargs.Lookup(unix.AUDIT_ARCH_X86_64, 257|sysnames.X32Bit); !ok || s.Name != "openat" {
		t.Errorf("x32 openat: %+v", s)
	}
	if _, ok := sysargs.Lookup(unix.AUDIT_ARCH_I386, 5|sysnames.X32Bit); ok {
		t.Error("x32 bit accepted on i386")
	}
}

func TestLookupMisses(t *testing.T) {
	for _, tc := range []struct {
		arch uint32
		nr   int32
	}{
		{unix.AUDIT_ARCH_PARISC, 1},
		{unix.AUDIT_ARCH_X86_64, 9999},
		{unix.AUDIT_ARCH_X86_64, -1},
		{unix.AUDIT_ARCH_X86_64, 183}, // afs_syscall: named, not described
	} {
		if s, ok := sysargs.Lookup(tc.arch, tc.nr); ok {
			t.Errorf("Lookup(%#x, %d) = %+v", tc.arch, tc.nr, s)
		}
	}
	if s, _ := sysargs.Lookup(unix.AUDIT_ARCH_X86_64, 183); s.Name != "afs_syscall" {
		t.Errorf("undescribed call has name %q", s.Name)
	}
	if _, ok := sysargs.LookupName(unix.AUDIT_ARCH_X86_64, "opne"); ok {
		t.Error("LookupName accepted opne")
	}
}

func TestLookupAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		sysargs.Lookup(unix.AUDIT_ARCH_X86_64, 257)
		sysargs.Lookup(unix.AUDIT_ARCH_X86_64, 257|sysnames.X32Bit)
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %v times", allocs)
	}
}

// TestValue checks how register values become argument values: 32-bit ABIs
// drop the upper bits, halves are joined, signed kinds are sign-extended.
func TestValue(t *testing.T) {
	openat := abiCall(t, "x86_64", "openat")
	for _, dirfd := range []uint64{0xffffff9c, 0xffffffffffffff9c, 0x12345678ffffff9c} {
		if v := int64(openat.Value(0, [6]uint64{dirfd})); v != unix.AT_FDCWD {
			t.Errorf("dirfd %#x: %d", dirfd, v)
		}
	}
	pread := abiCall(t, "i386", "pread64")
	if v := pread.Value(3, [6]uint64{3: 0xdeadbeef00000010, 4: 0x1}); v != 0x100000010 {
		t.Errorf("i386 pread64 pos = %#x", v)
	}
	ppc := abiCall(t, "ppc", "pread64")
	if v := ppc.Value(3, [6]uint64{4: 0x1, 5: 0x10}); v != 0x100000010 {
		t.Errorf("ppc pread64 pos = %#x", v)
	}
	lseek := abiCall(t, "i386", "lseek")
	if v := int64(lseek.Value(1, [6]uint64{1: 0xfffffffe})); v != -2 {
		t.Errorf("i386 lseek offset = %d", v)
	}
	lseek64 := abiCall(t, "x86_64", "lseek")
	if v := lseek64.Value(1, [6]uint64{1: 0xfffffffe}); v != 0xfffffffe {
		t.Errorf("x86_64 lseek offset = %#x", v)
	}
	mmap := abiCall(t, "i386", "mmap2")
	if v := mmap.Value(1, [6]uint64{1: 0xffffffff00001000}); v != 0x1000 {
		t.Errorf("i386 mmap2 len = %#x", v)
	}
}

// TestValueWidth: the kernel reads int parameters from the low 32 bits of
// their register; the calling convention leaves the upper bits undefined.
func TestValueWidth(t *testing.T) {
	openat := abiCall(t, "x86_64", "openat")
	if v := openat.Value(2, [6]uint64{2: 0xdead000000080000}); v != unix.O_CLOEXEC {
		t.Errorf("openat flags = %#x", v)
	}
	mmap := abiCall(t, "x86_64", "mmap")
	if v := mmap.Value(3, [6]uint64{3: 0x100000022}); v != 0x100000022 {
		t.Errorf("mmap flags (unsigned long) = %#x", v)
	}
	if v := int64(mmap.Value(4, [6]uint64{4: 0xffffffff})); v != -1 {
		t.Errorf("mmap fd = %d", v)
	}
}

// TestEmulationCalls: the calls a file or network policy decides on have
// their path (with its directory fd) or socket address described on every
// ABI that has them, so that an emulator finds them by kind.
func TestEmulationCalls(t *testing.T) {
	paths := strings.Fields(`open openat openat2 creat stat lstat newfstatat fstatat64 stat64 lstat64
		oldstat oldlstat statx access faccessat faccessat2 readlink readlinkat chdir mkdir mkdirat
		unlink unlinkat rmdir rename renameat renameat2 link linkat symlink symlinkat chmod fchmodat
		fchmodat2 chown lchown chown32 lchown32 fchownat truncate truncate64 utimensat
		utimensat_time64 utime utimes futimesat mknod mknodat execve execveat`)
	atCalls := map[string]bool{}
	for _, n := range strings.Fields(`openat openat2 newfstatat fstatat64 statx faccessat faccessat2
		readlinkat mkdirat unlinkat renameat renameat2 linkat symlinkat fchmodat fchmodat2 fchownat
		utimensat utimensat_time64 futimesat mknodat execveat`) {
		atCalls[n] = true
	}
	addrs := map[string]sysargs.Kind{"connect": sysargs.Sockaddr, "bind": sysargs.Sockaddr,
		"sendto": sysargs.Sockaddr, "sendmsg": sysargs.MsgHdr}
	seen := 0
	for _, arch := range sysnames.Arches() {
		for _, name := range paths {
			s, ok := sysargs.LookupName(arch, name)
			if _, exists := sysnames.Number(arch, name); !exists {
				continue
			}
			seen++
			if !ok {
				t.Errorf("%s %s not described", sysnames.ArchName(arch), name)
				continue
			}
			found := false
			for _, p := range s.Params {
				if p.Kind != sysargs.Path {
					continue
				}
				found = true
				if p.Ref >= 0 && s.Params[p.Ref].Kind != sysargs.DirFD {
					t.Errorf("%s %s: path %s relative to a %v", s.ABI(), name, p.Name, s.Params[p.Ref].Kind)
				}
			}
			if !found {
				t.Errorf("%s %s: no Path parameter", s.ABI(), name)
			}
			if atCalls[name] {
				if s.Find(sysargs.DirFD) < 0 {
					t.Errorf("%s %s: no DirFD", s.ABI(), name)
				}
			}
		}
		for name, k := range addrs {
			if _, exists := sysnames.Number(arch, name); !exists {
				continue
			}
			s, ok := sysargs.LookupName(arch, name)
			if !ok || s.Find(k) < 0 {
				t.Errorf("%s %s: no %v parameter", sysnames.ArchName(arch), name, k)
			}
		}
	}
	if seen < 300 {
		t.Errorf("only %d calls checked", seen)
	}
}
