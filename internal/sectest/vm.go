package sectest

import (
	"testing"

	"golang.org/x/net/bpf"

	"github.com/seccompstream/seccompstream/internal/cbpf"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// Data is struct seccomp_data, as the kernel fills it in for a program.
type Data = cbpf.Data

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

// VM runs a seccomp program in x/net/bpf's VM (cbpf.VM), to check its
// decisions without a kernel.
type VM struct{ m *cbpf.VM }

// NewVM loads prog, a program for a little-endian (le) or big-endian ABI.
// It fails the test if x/net/bpf refuses the program.
func NewVM(t testing.TB, prog []bpf.RawInstruction, le bool) *VM {
	t.Helper()
	m, err := cbpf.NewVM(prog, le)
	if err != nil {
		t.Fatalf("%v:\n%s", err, cbpf.Disassemble(prog))
	}
	return &VM{m}
}

// Run returns the program's result for d (for seccomp, the action).
func (m *VM) Run(t testing.TB, d Data) uint32 {
	t.Helper()
	r, err := m.m.Run(d)
	if err != nil {
		t.Fatalf("VM: %v", err)
	}
	return r
}
