package agent_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/agent"
)

const examplePolicy = `{
  "default": "trace",
  "syscalls": {"mkdir": "deny:EACCES", "mkdirat": "deny:EACCES", "unlink": "trace"},
  "containers": [
    {
      "match": {"annotations": {"org.example/sandbox": "strict"}},
      "default": "deny",
      "syscalls": {"unlink": "deny:EROFS"}
    },
    {
      "match": {"id": "debug-*", "metadata": "trusted"},
      "syscalls": {"mkdir": "allow", "mkdirat": "allow"}
    }
  ]
}`

func testContainer(id, metadata string, ann map[string]string) *agent.Container {
	return &agent.Container{State: specs.ContainerProcessState{
		Metadata: metadata,
		State:    specs.State{ID: id, Annotations: ann},
	}}
}

func TestPolicy(t *testing.T) {
	p, err := agent.ParsePolicy([]byte(examplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c       *agent.Container
		rule    int
		syscall string
		want    string
	}{
		{testContainer("web", "", nil), -1, "mkdir", "deny:EACCES"},
		{testContainer("web", "", nil), -1, "unlink", "trace"},
		{testContainer("web", "", nil), -1, "rmdir", "trace"},
		{testContainer("s", "", map[string]string{"org.example/sandbox": "strict"}), 0, "unlink", "deny:EROFS"},
		{testContainer("s", "", map[string]string{"org.example/sandbox": "strict"}), 0, "mkdir", "deny:EACCES"},
		{testContainer("s", "", map[string]string{"org.example/sandbox": "strict"}), 0, "rmdir", "deny:EPERM"},
		{testContainer("s", "", map[string]string{"org.example/sandbox": "loose"}), -1, "rmdir", "trace"},
		{testContainer("debug-1", "trusted", nil), 1, "mkdir", "allow"},
		{testContainer("debug-1", "trusted", nil), 1, "unlink", "trace"},
		{testContainer("debug-1", "other", nil), -1, "mkdir", "deny:EACCES"},
		{testContainer("prod-1", "trusted", nil), -1, "mkdir", "deny:EACCES"},
	} {
		r := p.For(tc.c)
		a := r.Action(tc.syscall)
		if r.Rule != tc.rule || a.String() != tc.want {
			t.Errorf("container %q %v: %s -> rule %d %v, want rule %d %s", tc.c.ID(), tc.c.Annotations(), tc.syscall, r.Rule, a, tc.rule, tc.want)
		}
	}

	// Responses and logging follow the action.
	deny, _ := agent.ParseAction("deny:13")
	if deny.Response().Errno() != unix.EACCES || !deny.Logged() {
		t.Errorf("deny:13 -> %v, logged %v", deny.Response(), deny.Logged())
	}
	if !agent.Allow.Response().IsContinue() || agent.Allow.Logged() {
		t.Error("allow must continue unlogged")
	}
	if !agent.Trace.Response().IsContinue() || !agent.Trace.Logged() {
		t.Error("trace must continue, logged")
	}
	// "*" requires the key only; an empty policy traces everything.
	p, err = agent.ParsePolicy([]byte(`{"containers":[{"match":{"annotations":{"k":"*"}},"default":"allow"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := p.For(testContainer("x", "", map[string]string{"k": "v"})).Action("mkdir"); a != agent.Allow {
		t.Errorf("annotation wildcard: %v", a)
	}
	if a := p.For(testContainer("x", "", nil)).Action("mkdir"); a != agent.Trace {
		t.Errorf("default of an empty policy: %v", a)
	}
}

func TestPolicyBad(t *testing.T) {
	for _, tc := range []struct{ data, text string }{
		{`{"syscalls":{"mkdri":"deny"}}`, `syscalls: unknown system call "mkdri"`},
		{`{"syscalls":{"mkdir":"refuse"}}`, `syscalls.mkdir: agent: unknown action "refuse"`},
		{`{"syscalls":{"mkdir":"deny:ENOPE"}}`, `unknown errno "ENOPE"`},
		{`{"syscalls":{"mkdir":"deny:5000"}}`, `out of range`},
		{`{"syscalls":{"mkdir":"allow:EPERM"}}`, `takes no argument`},
		{`{"default":"nope"}`, `default: agent: unknown action`},
		{`{"syscall":{}}`, `unknown field "syscall"`},
		{`{"containers":[{"match":{"ids":"x"}}]}`, `unknown field "ids"`},
		{`{"containers":[{"match":{"id":"["}}]}`, `containers[0].match.id "["`},
		{`{"containers":[{},{"syscalls":{"x":"deny"}}]}`, `containers[1].syscalls: unknown system call "x"`},
		{`{"containers":[{"default":"deny:"}]}`, `containers[0].default`},
		{`{} {}`, `data after the JSON object`},
		{`{"syscalls":`, `unexpected EOF`},
		{`[]`, `cannot unmarshal array`},
	} {
		_, err := agent.ParsePolicy([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("ParsePolicy(%s): %v, want an error containing %q", tc.data, err, tc.text)
		}
	}
	_, err := agent.LoadPolicy(filepath.Join(t.TempDir(), "missing.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadPolicy of a missing file: %v", err)
	}
}
