package filter

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"golang.org/x/net/bpf"

	"github.com/seccompstream/seccompstream/internal/cbpf"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// callRules is what the filter says about one call number on one arch.
type callRules struct {
	nr       uint32
	rules    []rule // conditional, strongest action first
	fallback Action // the unconditional rule's action, or the default
	key      string // equal for calls whose code is the same
}

// segment is a range of call numbers [lo, next segment's lo) that get one
// simple action, or (call != nil) a single call with conditional rules.
type segment struct {
	lo     uint32
	action Action
	call   *callRules
}

// Assemble returns the filter as a classic BPF program for
// seccomp(SECCOMP_SET_MODE_FILTER). bpf.RawInstruction has the layout of
// the kernel's struct sock_filter.
//
// The program checks the ABI, then finds the call number by binary search
// over ranges of numbers with the same decision, so its length grows with
// the number of distinct decisions, not with the number of rules, and the
// path of any call has about log2(ranges) jumps. Calls with identical
// conditional rules share their code. On x86_64, an unconditional rule
// for every call (385), with neighbours' actions differing, takes about 410
// instructions; a distinct 64-bit argument condition on every call about
// 2,000. The kernel's limit is 4096.
func (f *Filter) Assemble() ([]bpf.RawInstruction, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	native := f.arches[0]
	le := isLE(native)
	var a cbpf.Assembler
	a.LoadAbs(cbpf.OffArch)
	blocks := make([]cbpf.Label, len(f.arches))
	for i, arch := range f.arches {
		blocks[i] = a.NewLabel()
		a.JumpIf(bpf.JumpEqual, arch, blocks[i], cbpf.Next)
	}
	a.Ret(uint32(f.mismatch))
	for i, arch := range f.arches {
		a.Bind(blocks[i])
		a.LoadAbs(cbpf.OffNr)
		if arch == auditArchX86_64 {
			// x32: the call number carries __X32_SYSCALL_BIT. Refuse every
			// number from there up except -1 (which the kernel and ptrace
			// use for "no call", as libseccomp does).
			tree := a.NewLabel()
			a.JumpIf(bpf.JumpGreaterOrEqual, sysnames.X32Bit, cbpf.Next, tree)
			a.JumpIf(bpf.JumpEqual, 0xffffffff, tree, cbpf.Next)
			a.Ret(uint32(f.mismatch))
			a.Bind(tree)
		}
		e := emitter{a: &a, le: le, wide: is64(arch)}
		e.arch(f.segments(arch))
	}
	prog, err := a.Assemble()
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return prog, nil
}

// segments lists the decisions for arch as ranges covering all numbers.
func (f *Filter) segments(arch uint32) []segment {
	calls := make(map[uint32]*callRules)
	get := func(name string) *callRules {
		nr, ok := sysnames.Number(arch, name)
		if !ok {
			return nil // a name of another arch of the filter
		}
		c := calls[uint32(nr)]
		if c == nil {
			c = &callRules{nr: uint32(nr), fallback: f.def}
			calls[uint32(nr)] = c
		}
		return c
	}
	for name, act := range f.uncond {
		if c := get(name); c != nil {
			c.fallback = act
		}
	}
	for _, r := range f.rules {
		if c := get(r.name); c != nil {
			c.rules = append(c.rules, r)
		}
	}
	nrs := make([]uint32, 0, len(calls))
	for nr, c := range calls {
		// Strongest action first; rules added earlier first among equals.
		slices.SortStableFunc(c.rules, func(x, y rule) int {
			return cmp.Compare(x.action.strength(), y.action.strength())
		})
		// A trailing rule with the fallback's action decides nothing.
		for len(c.rules) > 0 && c.rules[len(c.rules)-1].action == c.fallback {
			c.rules = c.rules[:len(c.rules)-1]
		}
		c.key = c.blockKey()
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)

	var segs []segment
	add := func(s segment) {
		if n := len(segs); n > 0 && segs[n-1].lo == s.lo {
			segs = segs[:n-1] // an empty range
		}
		if n := len(segs); n > 0 && segs[n-1].same(s) {
			return // neighbours with the same decision share a range
		}
		segs = append(segs, s)
	}
	add(segment{lo: 0, action: f.def})
	for _, nr := range nrs {
		c := calls[nr]
		if len(c.rules) == 0 {
			add(segment{lo: nr, action: c.fallback})
		} else {
			add(segment{lo: nr, call: c})
		}
		if nr != ^uint32(0) {
			add(segment{lo: nr + 1, action: f.def})
		}
	}
	return segs
}

