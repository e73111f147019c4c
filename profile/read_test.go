package profile_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/profile"
)

// warnings collects the readers' warnings.
type warnings []string

func (w *warnings) opt() profile.ReadOption {
	return profile.WithWarnings(func(err error) { *w = append(*w, err.Error()) })
}

func (w warnings) has(s string) bool {
	return slices.ContainsFunc(w, func(x string) bool { return strings.Contains(x, s) })
}

func needAMD64(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("expectations below are for amd64")
	}
}

// dockerTemplate is Docker's default profile as moby ships it: the
// template format, with archMap and includes/excludes.
func dockerTemplate(t *testing.T) []byte {
	t.Helper()
	b, err := json.MarshalIndent(seccomp.DefaultProfile(), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadDockerTemplate(t *testing.T) {
	needAMD64(t)
	var w warnings
	p, err := profile.Parse("default.json", dockerTemplate(t), w.opt())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range w {
		t.Logf("warning: %s", x)
	}
	if got, want := p.Arches(), []specs.Arch{x32, i386, x86_64}; !slices.Equal(got, want) {
		t.Errorf("arches %v, want %v (archMap's x86_64 entry)", got, want)
	}
	for _, name := range []string{"read", "openat", "execve", "exit_group", "futex"} {
		if !p.Has(x86_64, name) {
			t.Errorf("no %s", name)
		}
	}
	if !p.Has(i386, "socketcall") || p.Has(x86_64, "socketcall") {
		t.Error("socketcall should be an i386 call only")
	}
	// Behind CAP_SYS_ADMIN: left out without the capability, in with it.
	if p.Has(x86_64, "mount") || p.Has(x86_64, "clone3") {
		t.Error("mount or clone3 allowed without CAP_SYS_ADMIN")
	}
	// clone is limited by its flags (no namespaces) without CAP_SYS_ADMIN.
	c, ok := p.Lookup(x86_64, "clone")
	if !ok || len(c.Rules) == 0 {
		t.Errorf("clone: %v, want argument rules", c)
	}
	admin, err := profile.Parse("default.json", dockerTemplate(t), profile.WithCapabilities("CAP_SYS_ADMIN"))
	if err != nil {
		t.Fatal(err)
	}
	if !admin.Has(x86_64, "mount") {
		t.Error("mount missing with CAP_SYS_ADMIN")
	}
	if c, _ := admin.Lookup(x86_64, "clone"); len(c.Rules) != 0 {
		t.Errorf("clone limited with CAP_SYS_ADMIN: %v", c)
	}
	// Written and read back, it keeps its calls and rules.
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := profile.Parse("written.json", b)
	if err != nil {
		t.Fatal(err)
	}
	if d := profile.Diff(p, q); d.Len() > 0 {
		t.Errorf("lost on the way: %v", callStrings(d))
	}
	if c, _ := q.Lookup(x86_64, "clone"); len(c.Rules) == 0 {
		t.Error("clone's rules lost in writing")
	}
}

// TestReadDockerResolved reads Docker's profile as a runtime gets it in
// config.json (moby's own resolution of the template), through FromOCI.
func TestReadDockerResolved(t *testing.T) {
	needAMD64(t)
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	s, err := seccomp.GetDefaultProfile(spec)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.FromOCI(s)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := profile.Parse("default.json", dockerTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Equal(tmpl) {
		t.Errorf("moby's resolution and ours differ:\nonly moby's: %v\nonly ours: %v",
			callStrings(profile.Diff(p, tmpl)), callStrings(profile.Diff(tmpl, p)))
	}
}

// A profile in containers-common's style (Podman, CRI-O): errno names,
// empty includes, SCMP_ARCH_NATIVE, comments, null args.
const containersStyle = `{
	"defaultAction": "SCMP_ACT_ERRNO",
	"defaultErrno": "ENOSYS",
	"architectures": ["SCMP_ARCH_NATIVE"],
	"syscalls": [
		{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW",
		 "args": null, "comment": "", "includes": {}, "excludes": {}},
		{"names": ["bdflush"], "action": "SCMP_ACT_ERRNO", "errno": "EPERM",
		 "args": [], "comment": "obsolete", "includes": {}, "excludes": {}},
		{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "args": [], "comment": "",
		 "includes": {"caps": ["CAP_SYS_ADMIN"]}, "excludes": {}},
		{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_NE"}],
		 "comment": "", "includes": {}, "excludes": {"caps": ["CAP_AUDIT_WRITE"]}}
	]
}`

func TestReadContainersStyle(t *testing.T) {
	needAMD64(t)
	p, err := profile.Parse("seccomp.json", []byte(containersStyle))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"SCMP_ARCH_X86_64 exit_group",
		"SCMP_ARCH_X86_64 read",
		"SCMP_ARCH_X86_64 socket if arg0 != 0x28",
		"SCMP_ARCH_X86_64 write",
	}
	checkCalls(t, "read", p, want...)
	s, err := profile.ParseOCI("seccomp.json", []byte(containersStyle))
	if err != nil {
		t.Fatal(err)
	}
	if *s.DefaultErrnoRet != 38 || len(s.Syscalls) != 3 || *s.Syscalls[1].ErrnoRet != 1 {
		t.Errorf("ParseOCI: %+v", s)
	}
	if !slices.Equal(s.Architectures, []specs.Arch{x86_64}) {
		t.Errorf("SCMP_ARCH_NATIVE read as %v", s.Architectures)
	}
}

func TestReadConfigJSON(t *testing.T) {
	needAMD64(t)
	cfg := `{"ociVersion": "1.0.2", "process": {"args": ["sh"]},
	  "linux": {"seccomp": {"defaultAction": "SCMP_ACT_KILL_PROCESS",
	    "syscalls": [{"names": ["read", "bogus_call"], "action": "SCMP_ACT_ALLOW"}]}}}`
	var w warnings
	p, err := profile.Parse("config.json", []byte(cfg), w.opt())
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "read", p, "SCMP_ARCH_X86_64 read")
	if !w.has(`config.json: linux.seccomp.syscalls[0].names[1]: unknown system call "bogus_call": skipped`) {
		t.Errorf("warnings %q", w)
	}
	if _, err := profile.Parse("config.json", []byte(`{"ociVersion": "1.0.2", "linux": {}}`)); err == nil ||
		!strings.Contains(err.Error(), "no linux.seccomp") {
		t.Errorf("config.json without seccomp: %v", err)
	}
}

func TestReadWarnings(t *testing.T) {
	needAMD64(t)
	in := `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
	  "sycalls": [],
	  "syscalls": [
	    {"names": ["read", "opne"], "action": "SCMP_ACT_ALLOW", "arg": []},
	    {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
	    {"names": ["socketcall"], "action": "SCMP_ACT_ALLOW"}
	  ],
	  "seccompstream": {"coverage": {"SCMP_ARCH_X86_64": {"read": 3, "write": 2}}}}`
	var w warnings
	p, err := profile.Parse("w.json", []byte(in), w.opt())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`profile: w.json: syscalls[0].names[1]: unknown system call "opne": skipped`,
		`profile: w.json: sycalls: unknown field: ignored`,
		`profile: w.json: syscalls[0].arg: unknown field: ignored`,
		`profile: w.json: syscalls[1]: SCMP_ACT_NOTIFY`,
		`profile: w.json: seccompstream.coverage: SCMP_ARCH_X86_64 write is not in the profile`,
	} {
		if !w.has(want) {
			t.Errorf("no warning %q in\n%s", want, strings.Join(w, "\n"))
		}
	}
	if len(w) != 5 {
		t.Errorf("%d warnings, want 5 (socketcall is an i386 call: skipped silently):\n%s", len(w), strings.Join(w, "\n"))
	}
	checkCalls(t, "read", p, "SCMP_ARCH_X86_64 read")
	if c, _ := p.Lookup(x86_64, "read"); c.Count != 3 {
		t.Errorf("read count %d, want 3", c.Count)
	}
}

