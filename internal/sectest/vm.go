package sectest

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/seccompstream/seccompstream/internal/cbpf"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// Data is struct seccomp_data, as the kernel fills it in for a program.
type Data struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

// Number returns the number of the system call name on arch, failing the
// test if arch has no such call.
func Number(t testing.TB, arch uint32, name string) int32 {
	t.Helper()
	n, ok := sysnames.Number(arch, name)
	if !ok {
		t.Fatalf("no system call %s on %s", name, sysnames.ArchName(arch))
	}
	return n
}

// VM runs a seccomp program in x/net/bpf's VM, to check its decisions
// without a kernel. The VM loads words big-endian while the kernel loads
// them in its own byte order, so Run stores each 32-bit word of
// seccomp_data big-endian at the offset where the kernel would find it.
type VM struct {
	v  *bpf.VM
	le bool
}

// NewVM loads prog, a program for a little-endian (le) or big-endian ABI.
// It fails the test if x/net/bpf refuses the program.
func NewVM(t testing.TB, prog []bpf.RawInstruction, le bool) *VM {
	t.Helper()
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatalf("program has instructions x/net/bpf cannot decode:\n%s", cbpf.Disassemble(prog))
	}
	v, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatalf("bpf.NewVM: %v\n%s", err, cbpf.Disassemble(prog))
	}
	return &VM{v, le}
}

// Run returns the program's result for d (for seccomp, the action).
func (m *VM) Run(t testing.TB, d Data) uint32 {
	t.Helper()
	var b [64]byte
	be := binary.BigEndian
	be.PutUint32(b[cbpf.OffNr:], uint32(d.Nr))
	be.PutUint32(b[cbpf.OffArch:], d.Arch)
	put64 := func(off int, v uint64) {
		lo, hi := off, off+4
		if !m.le {
			lo, hi = hi, lo
		}
		be.PutUint32(b[lo:], uint32(v))
		be.PutUint32(b[hi:], uint32(v>>32))
	}
	put64(cbpf.OffIP, d.IP)
	for i, a := range d.Args {
		put64(cbpf.OffArgs+8*i, a)
	}
	r, err := m.v.Run(b[:])
	if err != nil {
		t.Fatalf("VM: %v", err)
	}
	return uint32(r)
}