// blockKey describes the code of a call's rules, so that calls with the
// same rules share it.
func (c *callRules) blockKey() string {
	if len(c.rules) == 0 {
		return ""
	}
	le := binary.LittleEndian
	b := le.AppendUint32(make([]byte, 0, 64), uint32(c.fallback))
	for _, r := range c.rules {
		b = le.AppendUint32(b, uint32(r.action))
		b = append(b, byte(len(r.conds)))
		for _, cond := range r.conds {
			b = append(b, byte(cond.arg), byte(cond.op))
			b = le.AppendUint64(b, cond.mask)
			b = le.AppendUint64(b, cond.val)
		}
	}
	return string(b)
}

// same reports whether two segments make the same decision.
func (s segment) same(t segment) bool {
	if s.call == nil || t.call == nil {
		return s.call == nil && t.call == nil && s.action == t.action
	}
	return s.call.key == t.call.key
}

// emitter writes the code for one arch.
//
// Return instructions are pooled: code that decides an action jumps to a
// "ret" in the current island, one per action, which is placed after a
// stretch of code (jumps only go forward). A call whose only rule has one
// condition then costs its comparisons and nothing more, and a range with
// a plain action costs no instruction of its own.
type emitter struct {
	a        *cbpf.Assembler
	le, wide bool
	shared   map[string]cbpf.Label // blocks used by several ranges
	blocks   []*callRules          // shared blocks, in order of first use
	island   map[Action]cbpf.Label // rets not placed yet
	order    []Action              // island's actions, in order of first use
	since    int                   // a.Len() when the last island was placed
}

// islandSpan is how many instructions may go by before the island is
// placed, so that jumps to it stay short (conditional jumps reach 255
// instructions; farther ones cost a trampoline).
const islandSpan = 160

// ret returns the label of a "ret act" in the current island.
func (e *emitter) ret(act Action) cbpf.Label {
	if l, ok := e.island[act]; ok {
		return l
	}
	if e.island == nil {
		e.island = make(map[Action]cbpf.Label)
	}
	l := e.a.NewLabel()
	e.island[act] = l
	e.order = append(e.order, act)
	return l
}

// flush places the current island.
func (e *emitter) flush() {
	for _, act := range e.order {
		e.a.Bind(e.island[act])
		e.a.Ret(uint32(act))
	}
	clear(e.island)
	e.order = e.order[:0]
	e.since = e.a.Len()
}

// arch emits the lookup of the call number (in A) for one arch: a binary
// search over segs, then the blocks that several ranges share.
func (e *emitter) arch(segs []segment) {
	if len(segs) == 1 && segs[0].call == nil {
		e.a.Ret(uint32(segs[0].action)) // no rule for this arch
		return
	}
	uses := make(map[string]int)
	for _, s := range segs {
		if s.call != nil {
			uses[s.call.key]++
		}
	}
	e.shared = make(map[string]cbpf.Label)
	for _, s := range segs {
		if s.call != nil && uses[s.call.key] > 1 {
			if _, ok := e.shared[s.call.key]; !ok {
				e.shared[s.call.key] = e.a.NewLabel()
				e.blocks = append(e.blocks, s.call)
			}
		}
	}
	e.since = e.a.Len()
	e.tree(segs)
	for _, c := range e.blocks {
		e.a.Bind(e.shared[c.key])
		e.callBlock(c)
		e.flushIfLong()
	}
	e.flush()
}

func (e *emitter) flushIfLong() {
	if e.a.Len()-e.since >= islandSpan {
		e.flush()
	}
}

// target returns where the code for segs lives when it is not emitted in
// place: the island's ret for a plain range, the shared block of a call.
// It returns cbpf.Next when segs' code must be emitted in place.
func (e *emitter) target(segs []segment) cbpf.Label {
	if len(segs) != 1 {
		return cbpf.Next
	}
	if s := segs[0]; s.call == nil {
		return e.ret(s.action)
	} else if l, ok := e.shared[s.call.key]; ok {
		return l
	}
	return cbpf.Next
}

