package cbpf

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Disassemble returns prog as text, one instruction a line: its index,
// the instruction in x/net/bpf's syntax with jump targets as absolute
// indexes, and for seccomp programs a comment naming the seccomp_data
// field a load reads (little-endian layout) or the action a return gives.
//
//	0: ld [4]                    ; arch
//	1: jeq #0xc000003e, 3, 2
//	2: ret #0x80000000           ; KILL_PROCESS
//	3: ld [0]                    ; nr
func Disassemble(prog []bpf.RawInstruction) string {
	var b strings.Builder
	for pc, raw := range prog {
		text, note := instruction(pc, raw)
		line := fmt.Sprintf("%3d: %s", pc, text)
		if note != "" {
			line = fmt.Sprintf("%-30s ; %s", line, note)
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func instruction(pc int, raw bpf.RawInstruction) (text, note string) {
	target := func(skip uint32) string { return fmt.Sprint(pc + 1 + int(skip)) }
	switch ins := raw.Disassemble().(type) {
	case bpf.LoadAbsolute:
		return ins.String(), field(ins.Off, ins.Size)
	case bpf.Jump:
		return "ja " + target(ins.Skip), ""
	case bpf.RetConstant:
		return fmt.Sprintf("ret #%#x", ins.Val), Action(ins.Val)
	}
	// Conditional jumps: x/net/bpf rewrites them (jneq, jlt, ...), and
	// reading them is easier as the raw test with both targets.
	if raw.Op&0x07 == unix.BPF_JMP && raw.Op&unix.BPF_X == unix.BPF_K {
		var name string
		switch raw.Op & 0xf0 {
		case unix.BPF_JEQ:
			name = "jeq"
		case unix.BPF_JGT:
			name = "jgt"
		case unix.BPF_JGE:
			name = "jge"
		case unix.BPF_JSET:
			name = "jset"
		}
		if name != "" {
			return fmt.Sprintf("%s #%#x, %s, %s", name, raw.K, target(uint32(raw.Jt)), target(uint32(raw.Jf))), ""
		}
	}
	ins := raw.Disassemble()
	if s, ok := ins.(fmt.Stringer); ok {
		if _, unknown := ins.(bpf.RawInstruction); !unknown {
			return s.String(), ""
		}
	}
	return fmt.Sprintf("unknown op %#04x jt %d jf %d k %#x", raw.Op, raw.Jt, raw.Jf, raw.K), ""
}

// field names the seccomp_data word at off (little-endian layout).
func field(off uint32, size int) string {
	if size != 4 {
		return ""
	}
	switch {
	case off == OffNr:
		return "nr"
	case off == OffArch:
		return "arch"
	case off == OffIP:
		return "instruction_pointer"
	case off == OffIP+4:
		return "instruction_pointer+4"
	case off >= OffArgs && off < OffArgs+6*8:
		i, half := (off-OffArgs)/8, (off-OffArgs)%8
		if half == 0 {
			return fmt.Sprintf("args[%d]", i)
		}
		if half == 4 {
			return fmt.Sprintf("args[%d]+4", i)
		}
	}
	return ""
}

// Action names a seccomp return value: "ALLOW", "ERRNO(1)", "USER_NOTIF".
func Action(k uint32) string {
	data := k & unix.SECCOMP_RET_DATA
	switch k & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_KILL_PROCESS:
		return "KILL_PROCESS"
	case unix.SECCOMP_RET_KILL_THREAD:
		return "KILL_THREAD"
	case unix.SECCOMP_RET_TRAP:
		return fmt.Sprintf("TRAP(%d)", data)
	case unix.SECCOMP_RET_ERRNO:
		return fmt.Sprintf("ERRNO(%d)", data)
	case unix.SECCOMP_RET_USER_NOTIF:
		return "USER_NOTIF"
	case unix.SECCOMP_RET_TRACE:
		return fmt.Sprintf("TRACE(%d)", data)
	case unix.SECCOMP_RET_LOG:
		return "LOG"
	case unix.SECCOMP_RET_ALLOW:
		return "ALLOW"
	}
	return ""
}

// Marshal returns prog as the kernel's array of struct sock_filter (8
// bytes an instruction: code, jt, jf, k), in byte order bo.
func Marshal(prog []bpf.RawInstruction, bo binary.AppendByteOrder) []byte {
	b := make([]byte, 0, 8*len(prog))
	for _, ins := range prog {
		b = bo.AppendUint16(b, ins.Op)
		b = append(b, ins.Jt, ins.Jf)
		b = bo.AppendUint32(b, ins.K)
	}
	return b
}

// Unmarshal decodes what Marshal wrote with the same byte order: a whole
// number of instructions, 1 to MaxInstructions of them.
func Unmarshal(b []byte, bo binary.ByteOrder) ([]bpf.RawInstruction, error) {
	if len(b) == 0 || len(b)%8 != 0 || len(b)/8 > MaxInstructions {
		return nil, fmt.Errorf("%d bytes are not a program (want 8 per instruction, 1..%d instructions)", len(b), MaxInstructions)
	}
	prog := make([]bpf.RawInstruction, len(b)/8)
	for i := range prog {
		c := b[8*i:]
		prog[i] = bpf.RawInstruction{Op: bo.Uint16(c), Jt: c[2], Jf: c[3], K: bo.Uint32(c[4:])}
	}
	return prog, nil
}
