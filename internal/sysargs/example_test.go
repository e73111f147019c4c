package sysargs_test

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysargs"
)

// Decode an mmap call from its six registers, without target memory (its
// arguments are all in registers).
func ExampleDecode() {
	args := [6]uint64{0, 4096, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS, 0xffffffff, 0}
	c := sysargs.Decode(unix.AUDIT_ARCH_X86_64, unix.SYS_MMAP, args, nil)
	fmt.Println(c.String())
	// Output: mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
}

// Find which argument of a call is a path and which directory it is
// relative to, on another ABI (i386's openat is number 295).
func ExampleLookup() {
	s, _ := sysargs.Lookup(unix.AUDIT_ARCH_I386, 295)
	i := s.Find(sysargs.Path)
	p := s.Params[i]
	fmt.Println(s.Name, p.Name, "in register", p.Reg, "relative to", s.Params[p.Ref].Name)
	// Output: openat filename in register 1 relative to dfd
}

// Values are named per ABI: mips numbers MAP_ANONYMOUS and SIGCHLD
// differently from x86_64.
func ExampleFormat() {
	fmt.Println(sysargs.Format(unix.AUDIT_ARCH_X86_64, sysargs.MmapFlags, 0x22))
	fmt.Println(sysargs.Format(unix.AUDIT_ARCH_MIPS, sysargs.MmapFlags, 0x802))
	fmt.Println(sysargs.Format(unix.AUDIT_ARCH_MIPS, sysargs.Signal, 18))
	// Output:
	// MAP_PRIVATE|MAP_ANONYMOUS
	// MAP_PRIVATE|MAP_ANONYMOUS
	// SIGCHLD
}
