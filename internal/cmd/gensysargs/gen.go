package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/format"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// gen holds the parsed sources and what generation builds from them.
type gen struct {
	version string
	kinds   *kindSet
	protos  map[string][]*proto
	sets    []*setDef

	params    []string        // Go literals of Param, in order
	shapes    []string        // Go literals of shape
	shapeIdx  map[string]int  // a shape's key to its index+1
	shapeName []string        // first call of each shape, for comments
	valueSets literals        // Go literals of valueSet
	setArrays literals        // Go literals of [numKinds]*valueSet
	found     map[string]bool // value names found on some ABI
}

func newGen(version string, kinds *kindSet, protos map[string][]*proto, sets []*setDef) *gen {
	return &gen{
		version: version, kinds: kinds, protos: protos, sets: sets,
		shapeIdx: map[string]int{}, found: map[string]bool{},
	}
}

// paramOut is a parameter laid out for one ABI.
type paramOut struct {
	name    string
	kind    string
	reg, hi int
	ref     int
}

// protoFor returns the prototype of call name on ABI a.
func (g *gen) protoFor(a *abiDef, name string) (*proto, error) {
	var generic *proto
	for _, p := range g.protos[name] {
		if slices.Contains(p.abis, a.name) {
			return p, nil
		}
		if p.abis == nil {
			generic = p
		}
	}
	if generic == nil {
		return nil, fmt.Errorf("syscalls.txt has no line for %s (%s)", name, a.name)
	}
	return generic, nil
}

// layout places p's parameters in a's registers (see "ABI rules").
func layout(a *abiDef, p *proto) []paramOut {
	var out []paramOut
	reg := 0
	for _, q := range p.params {
		o := paramOut{name: q.name, kind: q.kind, reg: reg, hi: -1, ref: -1}
		if q.wide && !a.regs64 {
			if a.pair && reg%2 == 1 {
				reg++
			}
			o.reg, o.hi = reg, reg+1
			if !a.le {
				o.reg, o.hi = o.hi, o.reg
			}
			reg += 2
		} else {
			reg++
		}
		if max(o.reg, o.hi) > 5 {
			break // beyond seccomp_data's six registers
		}
		out = append(out, o)
	}
	for i, q := range p.params[:len(out)] {
		if q.ref == "" {
			continue
		}
		for j := range out {
			if out[j].name == q.ref {
				out[i].ref = j
			}
		}
	}
	return out
}

// shape returns the index+1 of the shape of call name on ABI a, 0 for a
// call whose arguments are not described.
func (g *gen) shape(a *abiDef, name string) (int, error) {
	p, err := g.protoFor(a, name)
	if err != nil {
		return 0, err
	}
	if p.none {
		return 0, nil
	}
	ps := layout(a, p)
	var key strings.Builder
	for _, q := range ps {
		fmt.Fprintf(&key, "{%q, %s, %d, %d, %d},", q.name, q.kind, q.reg, q.hi, q.ref)
	}
	if i, ok := g.shapeIdx[key.String()]; ok {
		return i, nil
	}
	first := len(g.params)
	for _, q := range ps {
		g.params = append(g.params, fmt.Sprintf("{%q, %s, %d, %d, %d}", q.name, q.kind, q.reg, q.hi, q.ref))
	}
	g.shapes = append(g.shapes, fmt.Sprintf("{%d, %d}", first, len(ps)))
	g.shapeName = append(g.shapeName, name+" ("+a.name+")")
	g.shapeIdx[key.String()] = len(g.shapes)
	if len(g.params) > 0xffff || len(g.shapes) > 0xfffe {
		return 0, errors.New("tables too big for uint16 indexes")
	}
	return len(g.shapes), nil
}

// item is one name of a value set, resolved for an ABI.
type item struct {
	name string
	v    uint64
}

// resolve returns the value of an item of values.txt on ABI a: "NAME"
// (x/sys), "NAME=0x10", "NAME=XSYSNAME", "NAME@abi,abi=0x10".
func (g *gen) resolve(a *abiDef, spec string) (item, bool, error) {
	name, val, hasVal := strings.Cut(spec, "=")
	name, abis, scoped := strings.Cut(name, "@")
	if scoped && !slices.Contains(strings.Split(abis, ","), a.name) {
		return item{}, false, nil
	}
	if !hasVal {
		v, ok := a.consts[name]
		return item{name, v}, ok, nil
	}
	if n, err := strconv.ParseUint(val, 0, 64); err == nil {
		return item{name, n}, true, nil
	}
	if v, ok := a.consts[val]; ok {
		return item{name, v}, true, nil
	}
	return item{}, false, nil
}

