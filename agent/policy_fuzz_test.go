package agent_test

import (
	"testing"

	"github.com/seccompstream/seccompstream/agent"
)

// FuzzParsePolicy checks that the policy parser never panics and that what
// it accepts is usable: every action it holds is valid (it gives a valid
// Response) and survives a text round trip, and resolving the policy for
// containers never fails.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(examplePolicy))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"default":"deny:4095","syscalls":{"read":"allow"}}`))
	f.Add([]byte(`{"containers":[{"match":{"id":"[","annotations":{"a":"*"}}}]}`))
	f.Add([]byte(`{"syscalls":{"opne":"allow"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := agent.ParsePolicy(data)
		if err != nil {
			if p != nil {
				t.Fatalf("policy %+v returned with error %v", p, err)
			}
			return
		}
		check := func(where string, a agent.Action) {
			t.Helper()
			if !a.Response().Valid() {
				t.Fatalf("%s: accepted action %v gives an invalid response %v", where, a, a.Response())
			}
			b, err := a.MarshalText()
			if err != nil {
				t.Fatalf("%s: MarshalText(%v): %v", where, a, err)
			}
			back, err := agent.ParseAction(string(b))
			if err != nil || back != a {
				t.Fatalf("%s: %v round trips as %v, %v", where, a, back, err)
			}
		}
		check("default", p.Default)
		for name, a := range p.Syscalls {
			check(name, a)
		}
		for _, r := range p.Containers {
			if r.Default != nil {
				check("containers.default", *r.Default)
			}
			for name, a := range r.Syscalls {
				check(name, a)
			}
		}
		for _, c := range []*agent.Container{
			testContainer("", "", nil),
			testContainer("web-1", "trusted", map[string]string{"org.example/sandbox": "strict", "a": "b"}),
		} {
			rules := p.For(c)
			for _, name := range []string{"read", "mkdir", "unlink", "nosuchcall"} {
				check("For("+c.ID()+")."+name, rules.Action(name))
			}
		}
	})
}

// FuzzParseAction checks that an action the parser accepts gives a valid
// response and prints as text that parses back to it.
func FuzzParseAction(f *testing.F) {
	for _, s := range []string{"allow", "trace", "deny", "deny:EACCES", "deny:eacces", "deny:13", "deny:4096", "deny:0", " deny:EPERM ", "deny:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := agent.ParseAction(s)
		if err != nil {
			return
		}
		if !a.Response().Valid() {
			t.Fatalf("%q: action %v gives an invalid response %v", s, a, a.Response())
		}
		back, err := agent.ParseAction(a.String())
		if err != nil || back != a {
			t.Fatalf("%q: %v round trips as %v, %v", s, a, back, err)
		}
	})
}
