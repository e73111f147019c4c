package profile_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/profile"
)

const (
	x86_64 = specs.ArchX86_64
	i386   = specs.ArchX86
	x32    = specs.ArchX32
)

// build returns a profile with "ARCH NAME" items, allowed with any arguments.
func build(t testing.TB, items ...string) *profile.Profile {
	t.Helper()
	p := profile.New()
	for _, it := range items {
		arch, name, _ := strings.Cut(it, " ")
		if err := p.Add(specs.Arch(arch), name, 1); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func eq(v uint64) profile.ArgRule {
	return profile.ArgRule{{Index: 0, Value: v, Op: specs.OpEqualTo}}
}

// checkCalls fails the test unless p's calls, as strings, are want.
func checkCalls(t *testing.T, what string, p *profile.Profile, want ...string) {
	t.Helper()
	if got := callStrings(p); !slices.Equal(got, want) {
		t.Errorf("%s:\n%q\nwant\n%q", what, got, want)
	}
}

func callStrings(p *profile.Profile) []string {
	var out []string
	for _, c := range p.Calls() {
		out = append(out, c.String())
	}
	return out
}

func TestAddChecksNames(t *testing.T) {
	p := profile.New()
	for _, tc := range []struct {
		arch specs.Arch
		name string
		want error
	}{
		{x86_64, "openat", nil},
		{x86_64, "opne", profile.ErrUnknownSyscall},
		{x86_64, "", profile.ErrUnknownSyscall},
		{x86_64, "socketcall", profile.ErrUnknownSyscall}, // i386 only
		{i386, "socketcall", nil},
		{x32, "read", nil},
		{"SCMP_ARCH_Z80", "read", profile.ErrUnknownArch},
		{specs.ArchS390, "anything_goes", nil}, // no table here: unchecked
	} {
		err := p.Add(tc.arch, tc.name, 1)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Add(%s, %q) = %v, want %v", tc.arch, tc.name, err, tc.want)
		}
		if err != nil && tc.name != "" && !strings.Contains(err.Error(), tc.name) && !strings.Contains(err.Error(), string(tc.arch)) {
			t.Errorf("error %q names neither the call nor the arch", err)
		}
	}
	if got, want := p.Arches(), []specs.Arch{specs.ArchS390, x32, i386, x86_64}; !slices.Equal(got, want) {
		t.Errorf("Arches() = %v, want %v", got, want)
	}
}

func TestCountsAndRules(t *testing.T) {
	p := profile.New()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(p.Add(x86_64, "read", 2))
	must(p.Add(x86_64, "read", 3))
	must(p.AddRule(x86_64, "personality", 1, eq(8)))
	must(p.AddRule(x86_64, "personality", 1, eq(0)))
	must(p.AddRule(x86_64, "personality", 1, eq(8))) // duplicate
	c, ok := p.Lookup(x86_64, "read")
	if !ok || c.Count != 5 || len(c.Rules) != 0 {
		t.Errorf("read: %+v, %v", c, ok)
	}
	c, _ = p.Lookup(x86_64, "personality")
	if got, want := c.String(), "SCMP_ARCH_X86_64 personality if arg0 == 0x0 | arg0 == 0x8"; got != want || c.Count != 3 {
		t.Errorf("personality: %q count %d, want %q count 3", got, c.Count, want)
	}
	// Any arguments wins over rules, in both orders.
	must(p.Add(x86_64, "personality", 0))
	if c, _ := p.Lookup(x86_64, "personality"); len(c.Rules) != 0 {
		t.Errorf("personality still has rules after Add: %v", c)
	}
	must(p.AddRule(x86_64, "read", 0, eq(1)))
	if c, _ := p.Lookup(x86_64, "read"); len(c.Rules) != 0 {
		t.Errorf("read got rules: %v", c)
	}
	// Bad rules.
	for _, r := range []profile.ArgRule{
		{{Index: 6, Op: specs.OpEqualTo}},
		{{Index: 0, Op: "SCMP_CMP_ALMOST"}},
		{{Index: 1, Op: specs.OpEqualTo, Value: 1}, {Index: 1, Op: specs.OpEqualTo, Value: 2}},
	} {
		if err := p.AddRule(x86_64, "socket", 1, r); err == nil {
			t.Errorf("AddRule(%v) accepted", r)
		}
	}
	if p.Has(x86_64, "socket") {
		t.Error("a refused rule added its call")
	}
	// Lookup returns copies.
	c, _ = p.Lookup(x86_64, "personality")
	c.Name = "x"
	p.Delete(x86_64, "read")
	if p.Has(x86_64, "read") || !p.Has(x86_64, "personality") || p.Len() != 1 {
		t.Errorf("after Delete: %v", callStrings(p))
	}
}

func TestMergeIntersectDiff(t *testing.T) {
	a := build(t, "SCMP_ARCH_X86_64 read", "SCMP_ARCH_X86_64 openat", "SCMP_ARCH_X86 read")
	b := build(t, "SCMP_ARCH_X86_64 read", "SCMP_ARCH_X86_64 mkdir")
	if err := a.AddRule(x86_64, "socket", 1, eq(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddRule(x86_64, "socket", 1, eq(2)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddRule(x86_64, "openat", 1, eq(0)); err != nil {
		t.Fatal(err)
	}

	m := profile.Merge(a, b)
	want := []string{
		"SCMP_ARCH_X86 read",
		"SCMP_ARCH_X86_64 mkdir",
		"SCMP_ARCH_X86_64 openat",
		"SCMP_ARCH_X86_64 read",
		"SCMP_ARCH_X86_64 socket if arg0 == 0x1 | arg0 == 0x2",
	}
	checkCalls(t, "Merge", m, want...)
	if c, _ := m.Lookup(x86_64, "read"); c.Count != 2 {
		t.Errorf("merged count %d, want 2", c.Count)
	}

	in := profile.Intersect(a, b)
	want = []string{"SCMP_ARCH_X86_64 openat if arg0 == 0x0", "SCMP_ARCH_X86_64 read"}
	checkCalls(t, "Intersect", in, want...)
	if got := in.Arches(); !slices.Equal(got, []specs.Arch{x86_64}) {
		t.Errorf("Intersect arches %v", got)
	}

	d := profile.Diff(a, b)
	want = []string{
		"SCMP_ARCH_X86 read",
		"SCMP_ARCH_X86_64 openat", // any arguments, b has a rule only
		"SCMP_ARCH_X86_64 socket if arg0 == 0x1",
	}
	checkCalls(t, "Diff(a, b)", d, want...)
	want = []string{"SCMP_ARCH_X86_64 mkdir", "SCMP_ARCH_X86_64 socket if arg0 == 0x2"}
	checkCalls(t, "Diff(b, a)", profile.Diff(b, a), want...)

	if !m.Equal(profile.Merge(b, a)) || m.Equal(a) {
		t.Error("Equal is wrong about merges")
	}
	if d := profile.Diff(m, m); d.Len() != 0 || len(d.Arches()) != 0 {
		t.Errorf("Diff(m, m) = %v", callStrings(d))
	}
	if profile.Intersect().Len() != 0 {
		t.Error("Intersect() not empty")
	}
	// The inputs are unchanged.
	if got := len(a.Calls()); got != 4 {
		t.Errorf("a has %d calls after the set operations, want 4", got)
	}
}

// A nil *Profile is an empty one to the set operations.
func TestSetOpsNil(t *testing.T) {
	a := build(t, "SCMP_ARCH_X86_64 read", "SCMP_ARCH_X86 write")
	if m := profile.Merge(nil, a, nil); !m.Equal(a) {
		t.Errorf("Merge(nil, a, nil) = %v, want a", callStrings(m))
	}
	if m := profile.Merge(nil); m == nil || m.Len() != 0 {
		t.Errorf("Merge(nil) = %v, want an empty profile", m)
	}
	if in := profile.Intersect(a, nil); in == nil || in.Len() != 0 || len(in.Arches()) != 0 {
		t.Errorf("Intersect(a, nil) = %v, want an empty profile", in)
	}
	if d := profile.Diff(a, nil); !d.Equal(a) {
		t.Errorf("Diff(a, nil) = %v, want a", callStrings(d))
	}
	if d := profile.Diff(nil, a); d == nil || d.Len() != 0 {
		t.Errorf("Diff(nil, a) = %v, want an empty profile", d)
	}
}

func TestEqualIgnoresCounts(t *testing.T) {
	a := build(t, "SCMP_ARCH_X86_64 read")
	b := profile.New()
	if err := b.Add(x86_64, "read", 99); err != nil {
		t.Fatal(err)
	}
	if !a.Equal(b) {
		t.Error("profiles that differ only in counts are not Equal")
	}
	if err := b.AddArch(i386); err != nil {
		t.Fatal(err)
	}
	if a.Equal(b) {
		t.Error("an extra architecture is not seen")
	}
	if d := profile.Diff(b, a); !slices.Equal(d.Arches(), []specs.Arch{i386}) {
		t.Errorf("Diff(b, a) arches %v", d.Arches())
	}
}

func TestCloneIsDeep(t *testing.T) {
	a := build(t, "SCMP_ARCH_X86_64 read")
	if err := a.AddRule(x86_64, "socket", 1, eq(1)); err != nil {
		t.Fatal(err)
	}
	b := a.Clone()
	if err := b.AddRule(x86_64, "socket", 1, eq(2)); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(x86_64, "read", 5); err != nil {
		t.Fatal(err)
	}
	if c, _ := a.Lookup(x86_64, "socket"); len(c.Rules) != 1 {
		t.Errorf("clone shares rules: %v", c)
	}
	if c, _ := a.Lookup(x86_64, "read"); c.Count != 1 {
		t.Errorf("clone shares counts: %v", c.Count)
	}
}
