package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// run --allow-read / --allow-write DIR: writing in DIR works; writing,
// renaming, removing and creating directories outside fail with
// "Permission denied", create nothing and change nothing; the refusals
// are shown as --deny lines are.
func TestRunAllowWrite(t *testing.T) {
	sectest.RequireKernel(t, sectest.AddFD)
	sh := sectest.RequireTool(t, "busybox")
	dir, out := t.TempDir(), t.TempDir()
	keep := filepath.Join(out, "keep")
	os.WriteFile(keep, []byte("kept\n"), 0o644)
	script := fmt.Sprintf(`echo inside > %[1]s/a && cat %[1]s/a && mv %[1]s/a %[1]s/b && rm %[1]s/b && echo done
echo x > %[2]s/new; mv %[2]s/keep %[2]s/moved; rm %[2]s/keep; mkdir %[2]s/d; true`, dir, out)
	code, stdout, stderr := runCLI(t, "run", "--allow-read", "/", "--allow-write", dir, "--", sh, "sh", "-c", script)
	if code != 0 || stdout != "inside\ndone\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if n := strings.Count(stderr, "Permission denied"); n != 4 {
		t.Errorf("%d \"Permission denied\", want 4:\n%s", n, stderr)
	}
	for _, line := range []string{
		fmt.Sprintf("(%q, 0777) = EACCES", filepath.Join(out, "d")),
		fmt.Sprintf("unlink(%q) = EACCES", keep),
		fmt.Sprintf("rename(%q, %q) = EACCES", keep, filepath.Join(out, "moved")),
		fmt.Sprintf("%q, O_WRONLY|O_CREAT|O_TRUNC", filepath.Join(out, "new")),
	} {
		if !strings.Contains(stderr, line) {
			t.Errorf("no refusal line with %s:\n%s", line, stderr)
		}
	}
	ents, _ := os.ReadDir(out)
	if b, _ := os.ReadFile(keep); len(ents) != 1 || string(b) != "kept\n" {
		t.Errorf("outside changed: %d entries, keep = %q", len(ents), b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("DIR keeps %d entries", len(ents))
	}
}

// run --allow-read @system,DIR: a dynamically linked cat reads DIR's file
// and nothing outside, also not through a link in DIR or DIR/..
func TestRunAllowReadSystem(t *testing.T) {
	sectest.RequireKernel(t, sectest.AddFD)
	cat := sectest.RequireTool(t, "cat")
	root := t.TempDir()
	dir := filepath.Join(root, "dir")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "ok"), []byte("ok content\n"), 0o644)
	secret := filepath.Join(root, "secret")
	os.WriteFile(secret, []byte("SECRET\n"), 0o644)
	os.Symlink(secret, filepath.Join(dir, "link"))
	code, stdout, stderr := runCLI(t, "run", "--allow-read", "@system,"+dir, "--", cat, filepath.Join(dir, "ok"))
	if code != 0 || stdout != "ok content\n" {
		t.Fatalf("cat DIR/ok: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	for _, p := range []string{secret, filepath.Join(dir, "link"), dir + "/../secret", "/proc/self/root" + secret} {
		code, stdout, stderr := runCLI(t, "run", "--allow-read", "@system,"+dir, "--", cat, p)
		if code == 0 || strings.Contains(stdout, "SECRET") {
			t.Errorf("cat %s: exit %d, stdout %q", p, code, stdout)
		}
		if !strings.Contains(stderr, fmt.Sprintf("%q, O_RDONLY) = E", p)) {
			t.Errorf("cat %s: no refusal line:\n%s", p, stderr)
		}
	}
}

// Bad lists name the item, exit with status 2, and nothing runs.
func TestRunFileListsBadInput(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--allow-read", "/usr,,/etc"}, `--allow-read: empty item`},
		{[]string{"--allow-read", ""}, `--allow-read: empty item`},
		{[]string{"--allow-write", "tmp/out"}, `--allow-write "tmp/out": not an absolute path`},
		{[]string{"--allow-write", "@system"}, `--allow-write "@system": @system is for reading only`},
		{[]string{"--allow-read", "/a/../b"}, `--allow-read "/a/../b": has a ".." component`},
	} {
		args := append(append([]string{"run"}, tc.args...), "--", "touch", marker)
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, exitUsage, tc.want)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%q: the program ran", tc.args)
		}
	}
}

// The help of run lists every path of @system, says that execve is not
// restricted, and shows a refusal line.
func TestRunHelpFilePolicy(t *testing.T) {
	for _, p := range emulate.SystemPaths() {
		if !strings.Contains(runUsage, " "+p+" ") && !strings.Contains(runUsage, " "+p+"\n") && !strings.Contains(runUsage, " "+p+".") {
			t.Errorf("help run does not list %s of @system", p)
		}
	}
	for _, w := range []string{"execve is not restricted", "--allow-read", "--allow-write", `= EACCES`, "EPERM"} {
		if !strings.Contains(runUsage, w) {
			t.Errorf("help run lacks %q", w)
		}
	}
}
