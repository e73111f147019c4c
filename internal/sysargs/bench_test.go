package sysargs_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysargs"
)

func BenchmarkLookup(b *testing.B) {
	for b.Loop() {
		sysargs.Lookup(unix.AUDIT_ARCH_X86_64, 257)
	}
}

// BenchmarkDecode decodes and renders an openat whose path is read from
// (fake) target memory, as a trace line does; the cost of the real read is
// Memory's.
func BenchmarkDecode(b *testing.B) {
	m := newMemory()
	path := m.putString(0x1000, "/usr/lib/x86_64-linux-gnu/libc.so.6")
	args := [6]uint64{0xffffff9c, path, unix.O_RDONLY | unix.O_CLOEXEC}
	b.ReportAllocs()
	for b.Loop() {
		c := sysargs.Decode(unix.AUDIT_ARCH_X86_64, 257, args, m)
		_ = c.String()
	}
}

// BenchmarkDecodeMmap decodes and renders a call of named flags only.
func BenchmarkDecodeMmap(b *testing.B) {
	args := [6]uint64{0, 4096, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS, ^uint64(0), 0}
	b.ReportAllocs()
	for b.Loop() {
		c := sysargs.Decode(unix.AUDIT_ARCH_X86_64, 9, args, nil)
		_ = c.String()
	}
}
