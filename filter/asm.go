package filter

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// maxInsns is the kernel's limit on the length of a program (BPF_MAXINSNS).
const maxInsns = 4096

// label names a position in a program under construction. Conditional
// jumps in classic BPF reach at most 255 instructions ahead; the assembler
// adds unconditional jumps (which reach anywhere ahead) where a target is
// farther.
type label int

// item is an instruction, or (lbl != 0) the definition of a label at the
// position of the next instruction.
type item struct {
	code   uint16
	k      uint32
	jt, jf label // conditional jumps
	ja     label // BPF_JA
	lbl    label
}

type asm struct {
	items  []item
	labels int
}

func (a *asm) newLabel() label {
	a.labels++
	return label(a.labels)
}

func (a *asm) bind(l label) { a.items = append(a.items, item{lbl: l}) }

func (a *asm) ld(off uint32) {
	a.items = append(a.items, item{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: off})
}

func (a *asm) and(k uint32) {
	a.items = append(a.items, item{code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, k: k})
}

func (a *asm) ret(act Action) {
	a.items = append(a.items, item{code: unix.BPF_RET | unix.BPF_K, k: uint32(act)})
}

// ja emits an unconditional jump to l.
func (a *asm) ja(l label) {
	a.items = append(a.items, item{code: unix.BPF_JMP | unix.BPF_JA, ja: l})
}

// jmp emits a conditional jump (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET);
// label 0 means the next instruction.
func (a *asm) jmp(op uint16, k uint32, jt, jf label) {
	if jt == 0 || jf == 0 {
		next := a.newLabel()
		if jt == 0 {
			jt = next
		}
		if jf == 0 {
			jf = next
		}
		a.items = append(a.items, item{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf})
		a.bind(next)
		return
	}
	a.items = append(a.items, item{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf})
}

func isCond(it item) bool {
	return it.lbl == 0 && it.code&0x07 == unix.BPF_JMP && it.code&0xf0 != unix.BPF_JA
}

func isJA(it item) bool {
	return it.lbl == 0 && it.code == unix.BPF_JMP|unix.BPF_JA
}

// link resolves labels, inserting unconditional jumps for conditional
// jumps whose target is too far, and returns the program.
func (a *asm) link() ([]bpf.RawInstruction, error) {
	items := a.items
	pos := make([]int, a.labels+1)
	for {
		pc := 0
		for _, it := range items {
			if it.lbl != 0 {
				pos[it.lbl] = pc
				continue
			}
			pc++
		}
		if pc > maxInsns*4 {
			return nil, fmt.Errorf("filter: program too long (%d instructions, the kernel takes %d)", pc, maxInsns)
		}
		var out []item
		pc = 0
		for i, it := range items {
			if it.lbl != 0 {
				if out != nil {
					out = append(out, it)
				}
				continue
			}
			if isCond(it) && (pos[it.jt]-pc-1 > 255 || pos[it.jf]-pc-1 > 255) {
				if out == nil {
					out = append(make([]item, 0, len(items)+16), items[:i]...)
				}
				var tramp []item
				if pos[it.jt]-pc-1 > 255 {
					l := a.newLabel()
					tramp = append(tramp, item{lbl: l}, item{code: unix.BPF_JMP | unix.BPF_JA, ja: it.jt})
					it.jt = l
				}
				if pos[it.jf]-pc-1 > 255 {
					l := a.newLabel()
					tramp = append(tramp, item{lbl: l}, item{code: unix.BPF_JMP | unix.BPF_JA, ja: it.jf})
					it.jf = l
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
		pos = append(pos, make([]int, a.labels+1-len(pos))...)
	}

	var prog []bpf.RawInstruction
	for _, it := range items {
		if it.lbl != 0 {
			continue
		}
		pc := len(prog)
		ins := bpf.RawInstruction{Op: it.code, K: it.k}
		switch {
		case isCond(it):
			jt, jf := pos[it.jt]-pc-1, pos[it.jf]-pc-1
			if jt < 0 || jf < 0 || jt > 255 || jf > 255 {
				return nil, fmt.Errorf("filter: internal error: jump out of range at %d", pc)
			}
			ins.Jt, ins.Jf = uint8(jt), uint8(jf)
		case isJA(it):
			off := pos[it.ja] - pc - 1
			if off < 0 {
				return nil, fmt.Errorf("filter: internal error: backward jump at %d", pc)
			}
			ins.K = uint32(off)
		}
		prog = append(prog, ins)
	}
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("filter: program too long (%d instructions, the kernel takes %d)", len(prog), maxInsns)
	}
	return prog, nil
}