// items resolves a line's names on a, later ABI-scoped lines overriding
// earlier values of the same name.
func (g *gen) items(a *abiDef, specs []string, into []item) ([]item, error) {
	for _, spec := range specs {
		it, ok, err := g.resolve(a, spec)
		if err != nil {
			return nil, err
		}
		key, _, _ := strings.Cut(spec, "=")
		if !ok {
			if _, seen := g.found[key]; !seen {
				g.found[key] = false
			}
			continue
		}
		g.found[key] = true
		if i := slices.IndexFunc(into, func(x item) bool { return x.name == it.name }); i >= 0 {
			into[i] = it
			continue
		}
		into = append(into, it)
	}
	return into, nil
}

// mask resolves a mask of values.txt: a number or an x/sys name.
func (g *gen) mask(a *abiDef, s string) (uint64, error) {
	if n, err := strconv.ParseUint(s, 0, 64); err == nil {
		return n, nil
	}
	if v, ok := a.consts[s]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("values.txt: mask %s is not defined for %s", s, a.name)
}

// valueSet returns the name of the Go variable of set d on ABI a.
func (g *gen) valueSet(a *abiDef, d *setDef) (string, error) {
	var exact, field, flags []item
	var mask uint64
	var err error
	for _, l := range d.lines {
		switch l.verb {
		case "enum":
			exact, err = g.items(a, l.items, exact)
		case "flags":
			flags, err = g.items(a, l.items, flags)
		case "field":
			var m uint64
			if m, err = g.mask(a, l.mask); err == nil {
				if mask != 0 && m != mask {
					err = fmt.Errorf("values.txt:%d: field mask %#x differs from %#x", l.line, m, mask)
				}
				mask = m
				field, err = g.items(a, l.items, field)
			}
		}
		if err != nil {
			return "", err
		}
	}
	var b strings.Builder
	b.WriteString("valueSet{")
	list := func(label string, items []item, skipZero bool) {
		var parts []string
		for _, it := range items {
			if skipZero && it.v == 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("{%#x, %q}", it.v, it.name))
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "%s: []named{%s}, ", label, strings.Join(parts, ", "))
		}
	}
	list("exact", exact, false)
	if d.signal != "" {
		m, err := g.mask(a, d.signal)
		if err != nil {
			return "", err
		}
		mask = m
		b.WriteString("signal: true, ")
	}
	if mask != 0 {
		fmt.Fprintf(&b, "mask: %#x, ", mask)
	}
	list("field", field, false)
	list("flags", flags, true)
	if d.octal != "" {
		m, err := g.mask(a, d.octal)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "octal: %#o, ", m)
	}
	if d.zero != "" {
		fmt.Fprintf(&b, "zero: %q, ", d.zero)
	}
	if d.dec {
		b.WriteString("decimal: true, ")
	}
	b.WriteString("}")
	return "set" + strconv.Itoa(g.valueSets.intern(b.String())), nil
}

// abiSets returns the name of the Go variable of ABI a's value sets.
func (g *gen) abiSets(a *abiDef) (string, error) {
	var b strings.Builder
	b.WriteString("[numKinds]*valueSet{")
	for _, d := range g.sets {
		v, err := g.valueSet(a, d)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s: &%s, ", d.kind, v)
	}
	b.WriteString("}")
	return "sets" + strconv.Itoa(g.setArrays.intern(b.String())), nil
}

// literals holds distinct Go literals, each emitted once.
type literals struct {
	list []string
	idx  map[string]int
}

// intern returns the index of lit, adding it if it is new.
func (l *literals) intern(lit string) int {
	if i, ok := l.idx[lit]; ok {
		return i
	}
	if l.idx == nil {
		l.idx = map[string]int{}
	}
	l.list = append(l.list, lit)
	l.idx[lit] = len(l.list) - 1
	return len(l.list) - 1
}

// sockcallSet returns the set of socketcall call numbers.
func (g *gen) sockcallSet() *setDef {
	for _, d := range g.sets {
		if d.kind == "SocketCall" {
			return d
		}
	}
	return nil
}

