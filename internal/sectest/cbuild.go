package sectest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/seccompstream/seccompstream/internal/cbuild"
)

// BuildC returns the path of the C program p: the prebuilt one that p's
// Prebuilt variable names, or one built with gcc into a temporary
// directory of t (see internal/cbuild). Without gcc and without a
// prebuilt program the test skips, or fails in CI (RequireTool).
func BuildC(t testing.TB, p cbuild.Program) string {
	t.Helper()
	return buildC(t, t.TempDir(), p)
}

// BuildCIn is BuildC with the program placed as dir/p.Name (in a
// container's rootfs, say); a prebuilt program is copied there.
func BuildCIn(t testing.TB, dir string, p cbuild.Program) string {
	t.Helper()
	bin := buildC(t, dir, p)
	if want := filepath.Join(dir, p.Name); bin != want {
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(want, data, 0o755); err != nil {
			t.Fatal(err)
		}
		bin = want
	}
	return bin
}

func buildC(t testing.TB, dir string, p cbuild.Program) string {
	t.Helper()
	if _, ok := p.PrebuiltPath(); !ok {
		RequireTool(t, "gcc")
	}
	bin, err := p.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
