package policy_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/policy"
)

func TestIntercepts(t *testing.T) {
	p, err := policy.Parse([]byte(`{
	  "intercepts": {"sysinfo": {}},
	  "containers": [
	    {"match": {"namespace": "builds"}, "intercepts": {"mknod": {"devices": ["c 1:3", "b 7:0"]}}},
	    {"match": {"namespace": "dev"}, "intercepts": {"mknod": {}}}
	  ]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.InterceptNames(); !reflect.DeepEqual(got, []string{"mknod", "sysinfo"}) {
		t.Errorf("InterceptNames %q", got)
	}
	r := p.For(policy.Subject{Namespace: "builds", Pod: "b"})
	want := map[string]policy.Intercept{
		"sysinfo": {},
		"mknod":   {Devices: []policy.Device{{Major: 1, Minor: 3}, {Block: true, Major: 7, Minor: 0}}},
	}
	if !reflect.DeepEqual(r.Intercepts, want) {
		t.Errorf("builds: %+v, want %+v", r.Intercepts, want)
	}
	if r := p.For(policy.Subject{Namespace: "dev", Pod: "d"}); r.Intercepts["mknod"].Devices != nil {
		t.Errorf("dev: devices %v, want nil (DefaultDevices)", r.Intercepts["mknod"].Devices)
	}
	if r := p.For(policy.Subject{}); len(r.Intercepts) != 1 || len(p.Rules.Intercepts) != 1 {
		t.Errorf("other: %+v; the policy's own %+v", r.Intercepts, p.Rules.Intercepts)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if q, err := policy.Parse(b); err != nil || !reflect.DeepEqual(p, q) {
		t.Errorf("round trip: %v\n%s", err, b)
	}
	// The intercepted calls notify, and the handler routes them.
	f, err := r.Filter()
	if err != nil {
		t.Fatal(err)
	}
	prog, err := f.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	native := sysnames.Native()
	for _, name := range []string{"mknodat", "sysinfo"} {
		if got := vmRun(t, prog, number(t, native, name), native); got != filter.Notify {
			t.Errorf("the filter answers %s with %v, want Notify", name, got)
		}
	}
	if _, err := r.Handler(nil); err != nil {
		t.Errorf("Handler with intercepts: %v", err)
	}
	// With an Allow default only the named calls and the intercepts' notify.
	allowAll := &policy.Rules{Default: policy.Allow, Intercepts: map[string]policy.Intercept{"sysinfo": {}}}
	if f, err = allowAll.Filter(); err != nil {
		t.Fatal(err)
	}
	if prog, err = f.Assemble(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]filter.Action{"sysinfo": filter.Notify, "mknodat": filter.Allow} {
		if got := vmRun(t, prog, number(t, native, name), native); got != want {
			t.Errorf("allow default: %s gets %v, want %v", name, got, want)
		}
	}
	if len(policy.DefaultDevices) != 9 || policy.DefaultDevices[0].String() != "c 1:3" {
		t.Errorf("DefaultDevices %v", policy.DefaultDevices)
	}
	for _, tc := range []struct{ data, text string }{
		{`{"intercepts":{"open":{}}}`, `intercepts: unknown intercept "open"`},
		{`{"intercepts":{"mknod":{"devices":["x 1:3"]}}}`, `intercepts.mknod.devices[0]`},
		{`{"intercepts":{"mknod":{"devices":["c 4096:0"]}}}`, `major must be`},
		{`{"intercepts":{"mknod":{"devices":["c 1"]}}}`, `want "c MAJOR:MINOR"`},
		{`{"intercepts":{"sysinfo":{"devices":["c 1:3"]}}}`, `sysinfo: takes no devices`},
		{`{"intercepts":{"mknod":{"nodes":[]}}}`, `unknown field "nodes"`},
		{`{"containers":[{"intercepts":{"x":{}}}]}`, `containers[0].intercepts: unknown intercept "x"`},
	} {
		if _, err := policy.Parse([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("Parse(%s): %v, want %q", tc.data, err, tc.text)
		}
	}
}

// TestInterceptsAndSyscalls: a call named in syscalls keeps its action,
// also when a container rule names it and the intercept is the top
// level's.
func TestInterceptsAndSyscalls(t *testing.T) {
	p, err := policy.Parse([]byte(`{"default": "allow", "intercepts": {"mknod": {}},
	  "containers": [{"match": {"namespace": "untrusted"}, "syscalls": {"mknod": "deny", "mknodat": "deny"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := p.For(policy.Subject{Namespace: "untrusted", Pod: "x"})
	if _, err := r.Handler(nil); err != nil {
		t.Fatalf("Handler: %v", err)
	}
	if a := r.Action("mknodat"); a.String() != "deny:EPERM" {
		t.Errorf("mknodat in untrusted: %v", a)
	}
}