// check reports lines of syscalls.txt that name an unknown ABI or a call no
// ABI has: both would be ignored silently otherwise.
func (g *gen) check(abis []*abiDef) error {
	known := map[string]bool{}
	calls := map[string]bool{}
	for _, a := range abis {
		known[a.name] = true
		for _, n := range a.calls {
			calls[n] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(g.protos)) {
		for _, p := range g.protos[name] {
			for _, a := range p.abis {
				if !known[a] {
					return fmt.Errorf("syscalls.txt:%d: unknown ABI %q", p.line, a)
				}
			}
			if !calls[name] {
				return fmt.Errorf("syscalls.txt:%d: no ABI has a call named %s", p.line, name)
			}
		}
	}
	for _, d := range g.sets {
		for _, l := range d.lines {
			for _, it := range l.items {
				name, _, _ := strings.Cut(it, "=")
				if _, list, ok := strings.Cut(name, "@"); ok {
					for _, a := range strings.Split(list, ",") {
						if !known[a] {
							return fmt.Errorf("values.txt:%d: unknown ABI %q", l.line, a)
						}
					}
				}
			}
		}
	}
	return nil
}

func (g *gen) generate(abis []*abiDef) ([]byte, error) {
	if err := g.check(abis); err != nil {
		return nil, err
	}
	var body bytes.Buffer
	var abiNames []string
	for _, a := range abis {
		nrs := make([]int32, 0, len(a.calls))
		for nr := range a.calls {
			nrs = append(nrs, nr)
		}
		slices.Sort(nrs)
		base, last := nrs[0], nrs[len(nrs)-1]
		calls := make([]int, last-base+1)
		described := 0
		for _, nr := range nrs {
			s, err := g.shape(a, a.calls[nr])
			if err != nil {
				return nil, err
			}
			calls[nr-base] = s
			if s != 0 {
				described++
			}
		}
		sets, err := g.abiSets(a)
		if err != nil {
			return nil, err
		}
		sockets := "nil"
		if hasCall(a, "socketcall") {
			var subs [21]int
			d := g.sockcallSet()
			if d == nil {
				return nil, errors.New("values.txt has no sockcall kind")
			}
			for _, l := range d.lines {
				its, err := g.items(a, l.items, nil)
				if err != nil {
					return nil, err
				}
				for _, it := range its {
					if it.v >= uint64(len(subs)) {
						return nil, fmt.Errorf("values.txt: socketcall number %s=%d out of range", it.name, it.v)
					}
					sub := strings.ToLower(strings.TrimPrefix(it.name, "SYS_"))
					if subs[it.v], err = g.shape(a, sub); err != nil {
						return nil, err
					}
				}
			}
			sockets = "&[21]uint16{" + joinInts(subs[:]) + "}"
		}
		v := "abi_" + strings.ReplaceAll(a.name, "-", "_")
		abiNames = append(abiNames, v)
		nrBit := "0"
		if a.x32 {
			nrBit = "sysnames.X32Bit"
		}
		fmt.Fprintf(&body, "// %s: %d calls, %d of them described.\n", v, len(nrs), described)
		fmt.Fprintf(&body, "var %s = abi{\n\tname: %q, arch: %#x, nrBit: %s, regs64: %v, ptrSize: %d, le: %v, nsig: %d,\n",
			v, a.name, a.arch, nrBit, a.regs64, a.ptrSize, a.le, a.nsig)
		fmt.Fprintf(&body, "\tbase: %d, sets: &%s, sockets: %s,\n\tcalls: []uint16{\n", base, sets, sockets)
		for i := 0; i < len(calls); i += 16 {
			fmt.Fprintf(&body, "\t\t%s,\n", joinInts(calls[i:min(i+16, len(calls))]))
		}
		body.WriteString("\t},\n}\n\n")
	}
	var missing []string
	for name, ok := range g.found {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("values.txt: x/sys defines none of %s on any arch: give their values", strings.Join(missing, ", "))
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by \"go run ../cmd/gensysargs\" from syscalls.txt, values.txt and golang.org/x/sys %s; DO NOT EDIT.\n\n", g.version)
	b.WriteString("package sysargs\n\nimport \"github.com/seccompstream/seccompstream/internal/sysnames\"\n\n")
	b.WriteString("// kindNames are the names of the Kind constants of kind.go.\n")
	b.WriteString("var kindNames = [numKinds]string{")
	for _, n := range g.kinds.names {
		fmt.Fprintf(&b, "%s: %q, ", n, n)
	}
	b.WriteString("}\n\n")
	b.WriteString("// abis lists every ABI, in the order of sysnames.Arches (x32 after x86_64).\n")
	fmt.Fprintf(&b, "var abis = [...]*abi{&%s}\n\n", strings.Join(abiNames, ", &"))
	b.WriteString("// params holds the parameter lists of every shape: name, kind, reg, hi, ref.\n")
	b.WriteString("var params = [...]Param{\n")
	for _, p := range g.params {
		fmt.Fprintf(&b, "\t%s,\n", p)
	}
	b.WriteString("}\n\n// shapes are the distinct parameter lists: first param, count.\nvar shapes = [...]shape{\n")
	for i, s := range g.shapes {
		fmt.Fprintf(&b, "\t%s, // %d: %s\n", s, i+1, g.shapeName[i])
	}
	b.WriteString("}\n\n")
	for i, s := range g.valueSets.list {
		fmt.Fprintf(&b, "var set%d = %s\n", i, s)
	}
	b.WriteString("\n")
	for i, s := range g.setArrays.list {
		fmt.Fprintf(&b, "var sets%d = %s\n\n", i, s)
	}
	b.Write(body.Bytes())
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, errors.Join(errors.New("formatting generated code"), err)
	}
	return src, nil
}

// hasCall reports whether ABI a has a call named name.
func hasCall(a *abiDef, name string) bool {
	for _, n := range a.calls {
		if n == name {
			return true
		}
	}
	return false
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
