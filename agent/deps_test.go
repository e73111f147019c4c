package agent_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// TestLibraryDeps: the library packages (the root package, agent, filter,
// policy, emulate, profile) do not depend on the Prometheus client or on a
// YAML parser, which only the CLI and the manifest tests use. (The root
// package's TestLibraryDependencies holds the root and filter to a
// stricter list.)
func TestLibraryDeps(t *testing.T) {
	gobin := sectest.RequireTool(t, "go")
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}",
		"github.com/seccompstream/seccompstream",
		"github.com/seccompstream/seccompstream/agent",
		"github.com/seccompstream/seccompstream/filter/...",
		"github.com/seccompstream/seccompstream/policy",
		"github.com/seccompstream/seccompstream/emulate",
		"github.com/seccompstream/seccompstream/profile").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v: %s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/prometheus/", "gopkg.in/yaml", "sigs.k8s.io/yaml", "go.yaml.in/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("a library package depends on %s", dep)
			}
		}
	}
}
