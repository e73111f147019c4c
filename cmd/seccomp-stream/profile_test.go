package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// writeProfiles writes name -> content files into a new directory and
// returns their paths by name.
func writeProfiles(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

const (
	lsProfile = `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
	  "architectures": ["SCMP_ARCH_X86_64"],
	  "syscalls": [{"names": ["read", "getdents64", "exit_group"], "action": "SCMP_ACT_ALLOW"}],
	  "seccompstream": {"coverage": {"SCMP_ARCH_X86_64": {"read": 3, "getdents64": 2, "exit_group": 1}}}}`
	mkdirProfile = `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
	  "architectures": ["SCMP_ARCH_X86_64"],
	  "syscalls": [{"names": ["read", "mkdir", "exit_group"], "action": "SCMP_ACT_ALLOW"},
	    {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}],
	  "seccompstream": {"coverage": {"SCMP_ARCH_X86_64": {"read": 1, "mkdir": 1, "exit_group": 1}}}}`
)

const mergedProfile = `{
	"defaultAction": "SCMP_ACT_ERRNO",
	"defaultErrnoRet": 38,
	"architectures": [
		"SCMP_ARCH_X86_64"
	],
	"syscalls": [
		{
			"names": [
				"exit_group",
				"getdents64",
				"mkdir",
				"read"
			],
			"action": "SCMP_ACT_ALLOW"
		},
		{
			"names": [
				"socket"
			],
			"action": "SCMP_ACT_ALLOW",
			"args": [
				{
					"index": 0,
					"value": 1,
					"op": "SCMP_CMP_EQ"
				}
			]
		}
	],
	"seccompstream": {
		"coverage": {
			"SCMP_ARCH_X86_64": {
				"exit_group": 2,
				"getdents64": 2,
				"mkdir": 1,
				"read": 4
			}
		}
	}
}
`

func TestProfileMerge(t *testing.T) {
	needX86(t)
	f := writeProfiles(t, map[string]string{"ls.json": lsProfile, "mkdir.json": mkdirProfile})
	code, stdout, stderr := runCLI(t, "profile", "merge", f["ls.json"], f["mkdir.json"])
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if stdout != mergedProfile {
		t.Errorf("merged:\n%s\nwant\n%s", stdout, mergedProfile)
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("output is not a specs.LinuxSeccomp: %v", err)
	}

	// -o after the profiles; the order of the inputs does not matter.
	out := filepath.Join(t.TempDir(), "merged.json")
	code, stdout, stderr = runCLI(t, "profile", "merge", f["mkdir.json"], f["ls.json"], "-o", out)
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != mergedProfile {
		t.Errorf("-o file (%v):\n%s", err, b)
	}

	// --errno, and a warning for an input with another default.
	code, stdout, stderr = runCLI(t, "profile", "merge", "--errno", "EPERM", f["ls.json"])
	if code != 0 || !strings.Contains(stdout, `"defaultErrnoRet": 1,`) {
		t.Errorf("--errno EPERM: exit %d:\n%s", code, stdout)
	}
	if want := "ls.json: default action SCMP_ACT_ERRNO (ENOSYS) becomes SCMP_ACT_ERRNO (EPERM)"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}

	// Unwritable output: exit 1, and the message names the problem.
	code, _, stderr = runCLI(t, "profile", "merge", f["ls.json"], "-o", filepath.Join(t.TempDir(), "no", "dir", "x.json"))
	if code != exitFailure || !strings.Contains(stderr, "no such file or directory") {
		t.Errorf("unwritable -o: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestProfileDiff(t *testing.T) {
	needX86(t)
	f := writeProfiles(t, map[string]string{
		"ls.json": lsProfile, "mkdir.json": mkdirProfile,
		"ls2.json": `{"defaultAction": "SCMP_ACT_KILL", "syscalls": [{"names": ["exit_group", "getdents64", "read"], "action": "SCMP_ACT_ALLOW"}]}`,
		"i386.json": `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
		  "syscalls": [{"names": ["exit_group", "getdents64", "read"], "action": "SCMP_ACT_ALLOW"}]}`,
	})
	code, stdout, stderr := runCLI(t, "profile", "diff", f["ls.json"], f["mkdir.json"])
	want := "--- " + f["ls.json"] + "\n+++ " + f["mkdir.json"] + "\n" +
		"-SCMP_ARCH_X86_64 getdents64\n" +
		"+SCMP_ARCH_X86_64 mkdir\n" +
		"+SCMP_ARCH_X86_64 socket if arg0 == 0x1\n"
	if code != exitDiffer || stdout != want || stderr != "" {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
	// Counts and default actions do not count.
	code, stdout, stderr = runCLI(t, "profile", "diff", f["ls.json"], f["ls2.json"])
	if code != 0 || stdout != "" || stderr != "" {
		t.Errorf("same calls: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "profile", "diff", f["i386.json"], f["ls.json"])
	if code != exitDiffer || !strings.Contains(stdout, "\n-SCMP_ARCH_X86 (architecture)\n-SCMP_ARCH_X86 exit_group\n") {
		t.Errorf("extra architecture: exit %d:\n%s", code, stdout)
	}
}

func TestProfileBadInput(t *testing.T) {
	needX86(t)
	f := writeProfiles(t, map[string]string{
		"ok.json":      lsProfile,
		"bad.json":     "{\n\t\"defaultAction\": \"SCMP_ACT_ERRNO\",\n\t\"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALOW\"}]\n}\n",
		"syntax.json":  "{\n\t\"defaultAction\": \"SCMP_ACT_ERRNO\",,\n}\n",
		"allow.json":   `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}`,
		"unknown.json": `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "opne"], "action": "SCMP_ACT_ALLOW"}]}`,
	})
	missing := filepath.Join(t.TempDir(), "missing.json")
	out := filepath.Join(t.TempDir(), "out.json")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"profile", "merge", f["ok.json"], missing, "-o", out}, exitUsage, missing + ": no such file or directory"},
		{[]string{"profile", "merge", f["ok.json"], f["bad.json"], "-o", out}, exitUsage, f["bad.json"] + `: syscalls[0].action: unknown action "SCMP_ACT_ALOW"`},
		{[]string{"profile", "merge", f["syntax.json"], "-o", out}, exitUsage, f["syntax.json"] + ": line 2, column 36: invalid character ','"},
		{[]string{"profile", "merge", f["allow.json"], "-o", out}, exitUsage, f["allow.json"] + ": defaultAction: not an allowlist"},
		{[]string{"profile", "merge", "--errno", "EWHAT", f["ok.json"], "-o", out}, exitUsage, `unknown errno "EWHAT"`},
		{[]string{"profile", "merge", "-o", out}, exitUsage, "no profile given"},
		{[]string{"profile", "merge", "--bogus", f["ok.json"]}, exitUsage, "bogus"},
		{[]string{"profile", "diff", f["ok.json"], f["bad.json"]}, exitUsage, "unknown action"},
		{[]string{"profile", "diff", f["ok.json"]}, exitUsage, "want two profiles, got 1"},
		{[]string{"profile", "diff", f["ok.json"], missing}, exitUsage, "no such file"},
		{[]string{"profile", "frob"}, exitUsage, `unknown command "frob"`},
		{[]string{"profile"}, exitUsage, "merge or diff"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, want %d; stderr lacks %q:\n%s", tc.args[1:], code, tc.code, tc.want, stderr)
		}
		if stdout != "" {
			t.Errorf("%q: wrote to stdout: %q", tc.args[1:], stdout)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%q: wrote %s despite bad input", tc.args[1:], out)
		}
	}

	// An unknown name is a warning naming the file and the item, not a
	// failure.
	code, stdout, stderr := runCLI(t, "profile", "merge", f["unknown.json"])
	if code != 0 || !strings.Contains(stdout, `"read"`) || strings.Contains(stdout, "opne") {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
	if want := "warning: " + f["unknown.json"] + `: syscalls[0].names[1]: unknown system call "opne": skipped`; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
}

func TestProfileHelp(t *testing.T) {
	for _, args := range [][]string{{"profile", "--help"}, {"help", "profile"}, {"profile", "merge", "-h"}, {"profile", "diff", "--help"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 || !strings.Contains(stdout, "ENOSYS, not EPERM") || stderr != "" {
			t.Errorf("%q: exit %d, stdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
		}
	}
	if _, stdout, _ := runCLI(t, "help"); !strings.Contains(stdout, "profile  merge or compare") {
		t.Errorf("usage lacks the profile command:\n%s", stdout)
	}
}

// needX86 skips tests whose profiles name x86_64 calls elsewhere.
func needX86(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the test profiles are for x86_64")
	}
}
