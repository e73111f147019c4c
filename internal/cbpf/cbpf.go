// Package cbpf is the module's one assembler of classic BPF programs, the
// dialect seccomp filters are written in. Jumps name their targets by
// Label; Assemble resolves the labels into the 8-bit (conditional) and
// 32-bit (unconditional) forward offsets of classic BPF, and where a
// conditional jump's target lies more than 255 instructions ahead it
// inserts an unconditional jump (a trampoline) that reaches it. Nobody
// counts offsets by hand.
//
//	var a cbpf.Assembler
//	other := a.NewLabel()
//	a.LoadAbs(cbpf.OffArch)
//	a.JumpIf(bpf.JumpNotEqual, unix.AUDIT_ARCH_X86_64, other, cbpf.Next)
//	a.Ret(unix.SECCOMP_RET_ALLOW)
//	a.Bind(other)
//	a.Ret(unix.SECCOMP_RET_KILL_PROCESS)
//	prog, err := a.Assemble()
//
// Disassemble prints a program with absolute jump targets and seccomp's
// names for offsets and return values, for tests and error messages;
// Marshal and Unmarshal convert it to and from the kernel's array of
// struct sock_filter.
//
// The package is pure (no system calls). Its errors carry no package
// prefix: the caller's error adds its own.
package cbpf

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// MaxInstructions is the kernel's limit on the length of a program
// (BPF_MAXINSNS).
const MaxInstructions = 4096

// Offsets of the fields of struct seccomp_data, for LoadAbs. A 64-bit
// field's halves are at off (low) and off+4 (high) on little-endian
// machines, the other way round on big-endian ones.
const (
	OffNr   = 0  // int nr
	OffArch = 4  // __u32 arch
	OffIP   = 8  // __u64 instruction_pointer
	OffArgs = 16 // __u64 args[6]
)

// A Label names a position in a program under construction; get one from
// NewLabel and place it with Bind. Jumps go forward only, so a label must
// be bound after the jumps that name it. The zero Label, Next, is the
// instruction right after the jump.
type Label struct{ id int }

// Next is the zero Label: the instruction that follows the jump.
var Next Label

// item is an instruction, or (lbl != 0) the definition of a label at the
// position of the next instruction.
type item struct {
	code   uint16
	k      uint32
	jt, jf int // conditional jumps: label ids
	ja     int // BPF_JA: label id
	lbl    int
}

// Assembler builds one program. The zero value is ready to use. Mistakes
// in its use (a label bound twice, a jump to a label never bound or bound
// before the jump) are reported by Assemble.
type Assembler struct {
	items  []item
	labels int // ids handed out
	insns  int // instructions emitted, not counting trampolines
	bound  map[int]bool
	err    error
}

// NewLabel returns a new, unbound label.
func (a *Assembler) NewLabel() Label {
	a.labels++
	return Label{a.labels}
}

// Bind places l at the position of the next instruction emitted.
func (a *Assembler) Bind(l Label) {
	if l.id == 0 || l.id > a.labels {
		a.fail(fmt.Errorf("binding a label that NewLabel did not return (%d)", l.id))
		return
	}
	if a.bound == nil {
		a.bound = make(map[int]bool)
	}
	if a.bound[l.id] {
		a.fail(fmt.Errorf("label %d bound twice", l.id))
		return
	}
	a.bound[l.id] = true
	a.items = append(a.items, item{lbl: l.id})
}

func (a *Assembler) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

func (a *Assembler) emit(it item) {
	a.items = append(a.items, it)
	a.insns++
}

// Len returns the number of instructions emitted so far, not counting the
// trampolines Assemble may add.
func (a *Assembler) Len() int { return a.insns }

// LoadAbs loads the 32-bit word at offset off of the input (seccomp_data)
// into A: "ld [off]".
func (a *Assembler) LoadAbs(off uint32) {
	a.emit(item{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: off})
}

// LoadConst sets A to k: "ld #k".
func (a *Assembler) LoadConst(k uint32) {
	a.emit(item{code: unix.BPF_LD | unix.BPF_IMM, k: k})
}

// LoadXConst sets X to k: "ldx #k".
func (a *Assembler) LoadXConst(k uint32) {
	a.emit(item{code: unix.BPF_LDX | unix.BPF_IMM, k: k})
}

// And sets A to A & k.
func (a *Assembler) And(k uint32) {
	a.emit(item{code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, k: k})
}

// Ret ends the program with the value k (for seccomp, a SECCOMP_RET_*
// action and its data).
func (a *Assembler) Ret(k uint32) {
	a.emit(item{code: unix.BPF_RET | unix.BPF_K, k: k})
}

// Jump jumps to l, however far ahead: "ja l".
func (a *Assembler) Jump(l Label) {
	if l.id == 0 {
		a.fail(errors.New("unconditional jump to Next"))
		return
	}
	a.emit(item{code: unix.BPF_JMP | unix.BPF_JA, ja: l.id})
}

