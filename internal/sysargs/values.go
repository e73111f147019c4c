package sysargs

import (
	"fmt"
	"strconv"
	"strings"
)

// valueSet names the values of one kind on one ABI.
type valueSet struct {
	exact   []named // whole values with a name of their own, tried first
	mask    uint64  // the enumerated field
	field   []named // the field's values
	signal  bool    // the field holds a signal number
	flags   []named // bits outside the field, in order
	octal   uint64  // bits shown as one octal number
	zero    string  // how 0 is shown when nothing else names it
	decimal bool    // show a value without a name in decimal
}

type named struct {
	v    uint64
	name string
}

// Format returns the names of value v of kind k on arch, as Decode shows
// them: "O_RDONLY|O_CLOEXEC", "SIGINT", "PROT_NONE"; bits or values without
// a name are shown as a number ("O_RDWR|0x4000000", "F_OK", "99"). For a
// kind without names (Kind.Named is false) and for an unknown arch it
// returns the number in hexadecimal.
func Format(arch uint32, k Kind, v uint64) string {
	a := abiOf(arch, 0)
	if a == nil {
		return hex(v)
	}
	return a.format(k, v)
}

func (a *abi) format(k Kind, v uint64) string {
	if k == Signal {
		return a.signalName(v)
	}
	if k >= numKinds || a.sets[k] == nil {
		return hex(v)
	}
	s := a.sets[k]
	for _, e := range s.exact {
		if e.v == v {
			return e.name
		}
	}
	if len(s.exact) > 0 && s.mask == 0 && len(s.flags) == 0 {
		if s.decimal {
			return strconv.FormatInt(int64(int32(v)), 10)
		}
		return hex(v)
	}
	var b strings.Builder
	sep := func() {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
	}
	rest := v
	sig := ""
	if s.mask != 0 {
		f := v & s.mask
		rest &^= s.mask
		name := ""
		switch {
		case s.signal:
			if f != 0 {
				sig = a.signalName(f) // shown after the flags, as strace does
			}
		default:
			for _, e := range s.field {
				if e.v == f {
					name = e.name
					break
				}
			}
			if name == "" && f != 0 {
				name = hex(f)
			}
		}
		b.WriteString(name)
	}
	for _, e := range s.flags {
		if e.v != 0 && rest&e.v == e.v {
			sep()
			b.WriteString(e.name)
			rest &^= e.v
		}
	}
	if s.octal != 0 {
		sep()
		b.WriteString("0" + strconv.FormatUint(rest&s.octal, 8))
		rest &^= s.octal
	}
	if rest != 0 {
		sep()
		b.WriteString(hex(rest))
	}
	if sig != "" {
		sep()
		b.WriteString(sig)
	}
	if b.Len() == 0 {
		if s.zero != "" {
			return s.zero
		}
		return "0"
	}
	return b.String()
}

// signalName names signal number v on the ABI: "SIGINT", "SIGRTMIN",
// "SIGRT_3", or the number.
func (a *abi) signalName(v uint64) string {
	if s := a.sets[Signal]; s != nil {
		for _, e := range s.exact {
			if e.v == v {
				return e.name
			}
		}
	}
	switch {
	case v == sigRTMin:
		return "SIGRTMIN"
	case v > sigRTMin && v <= uint64(a.nsig):
		return "SIGRT_" + strconv.FormatUint(v-sigRTMin, 10)
	}
	return strconv.FormatInt(int64(int32(v)), 10)
}

// sigRTMin is the kernel's first real-time signal (C libraries reserve a
// few above it, so their SIGRTMIN is higher).
const sigRTMin = 32

// Parse returns the value of s, written as Format writes values of kind k
// on arch: names joined by "|" ("O_WRONLY|O_CREAT"), numbers in Go syntax
// ("0x80000", "0644", "-1"), or a mix of both. Names are case-sensitive.
// It fails on an empty string, an unknown name, a name of another kind and
// an unknown arch.
func Parse(arch uint32, k Kind, s string) (uint64, error) {
	a := abiOf(arch, 0)
	if a == nil {
		return 0, fmt.Errorf("sysargs: no tables for arch %#x", arch)
	}
	if s == "" {
		return 0, fmt.Errorf("sysargs: empty %v value", k)
	}
	var v uint64
	for part := range strings.SplitSeq(s, "|") {
		part = strings.TrimSpace(part)
		if n, err := strconv.ParseInt(part, 0, 64); err == nil {
			v |= uint64(n)
			continue
		}
		if n, err := strconv.ParseUint(part, 0, 64); err == nil {
			v |= n
			continue
		}
		n, ok := a.lookupName(k, part)
		if !ok {
			return 0, fmt.Errorf("sysargs: %q is not a %v value on %s", part, k, a.name)
		}
		v |= n
	}
	return v, nil
}

func (a *abi) lookupName(k Kind, name string) (uint64, bool) {
	if k == Signal {
		switch {
		case name == "SIGRTMIN":
			return sigRTMin, true
		case strings.HasPrefix(name, "SIGRT_"):
			n, err := strconv.ParseUint(name[len("SIGRT_"):], 10, 8)
			if err == nil && n > 0 && sigRTMin+n <= uint64(a.nsig) {
				return sigRTMin + n, true
			}
			return 0, false
		}
	}
	if k >= numKinds || a.sets[k] == nil {
		return 0, false
	}
	s := a.sets[k]
	if s.signal {
		// clone's exit signal.
		if v, ok := a.lookupName(Signal, name); ok && v&s.mask == v {
			return v, true
		}
	}
	for _, list := range [][]named{s.exact, s.field, s.flags} {
		for _, e := range list {
			if e.name == name {
				return e.v, true
			}
		}
	}
	if s.zero == name {
		return 0, true
	}
	return 0, false
}

func hex(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }
