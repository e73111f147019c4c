package cbpf_test

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/cbpf"
)

// run runs prog in x/net/bpf's VM on a packet whose first word is a (the
// VM loads big-endian) and returns the program's result.
func run(t *testing.T, prog []bpf.RawInstruction, a uint32) uint32 {
	t.Helper()
	insns := make([]bpf.Instruction, len(prog))
	for i, r := range prog {
		insns[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatalf("x/net/bpf refuses the program: %v\n%s", err, cbpf.Disassemble(prog))
	}
	pkt := binary.BigEndian.AppendUint32(make([]byte, 0, 64), a)
	pkt = append(pkt, make([]byte, 60)...)
	n, err := vm.Run(pkt)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(n)
}

func assemble(t *testing.T, a *cbpf.Assembler) []bpf.RawInstruction {
	t.Helper()
	prog, err := a.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// TestJumpTests checks every jump test against Go's comparison, with
// either target being Next.
func TestJumpTests(t *testing.T) {
	tests := []struct {
		test bpf.JumpTest
		fn   func(a, k uint32) bool
	}{
		{bpf.JumpEqual, func(a, k uint32) bool { return a == k }},
		{bpf.JumpNotEqual, func(a, k uint32) bool { return a != k }},
		{bpf.JumpGreaterThan, func(a, k uint32) bool { return a > k }},
		{bpf.JumpLessOrEqual, func(a, k uint32) bool { return a <= k }},
		{bpf.JumpGreaterOrEqual, func(a, k uint32) bool { return a >= k }},
		{bpf.JumpLessThan, func(a, k uint32) bool { return a < k }},
		{bpf.JumpBitsSet, func(a, k uint32) bool { return a&k != 0 }},
		{bpf.JumpBitsNotSet, func(a, k uint32) bool { return a&k == 0 }},
	}
	const k = 0x80
	for _, tc := range tests {
		for _, shape := range []string{"both", "true-next", "false-next"} {
			var a cbpf.Assembler
			yes, no := a.NewLabel(), a.NewLabel()
			a.LoadAbs(0)
			switch shape {
			case "both":
				a.JumpIf(tc.test, k, yes, no)
				a.Ret(99) // never reached
			case "true-next":
				a.JumpIf(tc.test, k, cbpf.Next, no)
				a.Jump(yes)
			case "false-next":
				a.JumpIf(tc.test, k, yes, cbpf.Next)
				a.Jump(no)
			}
			a.Bind(no)
			a.Ret(0)
			a.Bind(yes)
			a.Ret(1)
			prog := assemble(t, &a)
			for _, v := range []uint32{0, 1, 0x7f, 0x80, 0x81, 0x180, 0xffffffff} {
				want := uint32(0)
				if tc.fn(v, k) {
					want = 1
				}
				if got := run(t, prog, v); got != want {
					t.Errorf("test %v (%s) with A=%#x: %d, want %d\n%s", tc.test, shape, v, got, want, cbpf.Disassemble(prog))
				}
			}
		}
	}
}

// TestTrampolines puts targets more than 255 instructions away from
// conditional jumps: Assemble adds unconditional jumps, and the program
// still decides right.
func TestTrampolines(t *testing.T) {
	for _, gap := range []int{254, 255, 256, 300, 1000} {
		var a cbpf.Assembler
		far, near := a.NewLabel(), a.NewLabel()
		a.LoadAbs(0)
		a.JumpIf(bpf.JumpEqual, 7, far, cbpf.Next)
		a.JumpIf(bpf.JumpEqual, 8, near, far)
		a.Bind(near)
		for range gap {
			a.LoadConst(0)
		}
		a.Ret(2)
		a.Bind(far)
		a.Ret(1)
		if a.Len() != gap+5 {
			t.Errorf("Len = %d, want %d", a.Len(), gap+5)
		}
		prog := assemble(t, &a)
		jas := 0
		for _, ins := range prog {
			if ins.Op == unix.BPF_JMP|unix.BPF_JA {
				jas++
			}
		}
		wantJA := 0
		if gap+2 > 255 { // from the first jump: gap + 1 jump + 1 ret
			wantJA++
		}
		if gap+1 > 255 {
			wantJA++
		}
		if jas != wantJA {
			t.Errorf("gap %d: %d trampolines, want %d\n%s", gap, jas, wantJA, cbpf.Disassemble(prog))
		}
		for v, want := range map[uint32]uint32{7: 1, 8: 2, 9: 1} {
			if got := run(t, prog, v); got != want {
				t.Errorf("gap %d, A=%d: %d, want %d", gap, v, got, want)
			}
		}
	}
}

// TestTrampolineChain makes every conditional jump of a long program far,
// so that trampolines move each other's targets.
func TestTrampolineChain(t *testing.T) {
	var a cbpf.Assembler
	const n = 40
	rets := make([]cbpf.Label, n)
	a.LoadAbs(0)
	for i := range rets {
		rets[i] = a.NewLabel()
		a.JumpIf(bpf.JumpEqual, uint32(i), rets[i], cbpf.Next)
	}
	a.Ret(1000)
	for i := range rets {
		for range 10 {
			a.LoadXConst(0)
		}
		a.Bind(rets[i])
		a.Ret(uint32(i))
	}
	prog := assemble(t, &a)
	for i := range uint32(n + 1) {
		want := i
		if i == n {
			want = 1000
		}
		if got := run(t, prog, i); got != want {
			t.Fatalf("A=%d: %d, want %d", i, got, want)
		}
	}
}

func TestAssembleErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(a *cbpf.Assembler)
		want  string
	}{
		{"backward", func(a *cbpf.Assembler) {
			l := a.NewLabel()
			a.Bind(l)
			a.LoadAbs(0)
			a.JumpIf(bpf.JumpEqual, 1, l, cbpf.Next)
			a.Ret(0)
		}, "backward jump"},
		{"backward ja", func(a *cbpf.Assembler) {
			l := a.NewLabel()
			a.Bind(l)
			a.Jump(l)
		}, "backward jump"},
		{"unbound", func(a *cbpf.Assembler) {
			a.Jump(a.NewLabel())
		}, "never bound"},
		{"bound twice", func(a *cbpf.Assembler) {
			l := a.NewLabel()
			a.Bind(l)
			a.Ret(0)
			a.Bind(l)
			a.Ret(1)
		}, "bound twice"},
		{"foreign label", func(a *cbpf.Assembler) {
			var b cbpf.Assembler
			b.NewLabel()
			a.Bind(b.NewLabel())
		}, "did not return"},
		{"ja next", func(a *cbpf.Assembler) {
			a.Jump(cbpf.Next)
		}, "Next"},
		{"bad test", func(a *cbpf.Assembler) {
			a.JumpIf(bpf.JumpTest(99), 0, cbpf.Next, cbpf.Next)
		}, "unknown jump test"},
		{"too long", func(a *cbpf.Assembler) {
			for range cbpf.MaxInstructions {
				a.LoadConst(0)
			}
			a.Ret(0)
		}, "program too long (4097 instructions, the kernel takes 4096)"},
	} {
		var a cbpf.Assembler
		tc.build(&a)
		if _, err := a.Assemble(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestDisassemble(t *testing.T) {
	var a cbpf.Assembler
	notify := a.NewLabel()
	a.LoadAbs(cbpf.OffArgs + 8 + 4)
	a.And(0xff)
	a.JumpIf(bpf.JumpBitsNotSet, 1, cbpf.Next, notify)
	a.LoadAbs(cbpf.OffIP)
	a.JumpIf(bpf.JumpGreaterOrEqual, 0x1000, cbpf.Next, notify)
	a.Ret(unix.SECCOMP_RET_ERRNO | 1)
	a.Bind(notify)
	a.Ret(unix.SECCOMP_RET_USER_NOTIF)
	prog := assemble(t, &a)
	prog = append(prog, bpf.RawInstruction{Op: 0xffff})
	const want = `  0: ld [28]                   ; args[1]+4
  1: and #255
  2: jset #0x1, 6, 3
  3: ld [8]                    ; instruction_pointer
  4: jge #0x1000, 5, 6
  5: ret #0x50001              ; ERRNO(1)
  6: ret #0x7fc00000           ; USER_NOTIF
  7: unknown op 0xffff jt 0 jf 0 k 0x0
`
	if got := cbpf.Disassemble(prog); got != want {
		t.Errorf("Disassemble:\n%s\nwant:\n%s", got, want)
	}
}

func TestMarshal(t *testing.T) {
	prog := []bpf.RawInstruction{
		{Op: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4},
		{Op: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 2, K: 0xc000003e},
		{Op: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		b := cbpf.Marshal(prog, bo.(binary.AppendByteOrder))
		if len(b) != 24 {
			t.Fatalf("%d bytes", len(b))
		}
		if bo.Uint16(b[8:]) != prog[1].Op || b[10] != 1 || b[11] != 2 || bo.Uint32(b[12:]) != 0xc000003e {
			t.Errorf("%v: layout % x", bo, b)
		}
		got, err := cbpf.Unmarshal(b, bo)
		if err != nil || !slices.Equal(got, prog) {
			t.Errorf("%v: Unmarshal = %v, %v", bo, got, err)
		}
	}
	for _, n := range []int{0, 7, 9, 8 * (cbpf.MaxInstructions + 1)} {
		if _, err := cbpf.Unmarshal(make([]byte, n), binary.LittleEndian); err == nil {
			t.Errorf("Unmarshal of %d bytes succeeded", n)
		}
	}
}