func TestReadArgRules(t *testing.T) {
	needAMD64(t)
	// One argument compared twice: runc makes one rule per comparison.
	in := `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
	  {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
	    {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
	    {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
	  {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [
	    {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"},
	    {"index": 0, "value": 1, "op": "SCMP_CMP_EQ", "valueTwo": 9}]},
	  {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
	    {"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}`
	p, err := profile.Parse("a.json", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"SCMP_ARCH_X86_64 clone if arg0&0x7e020000 == 0x0",
		"SCMP_ARCH_X86_64 personality if arg0 == 0x0 | arg0 == 0x8",
		"SCMP_ARCH_X86_64 socket if arg0 == 0x1, arg1 == 0x2",
	}
	checkCalls(t, "read", p, want...)
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, in string
		want     string // in the message, after "profile: NAME: "
		is       error
	}{
		{"empty", "  \n", "empty file", nil},
		{"syntax", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [}\n", "line 3, column 16: invalid character '}'", nil},
		{"not-object", `[1, 2]`, "array where an object was expected", nil},
		{"null", `null`, "null is not a seccomp profile", nil},
		{"type", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]}`,
			"syscalls[0].names: string where a list was expected", nil},
		{"no-default", `{"syscalls": []}`, "defaultAction: missing", nil},
		{"bad-default", `{"defaultAction": "SCMP_ACT_MAYBE"}`, `defaultAction: unknown action "SCMP_ACT_MAYBE"`, nil},
		{"allow-default", `{"defaultAction": "SCMP_ACT_ALLOW"}`, "defaultAction: not an allowlist", profile.ErrNotAllowlist},
		{"notify-default", `{"defaultAction": "SCMP_ACT_NOTIFY"}`, "defaultAction: not an allowlist", profile.ErrNotAllowlist},
		{"errno-range", `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}`, "defaultAction: errno 5000 out of range", nil},
		// The item is the one that holds the bad name or number.
		{"errno-name", `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EWHAT"}`, `defaultErrno: unknown errno "EWHAT"`, nil},
		{"errno-disagree", `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EPERM", "defaultErrnoRet": 2}`,
			`defaultErrno: errno "EPERM" and errnoRet 2 disagree`, nil},
		{"rule-errno-name", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errno": "EWHAT"}]}`,
			`syscalls[0].errno: unknown errno "EWHAT"`, nil},
		{"arch", `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]}`,
			`architectures[1]: unknown architecture "SCMP_ARCH_Z80"`, profile.ErrUnknownArch},
		{"both-arches", `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}`,
			`archMap: both "architectures" and "archMap" given`, nil},
		{"action", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["read"], "action": "ALLOW"}]}`,
			`syscalls[1].action: unknown action "ALLOW"`, nil},
		{"no-action", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]}`, "syscalls[0].action: missing", nil},
		{"op", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_ABOUT"}]}]}`,
			`syscalls[0].args[0].op: unknown operator "SCMP_CMP_ABOUT"`, nil},
		{"index", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "op": "SCMP_CMP_EQ"}]}]}`,
			`syscalls[0].args[0].index: 6 out of range (0..5)`, nil},
		{"empty-name", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", ""], "action": "SCMP_ACT_ALLOW"}]}`,
			`syscalls[0].names[1]: empty system call name`, nil},
		{"name-names", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}`,
			`syscalls[0]: both "name" and "names" given`, nil},
		{"min-kernel", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}}]}`,
			`syscalls[0]: includes.minKernel: kernel version "4" is not MAJOR.MINOR`, nil},
	} {
		name := filepath.Join(dir, tc.name+".json")
		if err := os.WriteFile(name, []byte(tc.in), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := profile.ReadFile(name)
		var perr *profile.Error
		if !errors.As(err, &perr) || perr.File != name {
			t.Errorf("%s: error %v is not a *profile.Error for the file", tc.name, err)
			continue
		}
		if want := "profile: " + name + ": "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error\n%v\nwant it to start with %q and contain %q", tc.name, err, want, tc.want)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: error %v does not match %v", tc.name, err, tc.is)
		}
		if _, err2 := profile.ReadOCIFile(name); err2 == nil && tc.is == nil {
			t.Errorf("%s: ReadOCIFile accepted it", tc.name)
		}
	}
	_, err := profile.ReadFile(filepath.Join(dir, "missing.json"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.json: open: no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestIncludesExcludes(t *testing.T) {
	needAMD64(t)
	in := `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
	  {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "1.0"}},
	  {"names": ["write"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
	  {"names": ["close"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "99.0"}},
	  {"names": ["dup"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "2.6"}},
	  {"names": ["pipe"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
	  {"names": ["poll"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
	  {"names": ["open"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
	  {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_KILL"]}}]}`
	p, err := profile.Parse("c.json", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Names(x86_64), []string{"close", "kill", "pipe", "read"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	p, err = profile.Parse("c.json", []byte(in), profile.WithCapabilities("CAP_KILL"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Has(x86_64, "kill") {
		t.Error("excludes caps ignored")
	}
}

func TestFromOCI(t *testing.T) {
	needAMD64(t)
	if _, err := profile.FromOCI(nil); err == nil {
		t.Error("FromOCI(nil) succeeded")
	}
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActKillProcess,
		Architectures: []specs.Arch{x86_64, i386},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "socketcall", "nonexistent_call"}, Action: specs.ActLog},
			{Names: []string{"write"}, Action: specs.ActErrno},
		},
	}
	var w warnings
	p, err := profile.FromOCI(s, w.opt())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"SCMP_ARCH_X86 read", "SCMP_ARCH_X86 socketcall", "SCMP_ARCH_X86_64 read"}
	checkCalls(t, "read", p, want...)
	if !w.has(`profile: syscalls[0].names[2]: unknown system call "nonexistent_call"`) {
		t.Errorf("warnings %q", w)
	}
	s.Syscalls[1].Action = "SCMP_ACT_PERHAPS"
	if _, err := profile.FromOCI(s); err == nil || !strings.Contains(err.Error(), "syscalls[1].action") {
		t.Errorf("bad action: %v", err)
	}
}
