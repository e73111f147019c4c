package main

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The rule vocabulary's tests (lists, errors, "all", fuzzing) are in
// package policy, where the parser is.

func TestErrnoString(t *testing.T) {
	if got := errnoString(unix.EACCES); got != "EACCES" {
		t.Errorf("errnoString(EACCES) = %q", got)
	}
	if got := errnoString(4000); got != "4000" {
		t.Errorf("errnoString(4000) = %q", got)
	}
}

func TestFlagFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{openFlags(unix.O_RDONLY | unix.O_CLOEXEC), "O_RDONLY|O_CLOEXEC"},
		{openFlags(unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC), "O_WRONLY|O_CREAT|O_TRUNC"},
		{openFlags(unix.O_RDWR | unix.O_TMPFILE), "O_RDWR|O_TMPFILE"},
		{openFlags(unix.O_RDONLY | unix.O_DIRECTORY), "O_RDONLY|O_DIRECTORY"},
		{atFlags(unix.AT_REMOVEDIR), "AT_REMOVEDIR"},
		{atFlags(0), "0"},
		{atFlags(1 << 30), "0x40000000"},
		{accessMode(unix.R_OK | unix.X_OK), "R_OK|X_OK"},
		{accessMode(0), "F_OK"},
		{formatArg("d", uint64(0xffffff9c), 0, nil), "AT_FDCWD"},
		{formatArg("m", 0o755, 0, nil), "0755"},
		{formatArg("x", 0, 0, nil), "NULL"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// The help texts, the README and the policy package documentation (the
// one full description) agree on the list syntax.
func TestHelpAgreesWithPolicyDoc(t *testing.T) {
	if os.Getenv("SECCOMPSTREAM_GUEST") == "1" {
		t.Skip("scripts/kernel-test's guest has testdata only; the host run reads the docs")
	}
	read := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	docs := map[string]string{
		"help run":      runUsage,
		"help agent":    agentUsage,
		"README.md":     read("../../README.md"),
		"policy/doc.go": read("../../policy/doc.go"),
		"docs/agent.md": read("../../docs/agent.md"),
	}
	for where, want := range map[string][]string{
		"help run":      {"mkdir,mkdirat:EACCES", "a,b:EACCES,c,d:ENOENT,e", policyDoc, "EPERM"},
		"help agent":    {"mkdir,mkdirat:EACCES", policyDoc, "EPERM"},
		"README.md":     {"mkdir,mkdirat:EACCES", "a,b:EACCES,c,d:ENOENT,e", "policy"},
		"policy/doc.go": {"mkdir,mkdirat:EACCES", "a,b:EACCES,c,d:ENOENT,e", "deny:ERRNO"},
		"docs/agent.md": {"package `policy`", "deny:ERRNO"},
	} {
		for _, w := range want {
			if !strings.Contains(docs[where], w) {
				t.Errorf("%s lacks %q", where, w)
			}
		}
	}
}
