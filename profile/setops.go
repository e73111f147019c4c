package profile

import (
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// Merge returns the union of the profiles: every architecture and every
// call any of them has. A call allowed with any arguments in one of them
// is so in the union; otherwise its argument rules are united. Counts add
// up. The profiles are not changed. A nil *Profile counts as an empty
// one, here as in Intersect and Diff.
func Merge(ps ...*Profile) *Profile {
	out := New()
	for _, p := range ps {
		if p == nil {
			continue
		}
		for arch, m := range p.arches {
			out.calls(arch)
			for name, e := range m {
				out.add(arch, name, e.count, e.rules)
			}
		}
	}
	return out
}

// Intersect returns what all the profiles have: the architectures every
// one of them lists and, on those, the calls every one of them has (a
// baseline: the calls every recorded run made). Argument rules never
// widen: a call allowed with any arguments in every profile stays so;
// otherwise it keeps the rules that every profile that limits it has
// exactly (rules are compared as written, so two rules that mean the same
// values in different terms are not matched), and is left out when none
// is common. Counts add up. Intersect of no profile, or of any nil
// *Profile, is empty.
func Intersect(ps ...*Profile) *Profile {
	if len(ps) == 0 || slices.Contains(ps, nil) {
		return New()
	}
	out := ps[0].Clone()
	for _, p := range ps[1:] {
		for arch, om := range out.arches {
			pm, ok := p.arches[arch]
			if !ok {
				delete(out.arches, arch)
				continue
			}
			for name, oe := range om {
				pe, ok := pm[name]
				if !ok {
					delete(om, name)
					continue
				}
				oe.count += pe.count
				switch {
				case len(pe.rules) == 0:
				case len(oe.rules) == 0:
					oe.rules = slices.Clone(pe.rules)
				default:
					oe.rules = commonRules(oe.rules, pe.rules)
					if len(oe.rules) == 0 {
						delete(om, name)
					}
				}
			}
		}
	}
	return out
}

// commonRules returns the rules both sorted lists have.
func commonRules(a, b []keyedRule) []keyedRule {
	var out []keyedRule
	for _, r := range a {
		if _, ok := slices.BinarySearchFunc(b, r.key, func(x keyedRule, k string) int { return strings.Compare(x.key, k) }); ok {
			out = append(out, r)
		}
	}
	return out
}

// Diff returns what a has that b lacks: the architectures of a that b does
// not list (with all their calls), and on the others the calls of a that b
// does not have at all, the calls a allows with any arguments that b limits
// by argument rules, and the argument rules of a that b does not have
// exactly (rules are compared as written). Counts are a's. Diff(a, b) and
// Diff(b, a) both empty means a.Equal(b). A nil a or b counts as an empty
// profile.
func Diff(a, b *Profile) *Profile {
	out := New()
	if a == nil {
		return out
	}
	var barches map[specs.Arch]map[string]*entry
	if b != nil {
		barches = b.arches
	}
	for arch, am := range a.arches {
		bm, ok := barches[arch]
		if !ok {
			out.calls(arch)
		}
		for name, ae := range am {
			be, ok := bm[name]
			switch {
			case !ok:
				out.add(arch, name, ae.count, ae.rules)
			case len(be.rules) == 0:
				// b allows any arguments: nothing more in a.
			case len(ae.rules) == 0:
				out.add(arch, name, ae.count, nil)
			default:
				if extra := missingRules(ae.rules, be.rules); len(extra) > 0 {
					out.add(arch, name, ae.count, extra)
				}
			}
		}
	}
	return out
}

// missingRules returns the rules of a that b does not have.
func missingRules(a, b []keyedRule) []keyedRule {
	common := commonRules(a, b)
	var out []keyedRule
	for _, r := range a {
		if !slices.ContainsFunc(common, func(c keyedRule) bool { return c.key == r.key }) {
			out = append(out, r)
		}
	}
	return out
}
