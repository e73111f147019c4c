package sysargs_test

import (
	"testing"

	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// FuzzDecode decodes arbitrary calls of every ABI with arbitrary registers
// over an arbitrary memory image (mapped at 0x1000): Decode must not panic,
// must describe each parameter, and must render the same text twice.
func FuzzDecode(f *testing.F) {
	for _, seed := range []struct {
		arch uint8
		nr   int32
		a    [6]uint64
		mem  []byte
	}{
		{0, 257, [6]uint64{0xffffff9c, 0x1000, 0x80000, 0}, []byte("/etc/passwd\x00")},
		{0, 59, [6]uint64{0x1000, 0x1008, 0}, []byte("/bin/sh\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
		{0, 42, [6]uint64{3, 0x1000, 16}, []byte("\x02\x00\x00\x50\x7f\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")},
		{0, 437, [6]uint64{0xffffff9c, 0x1000, 0x1000, 24}, []byte("a\x00\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
		{2, 102, [6]uint64{3, 0x1000}, []byte("\x03\x00\x00\x00\x10\x10\x00\x00\x10\x00\x00\x00\x02\x00\x00\x50\x7f\x00\x00\x01")},
		{2, 90, [6]uint64{0x1000}, make([]byte, 24)},
		{0, 46, [6]uint64{3, 0x1000, 0}, make([]byte, 56)},
		{0, 435, [6]uint64{0x1000, 88}, make([]byte, 88)},
		{0, 72, [6]uint64{3, 4, 0x800}, nil},
		{0, 0x40000000 | 520, [6]uint64{0x1000, 0x1000, 0x1000}, []byte("\x00\x10\x00\x00\x00\x00\x00\x00")},
	} {
		f.Add(seed.arch, seed.nr, seed.a[0], seed.a[1], seed.a[2], seed.a[3], seed.a[4], seed.a[5], seed.mem)
	}
	arches := sysnames.Arches()
	f.Fuzz(func(t *testing.T, arch uint8, nr int32, a0, a1, a2, a3, a4, a5 uint64, mem []byte) {
		a := arches[int(arch)%len(arches)]
		args := [6]uint64{a0, a1, a2, a3, a4, a5}
		m := newMemory()
		if len(mem) > 0 {
			m.put(0x1000, mem)
		}
		c := sysargs.Decode(a, nr, args, m)
		if c.Described && len(c.Args) != len(c.Params) {
			t.Fatalf("%d args for %d params", len(c.Args), len(c.Params))
		}
		s := c.String()
		if again := sysargs.Decode(a, nr, args, m); again.String() != s {
			t.Fatalf("decoded twice differently:\n%s\n%s", s, again.String())
		}
		if m.reads > 4*sysargs.ArrayMax+200 {
			t.Fatalf("%d reads of target memory for one call", m.reads)
		}
	})
}
