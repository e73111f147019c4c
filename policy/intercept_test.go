package policy_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

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
	// No handlers in this version: refused, not half served.
	if _, err := r.Handler(nil); !errors.Is(err, policy.ErrNoInterceptHandlers) {
		t.Errorf("Handler with intercepts: %v", err)
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
