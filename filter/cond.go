package filter

import "fmt"

// ArgRef names one argument of a system call (0..5), for conditions. Get one
// from Arg.
type ArgRef struct {
	index int
}

// Arg returns a reference to argument i (0..5) of the call. An index out of
// range is reported by AddIf.
func Arg(i int) ArgRef { return ArgRef{i} }

// Cond is a condition on one argument of a system call. Values are compared
// as unsigned 64-bit numbers, both 32-bit halves, as the kernel reports
// them in seccomp_data (a register holding a negative int, such as
// AT_FDCWD, may be sign-extended by the caller: compare against
// uint64(int64(-100)) then). On 32-bit ABIs (i386, arm, mips, ppc) the
// kernel reports 32-bit arguments and, as in libseccomp, only the low 32
// bits of the argument and of v (and of the mask) are compared.
type Cond struct {
	arg  int
	op   op
	mask uint64 // MaskedEq only
	val  uint64
}

type op uint8

const (
	opEq op = iota + 1
	opNe
	opLt
	opLe
	opGt
	opGe
	opMaskedEq
)

var opNames = [...]string{opEq: "==", opNe: "!=", opLt: "<", opLe: "<=", opGt: ">", opGe: ">="}

// Eq holds when the argument equals v.
func (r ArgRef) Eq(v uint64) Cond { return Cond{arg: r.index, op: opEq, val: v} }

// Ne holds when the argument differs from v.
func (r ArgRef) Ne(v uint64) Cond { return Cond{arg: r.index, op: opNe, val: v} }

// Lt holds when the argument is less than v.
func (r ArgRef) Lt(v uint64) Cond { return Cond{arg: r.index, op: opLt, val: v} }

// Le holds when the argument is less than or equal to v.
func (r ArgRef) Le(v uint64) Cond { return Cond{arg: r.index, op: opLe, val: v} }

// Gt holds when the argument is greater than v.
func (r ArgRef) Gt(v uint64) Cond { return Cond{arg: r.index, op: opGt, val: v} }

// Ge holds when the argument is greater than or equal to v.
func (r ArgRef) Ge(v uint64) Cond { return Cond{arg: r.index, op: opGe, val: v} }

// MaskedEq holds when the argument's bits in mask equal v: arg&mask == v.
// (If v has bits outside mask, it never holds.)
func (r ArgRef) MaskedEq(mask, v uint64) Cond {
	return Cond{arg: r.index, op: opMaskedEq, mask: mask, val: v}
}

// String returns the condition as "arg1 == 0x2" or "arg0 & 0xff == 0x1".
func (c Cond) String() string {
	if c.op == opMaskedEq {
		return fmt.Sprintf("arg%d & %#x == %#x", c.arg, c.mask, c.val)
	}
	if int(c.op) < len(opNames) && opNames[c.op] != "" {
		return fmt.Sprintf("arg%d %s %#x", c.arg, opNames[c.op], c.val)
	}
	return fmt.Sprintf("arg%d ?(%d) %#x", c.arg, c.op, c.val)
}

func (c Cond) valid() error {
	if c.arg < 0 || c.arg > 5 {
		return fmt.Errorf("filter: argument index %d out of range (0..5) in %v", c.arg, c)
	}
	if c.op < opEq || c.op > opMaskedEq {
		return fmt.Errorf("filter: invalid condition %v (use Arg(i).Eq and friends)", c)
	}
	return nil
}
