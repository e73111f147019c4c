package cbpf

import (
	"encoding/binary"
	"errors"

	"golang.org/x/net/bpf"
)

// Data is struct seccomp_data, what the kernel hands a seccomp program:
// the call number, the ABI (AUDIT_ARCH_*), the instruction pointer and the
// six argument registers.
type Data struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

// A VM runs a seccomp program on Data, without a kernel, to learn what the
// program decides (the SECCOMP_RET_* value with its data): for tests, and
// for a supervisor that needs the answer a filter would have given a call.
// It uses golang.org/x/net/bpf's interpreter, which loads words
// big-endian while the kernel loads them in the machine's order, so Run
// stores each 32-bit word of seccomp_data big-endian where the kernel
// would find it. A VM is safe for concurrent use.
type VM struct {
	vm *bpf.VM
	le bool
}

// NewVM loads prog, a program for a little-endian (le) or big-endian ABI.
func NewVM(prog []bpf.RawInstruction, le bool) (*VM, error) {
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		return nil, errors.New("program has instructions x/net/bpf cannot decode")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		return nil, err
	}
	return &VM{vm: vm, le: le}, nil
}

// Run returns the program's result for d.
func (m *VM) Run(d Data) (uint32, error) {
	var b [64]byte
	be := binary.BigEndian
	be.PutUint32(b[OffNr:], uint32(d.Nr))
	be.PutUint32(b[OffArch:], d.Arch)
	put64 := func(off int, v uint64) {
		lo, hi := off, off+4
		if !m.le {
			lo, hi = hi, lo
		}
		be.PutUint32(b[lo:], uint32(v))
		be.PutUint32(b[hi:], uint32(v>>32))
	}
	put64(OffIP, d.IP)
	for i, a := range d.Args {
		put64(OffArgs+8*i, a)
	}
	r, err := m.vm.Run(b[:])
	return uint32(r), err
}
