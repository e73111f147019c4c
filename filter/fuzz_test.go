package filter_test

import (
	"encoding/binary"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// model is the rules of a filter, evaluated directly (the oracle for the
// fuzz test), following the package documentation.
type model struct {
	def, mismatch filter.Action
	arches        []uint32
	uncond        map[string]filter.Action
	rules         []modelRule
}

type modelRule struct {
	name   string
	action filter.Action
	conds  []modelCond
}

type modelCond struct {
	arg        int
	op         int // index into ops, or len(ops) for MaskedEq
	mask, v    uint64
	filterCond filter.Cond
}

func strength(a filter.Action) int32 { return int32(uint32(a) & unix.SECCOMP_RET_ACTION_FULL) }

func (m *model) eval(d data) filter.Action {
	if !slices.Contains(m.arches, d.Arch) {
		return m.mismatch
	}
	if d.Arch == x86 && uint32(d.Nr) >= sysnames.X32Bit && uint32(d.Nr) != 0xffffffff {
		return m.mismatch
	}
	name, ok := sysnames.Name(d.Arch, d.Nr)
	if !ok {
		return m.def
	}
	wide := d.Arch&0x80000000 != 0
	trunc := func(v uint64) uint64 {
		if wide {
			return v
		}
		return v & 0xffffffff
	}
	var best *modelRule
	for i := range m.rules {
		r := &m.rules[i]
		if r.name != name {
			continue
		}
		all := true
		for _, c := range r.conds {
			a := trunc(d.Args[c.arg])
			var holds bool
			if c.op == len(ops) {
				holds = a&trunc(c.mask) == trunc(c.v)
			} else {
				holds = ops[c.op].eval(a, trunc(c.v))
			}
			all = all && holds
		}
		if all && (best == nil || strength(r.action) < strength(best.action)) {
			best = r
		}
	}
	if best != nil {
		return best.action
	}
	if a, ok := m.uncond[name]; ok {
		return a
	}
	return m.def
}

// fuzzReader hands out values from the fuzzer's bytes, zeros once they run out.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) u64() uint64 {
	c := r.byte()
	if c < 200 {
		return edges[int(c)%len(edges)]
	}
	var b [8]byte
	for i := range b {
		b[i] = r.byte()
	}
	return binary.LittleEndian.Uint64(b[:])
}

var fuzzActions = []filter.Action{
	filter.Allow, filter.Notify, filter.Log, filter.Trap, filter.KillThread,
	filter.KillProcess, filter.Errno(unix.EPERM), filter.Errno(unix.EIO), filter.Trace(3),
}

// fuzzNames mixes calls both x86_64 and i386 have with calls only one has.
var fuzzNames = []string{"read", "write", "openat", "getpid", "umask", "close", "socketcall", "newfstatat", "mmap", "clone", "ioctl", "_llseek", "futex", "exit_group"}

func (r *fuzzReader) action() filter.Action { return fuzzActions[int(r.byte())%len(fuzzActions)] }

// buildFuzz makes a filter and its model from the fuzzer's bytes.
func buildFuzz(t *testing.T, r *fuzzReader) (*filter.Filter, *model) {
	m := &model{def: r.action(), mismatch: r.action(), arches: []uint32{x86}, uncond: map[string]filter.Action{}}
	f := newX86(t, m.def)
	if err := f.SetMismatchAction(m.mismatch); err != nil {
		t.Fatal(err)
	}
	if r.byte()&1 == 1 {
		if err := f.AddArch(unix.AUDIT_ARCH_I386); err != nil {
			t.Fatal(err)
		}
		m.arches = append(m.arches, unix.AUDIT_ARCH_I386)
	}
	// Padding: conditional rules on many other calls make the program long
	// enough for far jumps.
	pad := int(r.byte()%4) * 70
	for i, name := range sysnames.Names(x86)[:pad] {
		c := modelCond{arg: i % 6, op: 0, v: uint64(i) << 31}
		c.filterCond = ops[0].cond(c.arg, c.v)
		if err := f.AddIf(filter.Errno(unix.EIO), name, c.filterCond); err != nil {
			t.Fatal(err)
		}
		m.rules = append(m.rules, modelRule{name: name, action: filter.Errno(unix.EIO), conds: []modelCond{c}})
	}
	nrules := int(r.byte() % 24)
	for range nrules {
		name := fuzzNames[int(r.byte())%len(fuzzNames)]
		a := r.action()
		nconds := int(r.byte() % 4)
		if nconds == 0 {
			err := f.Add(a, name)
			prev, had := m.uncond[name]
			known := false
			for _, arch := range m.arches {
				if _, ok := sysnames.Number(arch, name); ok {
					known = true
				}
			}
			switch {
			case !known || (had && prev != a):
				if err == nil {
					t.Fatalf("Add(%v, %s) accepted", a, name)
				}
			case err != nil:
				t.Fatalf("Add(%v, %s): %v", a, name, err)
			default:
				m.uncond[name] = a
			}
			continue
		}
		rule := modelRule{name: name, action: a}
		var conds []filter.Cond
		for range nconds {
			c := modelCond{arg: int(r.byte() % 6), op: int(r.byte()) % (len(ops) + 1), v: r.u64()}
			if c.op == len(ops) {
				c.mask = r.u64()
				c.filterCond = filter.Arg(c.arg).MaskedEq(c.mask, c.v)
			} else {
				c.filterCond = ops[c.op].cond(c.arg, c.v)
			}
			rule.conds = append(rule.conds, c)
			conds = append(conds, c.filterCond)
		}
		if err := f.AddIf(a, name, conds...); err != nil {
			continue // a name of no arch of the filter
		}
		m.rules = append(m.rules, rule)
	}
	return f, m
}

func FuzzFilter(f *testing.F) {
	f.Add([]byte{0, 1, 1, 5, 4, 6, 1, 2, 0, 3, 4, 0, 0, 4, 1, 5, 3, 0, 0, 0})
	f.Add([]byte{1, 5, 0, 12, 0, 1, 0, 0, 1, 2, 3, 1, 5, 2, 7, 255, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &fuzzReader{b}
		flt, m := buildFuzz(t, r)
		prog, err := flt.Assemble()
		if err != nil {
			t.Fatalf("Assemble: %v", err)
		}
		v := newVM(t, prog, true)
		archs := []uint32{x86, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64}
		for range 32 {
			var d data
			d.Arch = archs[int(r.byte())%len(archs)]
			var n int32
			if c := r.byte(); c < 128 {
				name := fuzzNames[int(c)%len(fuzzNames)]
				var ok bool
				if n, ok = sysnames.Number(d.Arch, name); !ok {
					n = int32(r.u64())
				}
			} else {
				n = int32(r.byte()) * 2 // mostly calls of the padding
			}
			switch r.byte() % 8 {
			case 0:
				n |= sysnames.X32Bit
			case 1:
				n = -1
			}
			d.Nr = n
			for i := range d.Args {
				d.Args[i] = r.u64()
			}
			want := m.eval(d)
			if got := v.run(t, d); got != want {
				t.Fatalf("%+v: VM says %v, rules say %v", d, got, want)
			}
		}
	})
}
