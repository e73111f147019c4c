package seccompstream_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

const modulePath = "github.com/seccompstream/seccompstream"

// specUsers are the library packages that may compile
// github.com/opencontainers/runtime-spec: they take or write OCI material.
// The root package and filter must not (OCI import lives in filter/oci).
var specUsers = []string{modulePath + "/agent", modulePath + "/filter/oci", modulePath + "/profile"}

// TestLibraryDependencies holds every library package of the module (each
// package outside internal/, cmd/, examples/, deploy/ and scripts/) to a
// light dependency list: outside the standard library, golang.org/x/sys,
// golang.org/x/net and this module's own non-test packages, plus
// runtime-spec for the packages in specUsers. Nothing a library user
// compiles uses cgo, and nothing pulls in the Prometheus client or a YAML
// parser (the CLI and the manifest tests use those).
func TestLibraryDependencies(t *testing.T) {
	goTool := sectest.RequireTool(t, "go")
	out, err := exec.Command(goTool, "list", "-f", "{{.ImportPath}}", modulePath+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s/...: %v\n%s", modulePath, err, out)
	}
	var libs []string
	for _, pkg := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, modulePath), "/")
		top, _, _ := strings.Cut(rel, "/")
		if !slices.Contains([]string{"internal", "cmd", "examples", "deploy", "scripts"}, top) && !strings.Contains(rel, "internal/") {
			libs = append(libs, pkg)
		}
	}
	for _, want := range []string{"", "/filter", "/filter/oci", "/policy", "/profile", "/agent", "/emulate"} {
		if !slices.Contains(libs, modulePath+want) {
			t.Errorf("library package %s%s is not in go list's packages %q", modulePath, want, libs)
		}
	}
	for _, pkg := range libs {
		out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{len .CgoFiles}}{{end}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			path, cgo, _ := strings.Cut(line, " ")
			if !allowedDep(pkg, path) {
				t.Errorf("%s depends on %s", pkg, path)
			}
			if cgo != "0" {
				t.Errorf("%s depends on %s, which has cgo files", pkg, path)
			}
		}
	}
}

// allowedDep reports whether library package pkg may depend on path.
func allowedDep(pkg, path string) bool {
	switch {
	case path == modulePath:
		return true
	case strings.HasPrefix(path, modulePath+"/"):
		// Not the test fixtures (ocitest pulls in moby's profiles) nor
		// the CLI.
		rel := strings.TrimPrefix(path, modulePath+"/")
		return rel != "internal/ocitest" && rel != "internal/sectest" && !strings.HasPrefix(rel, "cmd/")
	case strings.HasPrefix(path, "golang.org/x/sys/"), strings.HasPrefix(path, "golang.org/x/net/"):
		return true
	case strings.HasPrefix(path, "github.com/opencontainers/runtime-spec/"):
		return slices.Contains(specUsers, pkg)
	}
	return false // the Prometheus client, YAML parsers and everything else
}

// The rule itself: what it allows and refuses.
func TestAllowedDep(t *testing.T) {
	for _, tc := range []struct {
		pkg, path string
		want      bool
	}{
		{modulePath, "golang.org/x/sys/unix", true},
		{modulePath, "golang.org/x/net/bpf", true},
		{modulePath, modulePath + "/internal/unotify", true},
		{modulePath, "github.com/opencontainers/runtime-spec/specs-go", false},
		{modulePath + "/filter", "github.com/opencontainers/runtime-spec/specs-go", false},
		{modulePath + "/filter/oci", "github.com/opencontainers/runtime-spec/specs-go", true},
		{modulePath + "/agent", "github.com/opencontainers/runtime-spec/specs-go", true},
		{modulePath + "/profile", "github.com/opencontainers/runtime-spec/specs-go", true},
		{modulePath + "/agent", "github.com/prometheus/client_golang/prometheus", false},
		{modulePath + "/profile", "sigs.k8s.io/yaml", false},
		{modulePath + "/policy", "gopkg.in/yaml.v3", false},
		{modulePath + "/agent", modulePath + "/internal/ocitest", false},
		{modulePath + "/emulate", modulePath + "/internal/sectest", false},
		{modulePath + "/policy", modulePath + "/cmd/seccomp-stream", false},
		{modulePath + "/policy", "github.com/seccompstream/seccompstreamx", false},
	} {
		if got := allowedDep(tc.pkg, tc.path); got != tc.want {
			t.Errorf("allowedDep(%s, %s) = %v, want %v", tc.pkg, tc.path, got, tc.want)
		}
	}
}
