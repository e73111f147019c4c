package profile

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// Errors that Add, AddRule and the readers wrap; match them with errors.Is.
var (
	// ErrUnknownSyscall: a system call name that the architecture (or, for
	// a profile file, every table) does not have.
	ErrUnknownSyscall = errors.New("unknown system call")
	// ErrUnknownArch: an architecture name that is not one of the OCI
	// runtime spec's SCMP_ARCH_* names.
	ErrUnknownArch = errors.New("unknown architecture")
	// ErrNotAllowlist: a profile whose default action lets calls run
	// (SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY). Such a profile says
	// what is denied, not what is allowed, and is no set of calls.
	ErrNotAllowlist = errors.New("not an allowlist")
)

// A Profile is a set of system calls, per architecture: the calls a program
// was seen making, or the calls an OCI seccomp profile allows. Each call
// has a count (how many times it was seen; 0 when nobody counted) and,
// optionally, argument rules that narrow it to some argument values.
//
// Architectures are named as the OCI runtime spec names them
// (specs.ArchX86_64, "SCMP_ARCH_X86_64"); calls by their kernel names on
// that architecture ("openat", "mmap2" on SCMP_ARCH_X86). A call of one
// architecture is a different member from the same name on another: an
// i386 helper's "read" is (SCMP_ARCH_X86, "read").
//
// The zero Profile is empty and ready to use. A Profile is not safe for
// concurrent use; Recorder is the concurrent way to build one.
type Profile struct {
	arches map[specs.Arch]map[string]*entry
}

// entry is one call of one architecture.
type entry struct {
	count uint64
	rules []keyedRule // empty: any arguments; else sorted by key, no duplicates
}

type keyedRule struct {
	key  string
	rule ArgRule
}

// A Call is one member of a Profile.
type Call struct {
	Arch  specs.Arch
	Name  string
	Count uint64 // times seen (notifications; a restarted call counts again); 0 if not counted
	// Rules, when not empty, limit the call to the arguments that satisfy
	// at least one of them. Empty: any arguments.
	Rules []ArgRule
}

// String describes the call, e.g. "SCMP_ARCH_X86_64 openat" or
// "SCMP_ARCH_X86_64 personality if arg0 == 0x0 | arg0 == 0x8".
func (c Call) String() string {
	s := string(c.Arch) + " " + c.Name
	for i, r := range c.Rules {
		if i == 0 {
			s += " if "
		} else {
			s += " | "
		}
		s += r.String()
	}
	return s
}

// An ArgRule is a condition on the register arguments of a call: OCI
// argument comparisons (specs.LinuxSeccompArg) that must all hold, each on
// a different argument index. SCMP_CMP_MASKED_EQ compares
// arg&Value with ValueTwo.
//
// Argument rules only ever compare the raw register values (a socket
// family, personality flags, clone flags under a mask), never memory the
// arguments point to: the target can change that memory after a filter
// looked at it.
type ArgRule []specs.LinuxSeccompArg

// opSymbols spells the comparisons for String.
var opSymbols = map[specs.LinuxSeccompOperator]string{
	specs.OpEqualTo: "==", specs.OpNotEqual: "!=", specs.OpLessThan: "<", specs.OpLessEqual: "<=",
	specs.OpGreaterThan: ">", specs.OpGreaterEqual: ">=",
}

// String describes the rule, e.g. "arg0&0x7e020000 == 0x0, arg1 == 0x3".
func (r ArgRule) String() string {
	parts := make([]string, len(r))
	for i, a := range r {
		arg := "arg" + strconv.FormatUint(uint64(a.Index), 10)
		v := "0x" + strconv.FormatUint(a.Value, 16)
		switch sym, ok := opSymbols[a.Op]; {
		case a.Op == specs.OpMaskedEqual:
			parts[i] = arg + "&" + v + " == 0x" + strconv.FormatUint(a.ValueTwo, 16)
		case ok:
			parts[i] = arg + " " + sym + " " + v
		default:
			parts[i] = arg + " " + string(a.Op) + " " + v
		}
	}
	return strings.Join(parts, ", ")
}

// canonical checks r and returns it sorted by argument index, with
// ValueTwo cleared where the operator does not use it, and its key.
func (r ArgRule) canonical() (keyedRule, error) {
	c := slices.Clone(r)
	for i := range c {
		if c[i].Index > 5 {
			return keyedRule{}, fmt.Errorf("argument index %d out of range (0..5)", c[i].Index)
		}
		if !knownOp(c[i].Op) {
			return keyedRule{}, fmt.Errorf("unknown operator %q", c[i].Op)
		}
		if c[i].Op != specs.OpMaskedEqual {
			c[i].ValueTwo = 0
		}
	}
	slices.SortFunc(c, func(a, b specs.LinuxSeccompArg) int { return cmp.Compare(a.Index, b.Index) })
	var key strings.Builder
	for i, a := range c {
		if i > 0 && c[i-1].Index == a.Index {
			// runc turns such a rule into one rule per comparison (OR):
			// what it means depends on the runtime.
			return keyedRule{}, fmt.Errorf("argument %d compared twice in one rule", a.Index)
		}
		fmt.Fprintf(&key, "%d %s %#x %#x;", a.Index, a.Op, a.Value, a.ValueTwo)
	}
	return keyedRule{key: key.String(), rule: c}, nil
}

func knownOp(op specs.LinuxSeccompOperator) bool {
	switch op {
	case specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual:
		return true
	}
	return false
}

// New returns an empty Profile.
func New() *Profile { return &Profile{} }

// AddArch adds architecture arch with no calls, so that the written
// profile lists it. Adding a call adds its architecture too.
func (p *Profile) AddArch(arch specs.Arch) error {
	if err := checkArch(arch); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	p.calls(arch)
	return nil
}

