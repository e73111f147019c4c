package policy_test

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/policy"
)

func TestParseAction(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want policy.Action
		str  string
	}{
		{"allow", policy.Allow, "allow"},
		{" trace ", policy.Trace, "trace"},
		{"deny", policy.Deny(unix.EPERM), "deny:EPERM"},
		{"deny:EACCES", policy.Deny(unix.EACCES), "deny:EACCES"},
		{"deny:eacces", policy.Deny(unix.EACCES), "deny:EACCES"},
		{"deny:13", policy.Deny(unix.EACCES), "deny:EACCES"},
		{"deny:4000", policy.Deny(4000), "deny:4000"},
	} {
		a, err := policy.ParseAction(tc.in)
		if err != nil || a != tc.want || a.String() != tc.str {
			t.Errorf("ParseAction(%q) = %v, %v; want %v (%s)", tc.in, a, err, tc.want, tc.str)
			continue
		}
		b, err := policy.ParseAction(a.String())
		if err != nil || b != a {
			t.Errorf("ParseAction(String(%v)) = %v, %v", a, b, err)
		}
	}
	for _, tc := range []struct{ in, text string }{
		{"refuse", `policy: unknown action "refuse"`},
		{"deny:ENOPE", `unknown errno "ENOPE"`},
		{"deny:0", "out of range"},
		{"deny:5000", "out of range"},
		{"deny:", "empty errno"},
		{"allow:EPERM", "takes no argument"},
		{"Allow", "unknown action"},
		{"", "unknown action"},
	} {
		if a, err := policy.ParseAction(tc.in); err == nil || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("ParseAction(%q) = %v, %v; want an error containing %q", tc.in, a, err, tc.text)
		}
	}
}

func TestActionResponse(t *testing.T) {
	// Responses and showing follow the action.
	deny, _ := policy.ParseAction("deny:13")
	if deny.Response().Errno() != unix.EACCES || !deny.Shown() || deny.Errno() != unix.EACCES {
		t.Errorf("deny:13 -> %v, shown %v", deny.Response(), deny.Shown())
	}
	if !policy.Allow.Response().IsContinue() || policy.Allow.Shown() || policy.Allow.Errno() != 0 {
		t.Error("allow must continue, not shown")
	}
	if !policy.Trace.Response().IsContinue() || !policy.Trace.Shown() {
		t.Error("trace must continue, shown")
	}
	if (policy.Action{}) != policy.Allow {
		t.Error("the zero Action is not Allow")
	}
}

func TestActionText(t *testing.T) {
	var a policy.Action
	if err := a.UnmarshalText([]byte("deny:EROFS")); err != nil || a != policy.Deny(unix.EROFS) {
		t.Fatalf("UnmarshalText: %v, %v", a, err)
	}
	if b, err := a.MarshalText(); err != nil || string(b) != "deny:EROFS" {
		t.Errorf("MarshalText: %q, %v", b, err)
	}
	if _, err := policy.Deny(0).MarshalText(); err == nil {
		t.Error("MarshalText of deny errno 0 succeeded")
	}
	if err := a.UnmarshalText([]byte("nope")); err == nil {
		t.Error("UnmarshalText of a bad action succeeded")
	}
}
