package cbpf_test

import (
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/cbpf"
)

// TestVM: the VM sees seccomp_data as the kernel lays it out, on either
// byte order: the number, the arch, and both halves of an argument.
func TestVM(t *testing.T) {
	for _, le := range []bool{true, false} {
		hi, lo := uint32(cbpf.OffArgs+8), uint32(cbpf.OffArgs+12) // arg1 on big-endian
		if le {
			hi, lo = lo, hi
		}
		var a cbpf.Assembler
		deny := a.NewLabel()
		a.LoadAbs(cbpf.OffArch)
		a.JumpIf(bpf.JumpNotEqual, unix.AUDIT_ARCH_X86_64, deny, cbpf.Next)
		a.LoadAbs(cbpf.OffNr)
		a.JumpIf(bpf.JumpNotEqual, 2, deny, cbpf.Next)
		a.LoadAbs(hi)
		a.JumpIf(bpf.JumpNotEqual, 0x12345678, deny, cbpf.Next)
		a.LoadAbs(lo)
		a.JumpIf(bpf.JumpNotEqual, 0x9abcdef0, deny, cbpf.Next)
		a.Ret(unix.SECCOMP_RET_ALLOW)
		a.Bind(deny)
		a.Ret(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
		prog, err := a.Assemble()
		if err != nil {
			t.Fatal(err)
		}
		vm, err := cbpf.NewVM(prog, le)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			d    cbpf.Data
			want uint32
		}{
			{cbpf.Data{Nr: 2, Arch: unix.AUDIT_ARCH_X86_64, Args: [6]uint64{0, 0x123456789abcdef0}}, unix.SECCOMP_RET_ALLOW},
			{cbpf.Data{Nr: 2, Arch: unix.AUDIT_ARCH_X86_64, Args: [6]uint64{0, 0x9abcdef012345678}}, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
			{cbpf.Data{Nr: 3, Arch: unix.AUDIT_ARCH_X86_64, Args: [6]uint64{0, 0x123456789abcdef0}}, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
			{cbpf.Data{Nr: 2, Arch: unix.AUDIT_ARCH_I386, Args: [6]uint64{0, 0x123456789abcdef0}}, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		} {
			if got, err := vm.Run(tc.d); err != nil || got != tc.want {
				t.Errorf("le=%v: Run(%+v) = %#x, %v; want %#x", le, tc.d, got, err, tc.want)
			}
		}
	}
	if _, err := cbpf.NewVM([]bpf.RawInstruction{{Op: 0xffff}}, true); err == nil {
		t.Error("NewVM took an instruction x/net/bpf cannot decode")
	}
}
