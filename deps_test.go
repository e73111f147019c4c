package seccompstream_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// TestLibraryDependencies checks that the packages most users import stay
// light: outside the standard library they depend on golang.org/x/sys,
// golang.org/x/net and this module only (OCI import lives in filter/oci,
// so github.com/opencontainers/runtime-spec is not compiled), and none of
// those packages uses cgo.
func TestLibraryDependencies(t *testing.T) {
	goTool := sectest.RequireTool(t, "go")
	const module = "github.com/seccompstream/seccompstream"
	for _, pkg := range []string{module, module + "/filter"} {
		out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{len .CgoFiles}}{{end}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			path, cgo, _ := strings.Cut(line, " ")
			switch {
			case path == module, strings.HasPrefix(path, module+"/"),
				strings.HasPrefix(path, "golang.org/x/sys/"), strings.HasPrefix(path, "golang.org/x/net/"):
			default:
				t.Errorf("%s depends on %s", pkg, path)
			}
			if cgo != "0" {
				t.Errorf("%s depends on %s, which has cgo files", pkg, path)
			}
		}
	}
}
