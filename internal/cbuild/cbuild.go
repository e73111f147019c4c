// Package cbuild builds the C programs that the tests and the soak run as
// targets, with gcc, or takes them prebuilt.
//
// Machines without a compiler (the qemu guest of scripts/kernel-test) get
// the programs built beforehand: .ci/run compiles them on the host, with
// the same flags, and names them in environment variables
// (SECCOMPSTREAM_C_TARGET, SECCOMPSTREAM_SYSARGS_HELPER). A Program that
// names such a variable in Prebuilt uses the file it names whenever it is
// set, and compiles nothing.
//
// Tests call sectest.BuildC, which adds the test gate (a missing gcc skips
// the test, or fails it in CI) on top of Build.
package cbuild

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoCompiler is returned by Build when a program has to be compiled and
// gcc is not on PATH.
var ErrNoCompiler = errors.New("cbuild: gcc not found on PATH")

// A Program is a C program made from one source file.
type Program struct {
	// Name is the file name of the program.
	Name string
	// Source is the program's C source.
	Source []byte
	// Flags are gcc's flags ("-O2", "-static", "-pthread", ...); they
	// follow the source file on the command line, so libraries may be
	// among them.
	Flags []string
	// Prebuilt, if not "", names an environment variable that may hold
	// the path of the program built beforehand with the same flags.
	Prebuilt string
}

// PrebuiltPath returns the path that p's Prebuilt variable holds, and
// whether it is set.
func (p Program) PrebuiltPath() (string, bool) {
	if p.Prebuilt == "" {
		return "", false
	}
	path := os.Getenv(p.Prebuilt)
	return path, path != ""
}

// Build returns the path of the program: the prebuilt one when p's
// Prebuilt variable is set (it must name an existing file), otherwise the
// one it compiles as dir/Name. The source is written to a temporary
// directory of its own, removed afterwards. Errors: ErrNoCompiler without
// gcc; gcc's own errors with its output.
func (p Program) Build(dir string) (string, error) {
	if path, ok := p.PrebuiltPath(); ok {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("cbuild: %s, prebuilt %s (%s): %w", p.Name, p.Prebuilt, path, err)
		}
		return path, nil
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", fmt.Errorf("%w (building %s)", ErrNoCompiler, p.Name)
	}
	srcDir, err := os.MkdirTemp("", "cbuild-"+p.Name+"-")
	if err != nil {
		return "", fmt.Errorf("cbuild: %s: %w", p.Name, err)
	}
	defer os.RemoveAll(srcDir)
	src := filepath.Join(srcDir, p.Name+".c")
	if err := os.WriteFile(src, p.Source, 0o644); err != nil {
		return "", fmt.Errorf("cbuild: %s: %w", p.Name, err)
	}
	bin := filepath.Join(dir, p.Name)
	args := append([]string{"-o", bin, src}, p.Flags...)
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("cbuild: gcc %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}