// tree emits a binary search over segs (more than one, or a call block);
// A holds the call number.
func (e *emitter) tree(segs []segment) {
	if len(segs) == 1 {
		e.callBlock(segs[0].call)
		return
	}
	mid := len(segs) / 2
	left, right := segs[:mid], segs[mid:]
	lt, rt := e.target(left), e.target(right)
	rl := rt
	if rl == cbpf.Next {
		rl = e.a.NewLabel()
	}
	e.a.JumpIf(bpf.JumpGreaterOrEqual, right[0].lo, rl, lt)
	if lt == cbpf.Next {
		e.tree(left)
		e.flushIfLong()
	}
	if rt == cbpf.Next {
		e.a.Bind(rl)
		e.tree(right)
		e.flushIfLong()
	}
}

// callBlock emits the conditional rules of one call, in order; the first
// whose conditions all hold decides, else the fallback.
func (e *emitter) callBlock(c *callRules) {
	for i, r := range c.rules {
		var next cbpf.Label
		if i == len(c.rules)-1 {
			next = e.ret(c.fallback)
		} else {
			next = e.a.NewLabel()
		}
		for j, cond := range r.conds {
			pass := cbpf.Next // go on with the next condition
			if j == len(r.conds)-1 {
				pass = e.ret(r.action)
			}
			e.cond(cond, pass, next)
		}
		if i < len(c.rules)-1 {
			e.a.Bind(next)
		}
	}
}

// cond emits code that jumps to pass (or goes on, if pass is cbpf.Next)
// when c holds and jumps to fail otherwise. On 64-bit ABIs (e.wide) it
// compares both 32-bit halves, found by the kernel's byte order (e.le).
func (e *emitter) cond(c Cond, pass, fail cbpf.Label) {
	a := e.a
	lo := uint32(cbpf.OffArgs + 8*c.arg)
	hi := lo + 4
	if !e.le {
		lo, hi = hi, lo
	}
	vlo, vhi := uint32(c.val), uint32(c.val>>32)
	mlo, mhi := uint32(c.mask), uint32(c.mask>>32)
	if pass == cbpf.Next {
		pass = a.NewLabel()
		defer a.Bind(pass)
	}
	const (
		eq = bpf.JumpEqual
		gt = bpf.JumpGreaterThan
		ge = bpf.JumpGreaterOrEqual
	)
	next := cbpf.Next
	// Ne, Lt and Le are the negations of Eq, Ge and Gt: the same test
	// with the outcomes swapped.
	yes, no := pass, fail
	if c.op == opNe || c.op == opLt || c.op == opLe {
		yes, no = fail, pass
	}
	switch c.op {
	case opEq, opNe, opMaskedEq: // hi == vhi && lo == vlo, masked for MaskedEq
		if e.wide {
			a.LoadAbs(hi)
			if c.op == opMaskedEq {
				a.And(mhi)
			}
			a.JumpIf(eq, vhi, next, no)
		}
		a.LoadAbs(lo)
		if c.op == opMaskedEq {
			a.And(mlo)
		}
		a.JumpIf(eq, vlo, yes, no)
	case opGt, opGe, opLt, opLe: // hi > vhi || hi == vhi && lo >(=) vlo
		if e.wide {
			a.LoadAbs(hi)
			a.JumpIf(gt, vhi, yes, next)
			a.JumpIf(eq, vhi, next, no)
		}
		a.LoadAbs(lo)
		lowTest := ge // Ge, and Lt as not Ge
		if c.op == opGt || c.op == opLe {
			lowTest = gt // Gt, and Le as not Gt
		}
		a.JumpIf(lowTest, vlo, yes, no)
	default:
		panic(fmt.Sprintf("filter: invalid condition %v", c))
	}
}

// MarshalBinary returns the assembled program as the kernel's array of
// struct sock_filter (8 bytes per instruction: code, jt, jf, k), in the
// byte order of the filter's native arch, like libseccomp's
// seccomp_export_bpf. It implements encoding.BinaryMarshaler.
func (f *Filter) MarshalBinary() ([]byte, error) {
	prog, err := f.Assemble()
	if err != nil {
		return nil, err
	}
	var bo binary.AppendByteOrder = binary.BigEndian
	if isLE(f.arches[0]) {
		bo = binary.LittleEndian
	}
	return cbpf.Marshal(prog, bo), nil
}

// UnmarshalProgram decodes a program written by MarshalBinary on this
// machine (an array of struct sock_filter in the machine's byte order), for
// InstallProgram, e.g. in a child process that gets the program from its
// parent.
func UnmarshalProgram(b []byte) ([]bpf.RawInstruction, error) {
	prog, err := cbpf.Unmarshal(b, binary.NativeEndian)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return prog, nil
}
