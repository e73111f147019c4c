package policy_test

import (
	"encoding/json"
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
		{`{"profile":"x.json"}`, `unknown field "profile"`},
		// Network policies: the item is named.
		{`{"network":{"connect":["127.0.0.1"]}}`, `network.connect "127.0.0.1": missing port`},
		{`{"network":{"bind":[""]}}`, `network.bind: empty item`},
		{`{"network":{"conect":["127.0.0.1:80"]}}`, `unknown field "conect"`},
		{`{"containers":[{"network":{"connect":["example.com:80"]}}]}`, `containers[0].network.connect "example.com:80": "example.com" is not an IP address`},
		{`{"network":{"connect":["127.0.0.1:80"]},"syscalls":{"connect":"allow"}}`, `syscalls.connect: "allow" would let the kernel run connect unchecked under the network policy`},
		// File policies: the item is named.
		{`{"files":{"read":["etc"]}}`, `files.read "etc": not an absolute path`},
		{`{"files":{"read":[""]}}`, `files.read: empty item`},
		{`{"files":{"write":["@system"]}}`, `files.write "@system": @system is for reading only`},
		{`{"files":{"reed":["/etc"]}}`, `unknown field "reed"`},
		{`{"containers":[{"files":{"write":["/a/../b"]}}]}`, `containers[0].files.write "/a/../b": has a ".." component`},
		{`{"files":{"read":["/"]},"syscalls":{"openat":"allow"}}`, `syscalls.openat: "allow" would let the kernel run openat unchecked`},
		{`{"syscalls":{"openat":"allow"},"containers":[{"files":{"read":["/"]}}]}`, `containers[0].syscalls.openat: "allow"`},
		{`{"containers":[{"match":{"node":"web"}}]}`, `unknown field "node"`},
		{`{"containers":[{"match":{"pod":"["}}]}`, `containers[0].match.pod "["`},
		{`{"containers":[{"match":{"namespace":"a[","pod":"x"}}]}`, `containers[0].match.namespace "a["`},
		{`{"containers":[{"match":{"container":"x["}}]}`, `containers[0].match.container "x["`},
		{`{"files":{"read":["/"]},"intercepts":{"mknod":{}}}`, `intercepts.mknod: does not go with a file policy`},
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

// checkRoundTrip checks that p comes back unchanged from Parse of its
// MarshalJSON.
func checkRoundTrip(t testing.TB, p *policy.Policy) {
	t.Helper()
	b, err := p.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON: %v", err)
	}
	q, err := policy.Parse(b)
	if err != nil {
		t.Fatalf("Parse(MarshalJSON) = %v for %s", err, b)
	}
	if !reflect.DeepEqual(p, q) {
		t.Errorf("round trip changed the policy:\n%+v\n%+v\n%s", p, q, b)
	}
}

func TestPolicyRoundTrip(t *testing.T) {
	p, err := policy.Parse([]byte(examplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, p)
	if err := (&policy.Policy{Containers: []policy.ContainerRule{{Match: policy.Match{ID: "["}}}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), `containers[0].match.id "["`) {
		t.Errorf("Validate of a bad pattern: %v", err)
	}
}

// TestPolicyPods: rules select by namespace, pod, container and
// listenerMetadata lines; the first rule that matches applies, and a set
// pattern never matches a subject without that field.
func TestPolicyPods(t *testing.T) {
	p, err := policy.Parse([]byte(`{
	  "default": "allow",
	  "containers": [
	    {"match": {"namespace": "shop", "pod": "web-*", "container": "nginx"}, "syscalls": {"mkdir": "deny:EACCES"}},
	    {"match": {"namespace": "shop"}, "syscalls": {"mkdir": "deny:EROFS"}},
	    {"match": {"metadataValues": {"profile": "strict", "team": "*"}}, "default": "deny"},
	    {"match": {"pod": "*"}, "syscalls": {"mkdir": "trace"}}
	  ]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	strict := map[string]string{"profile": "strict", "team": "a"}
	for _, tc := range []struct {
		name string
		s    policy.Subject
		rule int
		want string
	}{
		{"pod and container", policy.Subject{Namespace: "shop", Pod: "web-1", Container: "nginx"}, 0, "deny:EACCES"},
		{"other container", policy.Subject{Namespace: "shop", Pod: "web-1", Container: "sidecar"}, 1, "deny:EROFS"},
		{"namespace", policy.Subject{Namespace: "shop", Pod: "db-0"}, 1, "deny:EROFS"},
		{"metadata values", policy.Subject{Namespace: "billing", Pod: "api", MetadataValues: strict}, 2, "deny:EPERM"},
		{"metadata key missing", policy.Subject{Pod: "api", MetadataValues: map[string]string{"profile": "strict"}}, 3, "trace"},
		{"any pod", policy.Subject{Namespace: "billing", Pod: "api"}, 3, "trace"},
		{"no pod", policy.Subject{ID: "plain"}, -1, "allow"},
	} {
		if got, a := p.Select(tc.s), p.For(tc.s).Action("mkdir"); got != tc.rule || a.String() != tc.want {
			t.Errorf("%s: rule %d, mkdir %v; want rule %d, %s", tc.name, got, a, tc.rule, tc.want)
		}
	}
	// The selectors survive a round trip through MarshalJSON.
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := policy.Parse(b)
	if err != nil || !reflect.DeepEqual(p, q) {
		t.Errorf("round trip: %v\n%s", err, b)
	}
}

// TestParseKeys: a policy file is read as written. encoding/json matches
// field names without regard to case and keeps the last of two equal
// keys; a security policy that says "deny" first and "allow" last, or
// "Default" for "default", would be read otherwise than a person (or
// another tool) reads it. Both are errors naming the key.
func TestParseKeys(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{`{"Default": "allow"}`, `Default: field names are case-sensitive: write "default"`},
		{`{"default": "deny", "default": "allow"}`, `default: given twice`},
		{`{"syscalls": {"mkdir": "deny"}, "SYSCALLS": {"mkdir": "allow"}}`, `SYSCALLS: field names are case-sensitive: write "syscalls"`},
		{`{"syscalls": {"mkdir": "deny", "mkdir": "allow"}}`, `syscalls.mkdir: given twice`},
		{`{"containers": [{"match": {"ID": "web-*"}, "default": "allow"}]}`, `containers[0].match.ID: field names are case-sensitive: write "id"`},
		{`{"containers": [{}, {"match": {"annotations": {"k": "a", "k": "b"}}}]}`, `containers[1].match.annotations.k: given twice`},
		{`{"intercepts": {"mknod": {"Devices": ["c 1:3"]}}}`, `intercepts.mknod.Devices: field names are case-sensitive: write "devices"`},
		{`{"ſyscalls": {"mkdir": "allow"}}`, `field names are case-sensitive: write "syscalls"`},
	} {
		_, err := policy.Parse([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s): %v; want an error with %q", tc.file, err, tc.want)
		}
	}
	// Keys that only look alike in maps are different keys.
	if _, err := policy.Parse([]byte(`{"containers": [{"match": {"annotations": {"K": "1", "k": "2"}, "metadataValues": {"Default": "x"}}}]}`)); err != nil {
		t.Errorf("annotation keys differing in case: %v", err)
	}
}
