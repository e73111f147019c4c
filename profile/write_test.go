package profile_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/profile"
)

const golden = `{
	"defaultAction": "SCMP_ACT_ERRNO",
	"defaultErrnoRet": 38,
	"architectures": [
		"SCMP_ARCH_X86",
		"SCMP_ARCH_X86_64"
	],
	"syscalls": [
		{
			"names": [
				"exit_group",
				"openat",
				"read"
			],
			"action": "SCMP_ACT_ALLOW"
		},
		{
			"names": [
				"personality"
			],
			"action": "SCMP_ACT_ALLOW",
			"args": [
				{
					"index": 0,
					"value": 0,
					"op": "SCMP_CMP_EQ"
				}
			]
		},
		{
			"names": [
				"personality"
			],
			"action": "SCMP_ACT_ALLOW",
			"args": [
				{
					"index": 0,
					"value": 8,
					"op": "SCMP_CMP_EQ"
				}
			]
		}
	],
	"seccompstream": {
		"coverage": {
			"SCMP_ARCH_X86": {
				"exit_group": 1,
				"read": 4
			},
			"SCMP_ARCH_X86_64": {
				"exit_group": 1,
				"openat": 7,
				"personality": 2
			}
		}
	}
}
`

// goldenProfile builds the profile of golden, adding its calls in the
// given order.
func goldenProfile(t testing.TB, reverse bool) *profile.Profile {
	t.Helper()
	type item struct {
		arch  specs.Arch
		name  string
		count uint64
		rule  profile.ArgRule
	}
	items := []item{
		{x86_64, "openat", 7, nil},
		{x86_64, "exit_group", 1, nil},
		{i386, "read", 4, nil},
		{i386, "exit_group", 1, nil},
		{x86_64, "personality", 1, eq(8)},
		{x86_64, "personality", 1, eq(0)},
	}
	p := profile.New()
	for i := range items {
		it := items[i]
		if reverse {
			it = items[len(items)-1-i]
		}
		if err := p.AddRule(it.arch, it.name, it.count, it.rule); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestMarshalGolden(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		b, err := goldenProfile(t, reverse).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != golden {
			t.Errorf("reverse=%v: Marshal gave\n%s\nwant\n%s", reverse, b, golden)
		}
	}
	// It is an OCI linux.seccomp value.
	var s specs.LinuxSeccomp
	if err := json.Unmarshal([]byte(golden), &s); err != nil {
		t.Fatal(err)
	}
	if s.DefaultAction != specs.ActErrno || *s.DefaultErrnoRet != uint(syscall.ENOSYS) || len(s.Syscalls) != 3 {
		t.Errorf("decoded as %+v", s)
	}
}

func TestMarshalOptions(t *testing.T) {
	p := goldenProfile(t, false)
	b, err := p.Marshal(profile.WithDefaultErrno(syscall.EPERM), profile.WithoutCoverage())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"defaultErrnoRet": 1,`)) || bytes.Contains(b, []byte("seccompstream")) {
		t.Errorf("options not applied:\n%s", b)
	}
	for _, e := range []syscall.Errno{0, 4096} {
		if _, err := p.Marshal(profile.WithDefaultErrno(e)); err == nil {
			t.Errorf("errno %d accepted", e)
		}
		if _, err := p.OCI(profile.WithDefaultErrno(e)); err == nil {
			t.Errorf("OCI: errno %d accepted", e)
		}
	}
	// An empty profile has no rules and no architectures: it denies
	// everything on the native architecture.
	b, err = profile.New().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n\t\"defaultAction\": \"SCMP_ACT_ERRNO\",\n\t\"defaultErrnoRet\": 38\n}\n"; string(b) != want {
		t.Errorf("empty profile:\n%s", b)
	}
}

func TestRoundTrip(t *testing.T) {
	p := goldenProfile(t, false)
	q, err := profile.Parse("golden.json", []byte(golden))
	if err != nil {
		t.Fatal(err)
	}
	// i386 has openat and personality too, so reading the file gives them
	// there as well (an OCI profile names calls for all its arches).
	if !profile.Diff(p, q).Equal(profile.New()) {
		t.Errorf("read back lacks %v", callStrings(profile.Diff(p, q)))
	}
	for _, c := range p.Calls() {
		got, _ := q.Lookup(c.Arch, c.Name)
		if got.Count != c.Count {
			t.Errorf("%s: count %d read back as %d", c, c.Count, got.Count)
		}
	}
	if c, _ := q.Lookup(i386, "openat"); c.Count != 0 {
		t.Errorf("i386 openat got count %d", c.Count)
	}
	b, err := q.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != golden {
		t.Errorf("Marshal(Parse(golden)) differs:\n%s", b)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "p.json")
	if err := os.WriteFile(name, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := goldenProfile(t, false).WriteFile(name); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(name)
	if err != nil || string(b) != golden {
		t.Fatalf("file holds %q, %v", b, err)
	}
	if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	if err := goldenProfile(t, false).WriteFile(filepath.Join(dir, "no/such/dir/p.json")); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}
