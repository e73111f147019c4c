package cbuild_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/internal/cbuild"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

const hello = `#include <stdio.h>
int main(int argc, char **argv) { printf("hello %d\n", argc); return 0; }
`

func TestBuild(t *testing.T) {
	sectest.RequireTool(t, "gcc")
	dir := t.TempDir()
	bin, err := cbuild.Program{Name: "hello", Source: []byte(hello), Flags: []string{"-O2", "-Wall"}}.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if bin != filepath.Join(dir, "hello") {
		t.Errorf("built %s, want it in %s", bin, dir)
	}
	out, err := exec.Command(bin, "x").Output()
	if err != nil || string(out) != "hello 2\n" {
		t.Errorf("%s x: %q, %v", bin, out, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%s holds %d files, want the program only", dir, len(entries))
	}
	_, err = cbuild.Program{Name: "bad", Source: []byte("int main(void) { return x; }\n")}.Build(dir)
	if err == nil || !strings.Contains(err.Error(), "gcc -o") || !strings.Contains(err.Error(), "error") {
		t.Errorf("a program that does not compile: %v", err)
	}
}

func TestBuildPrebuilt(t *testing.T) {
	const env = "SECCOMPSTREAM_CBUILD_TEST_PREBUILT"
	pre := filepath.Join(t.TempDir(), "pre")
	if err := os.WriteFile(pre, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := cbuild.Program{Name: "hello", Source: []byte("not C at all"), Prebuilt: env}
	t.Setenv(env, pre)
	t.Setenv("PATH", "") // no gcc: the prebuilt program needs none
	if bin, err := p.Build(t.TempDir()); err != nil || bin != pre {
		t.Errorf("Build with %s set = %q, %v; want %q", env, bin, err, pre)
	}
	t.Setenv(env, pre+".missing")
	if _, err := p.Build(t.TempDir()); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), env) {
		t.Errorf("a prebuilt program that is not there: %v", err)
	}
	t.Setenv(env, "")
	if _, err := p.Build(t.TempDir()); !errors.Is(err, cbuild.ErrNoCompiler) {
		t.Errorf("no gcc and no prebuilt program: %v, want ErrNoCompiler", err)
	}
}