// Add adds the call name of arch, allowed with any arguments, and adds
// count to its count. A call that had argument rules loses them: it is now
// allowed whatever its arguments. The name must exist on arch (x32 uses
// the x86_64 names; on an architecture that has no system call table here,
// every name is accepted): otherwise the error matches ErrUnknownSyscall.
func (p *Profile) Add(arch specs.Arch, name string, count uint64) error {
	if err := checkCall(arch, name); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	p.add(arch, name, count, nil)
	return nil
}

// AddRule adds the call name of arch, allowed when rule holds (or when
// the rules it already has hold), and adds count to its count. A call
// already allowed with any arguments stays so. An empty rule is Add.
func (p *Profile) AddRule(arch specs.Arch, name string, count uint64, rule ArgRule) error {
	if err := checkCall(arch, name); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if len(rule) == 0 {
		p.add(arch, name, count, nil)
		return nil
	}
	kr, err := rule.canonical()
	if err != nil {
		return fmt.Errorf("profile: %s %s: %w", arch, name, err)
	}
	p.add(arch, name, count, []keyedRule{kr})
	return nil
}

func checkArch(arch specs.Arch) error {
	if !knownArch(arch) {
		return fmt.Errorf("%w %q", ErrUnknownArch, arch)
	}
	return nil
}

func checkCall(arch specs.Arch, name string) error {
	if err := checkArch(arch); err != nil {
		return err
	}
	if !knownCall(arch, name) || name == "" {
		return fmt.Errorf("%w %q on %s", ErrUnknownSyscall, name, arch)
	}
	return nil
}

// calls returns the calls of arch, adding the architecture if needed.
func (p *Profile) calls(arch specs.Arch) map[string]*entry {
	if p.arches == nil {
		p.arches = make(map[specs.Arch]map[string]*entry)
	}
	m := p.arches[arch]
	if m == nil {
		m = make(map[string]*entry)
		p.arches[arch] = m
	}
	return m
}

// add merges a checked call in: rules nil means any arguments; rules must
// be sorted by key without duplicates.
func (p *Profile) add(arch specs.Arch, name string, count uint64, rules []keyedRule) {
	m := p.calls(arch)
	e := m[name]
	if e == nil {
		m[name] = &entry{count: count, rules: slices.Clone(rules)}
		return
	}
	e.count += count
	switch {
	case len(e.rules) == 0:
		// Already any arguments.
	case len(rules) == 0:
		e.rules = nil
	default:
		e.rules = unionRules(e.rules, rules)
	}
}

// unionRules returns the sorted union of two sorted rule lists.
func unionRules(a, b []keyedRule) []keyedRule {
	out := make([]keyedRule, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		switch c := strings.Compare(a[0].key, b[0].key); {
		case c < 0:
			out, a = append(out, a[0]), a[1:]
		case c > 0:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// Delete removes the call name of arch (with its rules and count). Its
// architecture stays in the profile.
func (p *Profile) Delete(arch specs.Arch, name string) {
	delete(p.arches[arch], name)
}

// Lookup returns the call name of arch, and whether the profile has it.
func (p *Profile) Lookup(arch specs.Arch, name string) (Call, bool) {
	e, ok := p.arches[arch][name]
	if !ok {
		return Call{}, false
	}
	return e.call(arch, name), true
}

// Has reports whether the profile has the call name of arch, with any
// arguments or under argument rules.
func (p *Profile) Has(arch specs.Arch, name string) bool {
	_, ok := p.arches[arch][name]
	return ok
}

func (e *entry) call(arch specs.Arch, name string) Call {
	c := Call{Arch: arch, Name: name, Count: e.count}
	for _, r := range e.rules {
		c.Rules = append(c.Rules, slices.Clone(r.rule))
	}
	return c
}

// Arches returns the profile's architectures, sorted.
func (p *Profile) Arches() []specs.Arch {
	return slices.Sorted(maps.Keys(p.arches))
}

// Names returns the names of the calls of arch, sorted.
func (p *Profile) Names(arch specs.Arch) []string {
	return slices.Sorted(maps.Keys(p.arches[arch]))
}

// Calls returns every call, sorted by architecture and then by name.
func (p *Profile) Calls() []Call {
	var out []Call
	for _, arch := range p.Arches() {
		for _, name := range p.Names(arch) {
			out = append(out, p.arches[arch][name].call(arch, name))
		}
	}
	return out
}

// Len returns the number of calls, over all architectures.
func (p *Profile) Len() int {
	n := 0
	for _, m := range p.arches {
		n += len(m)
	}
	return n
}

// Equal reports whether p and q have the same architectures and the same
// calls with the same argument rules. Counts are not compared: two
// recordings that saw the same calls are equal however often they saw them.
func (p *Profile) Equal(q *Profile) bool {
	if len(p.arches) != len(q.arches) {
		return false
	}
	for arch, pm := range p.arches {
		qm, ok := q.arches[arch]
		if !ok || len(pm) != len(qm) {
			return false
		}
		for name, pe := range pm {
			qe, ok := qm[name]
			if !ok || !sameRules(pe.rules, qe.rules) {
				return false
			}
		}
	}
	return true
}

func sameRules(a, b []keyedRule) bool {
	return slices.EqualFunc(a, b, func(x, y keyedRule) bool { return x.key == y.key })
}

// Clone returns a copy of p that shares nothing with it.
func (p *Profile) Clone() *Profile {
	q := New()
	for arch, m := range p.arches {
		qm := q.calls(arch)
		for name, e := range m {
			qm[name] = &entry{count: e.count, rules: slices.Clone(e.rules)}
		}
	}
	return q
}
