package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/policy"
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

func subject(id, metadata string, ann map[string]string) policy.Subject {
	return policy.Subject{ID: id, Metadata: metadata, Annotations: ann}
}

func TestPolicy(t *testing.T) {
	p, err := policy.Parse([]byte(examplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s       policy.Subject
		rule    int
		syscall string
		want    string
	}{
		{subject("web", "", nil), -1, "mkdir", "deny:EACCES"},
		{subject("web", "", nil), -1, "unlink", "trace"},
		{subject("web", "", nil), -1, "rmdir", "trace"},
		{subject("s", "", map[string]string{"org.example/sandbox": "strict"}), 0, "unlink", "deny:EROFS"},
		{subject("s", "", map[string]string{"org.example/sandbox": "strict"}), 0, "mkdir", "deny:EACCES"},
		{subject("s", "", map[string]string{"org.example/sandbox": "strict"}), 0, "rmdir", "deny:EPERM"},
		{subject("s", "", map[string]string{"org.example/sandbox": "loose"}), -1, "rmdir", "trace"},
		{subject("debug-1", "trusted", nil), 1, "mkdir", "allow"},
		{subject("debug-1", "trusted", nil), 1, "unlink", "trace"},
		{subject("debug-1", "other", nil), -1, "mkdir", "deny:EACCES"},
		{subject("prod-1", "trusted", nil), -1, "mkdir", "deny:EACCES"},
	} {
		rule := p.Select(tc.s)
		a := p.For(tc.s).Action(tc.syscall)
		if rule != tc.rule || a.String() != tc.want {
			t.Errorf("subject %q %v: %s -> rule %d %v, want rule %d %s", tc.s.ID, tc.s.Annotations, tc.syscall, rule, a, tc.rule, tc.want)
		}
	}
	// For does not change the policy's own map.
	if a := p.Rules.Action("mkdir"); a.String() != "deny:EACCES" {
		t.Errorf("policy changed by For: mkdir %v", a)
	}

	// "*" requires the key only; an empty policy traces everything.
	p, err = policy.Parse([]byte(`{"containers":[{"match":{"annotations":{"k":"*"}},"default":"allow"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := p.For(subject("x", "", map[string]string{"k": "v"})).Action("mkdir"); a != policy.Allow {
		t.Errorf("annotation wildcard: %v", a)
	}
	if a := p.For(subject("x", "", nil)).Action("mkdir"); a != policy.Trace {
		t.Errorf("default of an empty policy: %v", a)
	}
}

func TestPolicyBad(t *testing.T) {
	for _, tc := range []struct{ data, text string }{
		{`{"syscalls":{"mkdri":"deny"}}`, `syscalls: unknown system call "mkdri"`},
		{`{"syscalls":{"mkdir":"refuse"}}`, `syscalls.mkdir: unknown action "refuse"`},
		{`{"syscalls":{"mkdir":"deny:ENOPE"}}`, `unknown errno "ENOPE"`},
		{`{"syscalls":{"mkdir":"deny:5000"}}`, `out of range`},
		{`{"syscalls":{"mkdir":"allow:EPERM"}}`, `takes no argument`},
		{`{"default":"nope"}`, `default: unknown action`},
		{`{"syscall":{}}`, `unknown field "syscall"`},
		{`{"containers":[{"match":{"ids":"x"}}]}`, `unknown field "ids"`},
		{`{"containers":[{"match":{"id":"["}}]}`, `containers[0].match.id "["`},
		{`{"containers":[{},{"syscalls":{"x":"deny"}}]}`, `containers[1].syscalls: unknown system call "x"`},
		{`{"containers":[{"default":"deny:"}]}`, `containers[0].default`},
		{`{} {}`, `data after the JSON object`},
		{`{"syscalls":`, `unexpected EOF`},
		{`[]`, `cannot unmarshal array`},
		{`null`, `not a JSON object`},
		{``, `EOF`},
		// What later issues add is refused until it exists, not ignored.
		{`{"files":{"read":["/etc"]}}`, `unknown field "files"`},
		{`{"containers":[{"match":{"pod":"web"}}]}`, `unknown field "pod"`},
	} {
		_, err := policy.Parse([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.text) || !strings.HasPrefix(err.Error(), "policy: ") {
			t.Errorf("Parse(%s): %v, want an error containing %q", tc.data, err, tc.text)
		}
	}
	dir := t.TempDir()
	_, err := policy.Load(filepath.Join(dir, "missing.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"containers":[{"syscalls":{"mkdir":"deny:EWHAT"}}]}`), 0o644)
	_, err = policy.Load(bad)
	if err == nil || !strings.Contains(err.Error(), bad+": containers[0].syscalls.mkdir: ") {
		t.Errorf("Load of a bad file: %v, want the file and the item named", err)
	}
}

func TestPolicyRoundTrip(t *testing.T) {
	p, err := policy.Parse([]byte(examplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	q, err := policy.Parse(b)
	if err != nil {
		t.Fatalf("Parse(%s): %v", b, err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Errorf("round trip changed the policy:\n%+v\n%+v\n%s", p, q, b)
	}
	if err := (&policy.Policy{Containers: []policy.ContainerRule{{Match: policy.Match{ID: "["}}}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), `containers[0].match.id "["`) {
		t.Errorf("Validate of a bad pattern: %v", err)
	}
}
