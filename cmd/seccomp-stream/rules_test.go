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