// jumpOps gives each bpf.JumpTest its classic BPF jump and whether the
// targets are swapped (for the tests classic BPF has only the opposite of).
var jumpOps = [...]struct {
	code uint16
	swap bool
}{
	bpf.JumpEqual:          {unix.BPF_JEQ, false},
	bpf.JumpNotEqual:       {unix.BPF_JEQ, true},
	bpf.JumpGreaterThan:    {unix.BPF_JGT, false},
	bpf.JumpLessOrEqual:    {unix.BPF_JGT, true},
	bpf.JumpGreaterOrEqual: {unix.BPF_JGE, false},
	bpf.JumpLessThan:       {unix.BPF_JGE, true},
	bpf.JumpBitsSet:        {unix.BPF_JSET, false},
	bpf.JumpBitsNotSet:     {unix.BPF_JSET, true},
}

// JumpIf compares A with k and jumps to jt when the test holds, to jf
// otherwise; Next (the zero Label) for either is the next instruction.
// Every bpf.JumpTest is accepted: those classic BPF lacks (not equal,
// less than, ...) are their opposite with the targets swapped.
func (a *Assembler) JumpIf(test bpf.JumpTest, k uint32, jt, jf Label) {
	if int(test) >= len(jumpOps) {
		a.fail(fmt.Errorf("unknown jump test %d", test))
		return
	}
	op := jumpOps[test]
	if op.swap {
		jt, jf = jf, jt
	}
	var next Label
	if jt.id == 0 || jf.id == 0 {
		next = a.NewLabel()
		if jt.id == 0 {
			jt = next
		}
		if jf.id == 0 {
			jf = next
		}
	}
	a.emit(item{code: unix.BPF_JMP | op.code | unix.BPF_K, k: k, jt: jt.id, jf: jf.id})
	if next.id != 0 {
		a.Bind(next)
	}
}

func isCond(it item) bool {
	return it.lbl == 0 && it.code&0x07 == unix.BPF_JMP && it.code&0xf0 != unix.BPF_JA
}

func isJA(it item) bool {
	return it.lbl == 0 && it.code == unix.BPF_JMP|unix.BPF_JA
}

// Assemble resolves the labels and returns the program. It inserts an
// unconditional jump after a conditional one whose target is more than
// 255 instructions ahead. It fails on a program longer than
// MaxInstructions, on a jump backwards or to a label never bound, and on
// the mistakes described at Assembler.
func (a *Assembler) Assemble() ([]bpf.RawInstruction, error) {
	if a.err != nil {
		return nil, a.err
	}
	for _, it := range a.items {
		for _, id := range [...]int{it.jt, it.jf, it.ja} {
			if id != 0 && !a.bound[id] {
				return nil, fmt.Errorf("jump to label %d, which is never bound", id)
			}
		}
	}
	items := a.items
	labels := a.labels
	pos := make([]int, labels+1)
	for {
		pc := 0
		for _, it := range items {
			if it.lbl != 0 {
				pos[it.lbl] = pc
				continue
			}
			pc++
		}
		if pc > 4*MaxInstructions {
			return nil, tooLong(pc)
		}
		// Give every conditional jump that is too far its trampolines,
		// then compute the positions again (the insertions move
		// targets): a fixed point, since jumps only get longer.
		var out []item
		pc = 0
		for i, it := range items {
			if it.lbl != 0 {
				if out != nil {
					out = append(out, it)
				}
				continue
			}
			far := func(id int) bool { return pos[id]-pc-1 > 255 }
			if isCond(it) && (far(it.jt) || far(it.jf)) {
				if out == nil {
					out = append(make([]item, 0, len(items)+16), items[:i]...)
				}
				var tramp []item
				if far(it.jt) {
					labels++
					tramp = append(tramp, item{lbl: labels}, item{code: unix.BPF_JMP | unix.BPF_JA, ja: it.jt})
					it.jt = labels
				}
				if far(it.jf) {
					labels++
					tramp = append(tramp, item{lbl: labels}, item{code: unix.BPF_JMP | unix.BPF_JA, ja: it.jf})
					it.jf = labels
				}
				out = append(out, it)
				out = append(out, tramp...)
			} else if out != nil {
				out = append(out, it)
			}
			pc++
		}
		if out == nil {
			break
		}
		items = out
		pos = append(pos, make([]int, labels+1-len(pos))...)
	}

	prog := make([]bpf.RawInstruction, 0, a.insns)
	for _, it := range items {
		if it.lbl != 0 {
			continue
		}
		pc := len(prog)
		ins := bpf.RawInstruction{Op: it.code, K: it.k}
		switch {
		case isCond(it):
			jt, jf := pos[it.jt]-pc-1, pos[it.jf]-pc-1
			if jt < 0 || jf < 0 {
				return nil, fmt.Errorf("backward jump at instruction %d (to %d or %d)", pc, pos[it.jt], pos[it.jf])
			}
			if jt > 255 || jf > 255 {
				return nil, fmt.Errorf("internal error: jump out of range at instruction %d", pc)
			}
			ins.Jt, ins.Jf = uint8(jt), uint8(jf)
		case isJA(it):
			off := pos[it.ja] - pc - 1
			if off < 0 {
				return nil, fmt.Errorf("backward jump at instruction %d (to %d)", pc, pos[it.ja])
			}
			ins.K = uint32(off)
		}
		prog = append(prog, ins)
	}
	if len(prog) > MaxInstructions {
		return nil, tooLong(len(prog))
	}
	return prog, nil
}

func tooLong(n int) error {
	return fmt.Errorf("program too long (%d instructions, the kernel takes %d)", n, MaxInstructions)
}
