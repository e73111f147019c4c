package agent_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/policy"
)

// A policy with a rule set for every container and one for some.
const examplePolicy = `{
  "syscalls": {"mkdir": "deny:EACCES", "mkdirat": "deny:EACCES"},
  "containers": [
    {"match": {"annotations": {"org.example/sandbox": "strict"}}, "default": "deny"},
    {"match": {"id": "debug-*", "metadata": "trusted"}, "syscalls": {"mkdirat": "allow"}}
  ]
}`

func testContainer(id, metadata string, ann map[string]string) *agent.Container {
	return &agent.Container{State: specs.ContainerProcessState{
		Metadata: metadata,
		State:    specs.State{ID: id, Annotations: ann},
	}}
}

func TestContainerSubject(t *testing.T) {
	ann := map[string]string{"k": "v"}
	s := testContainer("web", "meta", ann).Subject()
	if s.ID != "web" || s.Metadata != "meta" || s.Annotations["k"] != "v" {
		t.Errorf("Subject() = %+v", s)
	}
}

// TestPolicyHandler: each container gets the rule set its match selects,
// routed by name on every ABI, and shown calls name their container.
func TestPolicyHandler(t *testing.T) {
	p, err := policy.Parse([]byte(examplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		lines []string
	)
	newHandler, err := agent.PolicyHandler(p, func(c *agent.Container, n *seccompstream.Notification, r seccompstream.Response) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, c.ID()+" "+n.SyscallName()+" "+r.String())
	})
	if err != nil {
		t.Fatal(err)
	}
	call := func(c *agent.Container, arch uint32, name string) seccompstream.Response {
		t.Helper()
		nr, ok := sysnames.Number(arch, name)
		if !ok {
			t.Fatalf("no %s on %s", name, sysnames.ArchName(arch))
		}
		h := newHandler(c)
		if h == nil {
			t.Fatalf("container %s refused", c.ID())
		}
		return h.ServeNotification(context.Background(), &seccompstream.Notification{Arch: arch, Syscall: nr})
	}
	native := sysnames.Native()
	strict := testContainer("s", "", map[string]string{"org.example/sandbox": "strict"})
	debug := testContainer("debug-1", "trusted", nil)
	web := testContainer("web", "", nil)
	for _, tc := range []struct {
		c    *agent.Container
		name string
		want seccompstream.Response
	}{
		{web, "mkdirat", seccompstream.Errno(unix.EACCES)},
		{web, "unlinkat", seccompstream.Continue()},
		{strict, "unlinkat", seccompstream.Errno(unix.EPERM)},
		{debug, "mkdirat", seccompstream.Continue()},
	} {
		if got := call(tc.c, native, tc.name); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.c.ID(), tc.name, got, tc.want)
		}
	}
	for _, arch := range policy.ABIs()[1:] {
		// The same names decide the calls of the other ABIs.
		if got := call(web, arch, "mkdir"); got != seccompstream.Errno(unix.EACCES) {
			t.Errorf("web %s mkdir: %v", sysnames.ArchName(arch), got)
		}
	}
	mu.Lock()
	got := strings.Join(lines, "\n")
	mu.Unlock()
	for _, want := range []string{"web mkdirat errno EACCES", "web unlinkat continue", "s unlinkat errno EPERM"} {
		if !strings.Contains(got, want) {
			t.Errorf("shown calls lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "debug-1") {
		t.Errorf("an allowed call was shown:\n%s", got)
	}

	bad := &policy.Policy{Rules: policy.Rules{Syscalls: map[string]policy.Action{"mkdri": policy.Trace}}}
	if _, err := agent.PolicyHandler(bad, nil); err == nil || !strings.Contains(err.Error(), `"mkdri"`) {
		t.Errorf("PolicyHandler of a bad policy: %v", err)
	}
}
