package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sysargsDir = "../../sysargs"

// TestUpToDate regenerates the tables into a temporary file and compares
// them with the checked-in internal/sysargs/zsysargs.go.
func TestUpToDate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "zsysargs.go")
	var stderr bytes.Buffer
	if err := run([]string{"-dir", sysargsDir, "-out", out}, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.Bytes())
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(sysargsDir, "zsysargs.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("internal/sysargs/zsysargs.go is stale: run go generate ./internal/sysargs")
	}
}

func TestBadArgs(t *testing.T) {
	var stderr bytes.Buffer
	if err := run([]string{"extra"}, &stderr); err == nil {
		t.Error("run accepted a positional argument")
	}
	if err := run([]string{"-dir", t.TempDir(), "-out", filepath.Join(t.TempDir(), "x.go")}, &stderr); err == nil {
		t.Error("run accepted a directory without sources")
	}
}

// TestBadSources checks that mistakes in the sources are reported with
// their line, before anything is written.
func TestBadSources(t *testing.T) {
	kinds, err := parseKinds(filepath.Join(sysargsDir, "kind.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ line, want string }{
		{"open(filename pth)", `unknown kind "pth"`},
		{"open(filename)", `want "name kind"`},
		{"open(filename path:dirfd)", `refers to "dirfd"`},
		{"open(fd fd64)", "cannot be 64 bits wide"},
		{"open filename", "want name(params)"},
		{"@i386", "ABI list without a prototype"},
	} {
		if _, err := parseProto(tc.line, kinds); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseProto(%q) = %v, want an error containing %q", tc.line, err, tc.want)
		}
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := parseProtos(write("dup.txt", "getpid()\ngetpid()\n"), kinds); err == nil || !strings.Contains(err.Error(), "dup.txt:2: getpid described twice") {
		t.Errorf("duplicate prototype: %v", err)
	}
	abis := []*abiDef{{name: "x86_64", calls: map[int32]string{39: "getpid"}}}
	for _, tc := range []struct{ protos, values, want string }{
		{"@i368 getpid()\n", "", `syscalls.txt:1: unknown ABI "i368"`},
		{"getpidd()\n", "", "syscalls.txt:1: no ABI has a call named getpidd"},
		{"getpid()\n", "kind signal\n\tenum SIGX@vax=1\n", `values.txt:2: unknown ABI "vax"`},
	} {
		protos, err := parseProtos(write("p.txt", tc.protos), kinds)
		if err != nil {
			t.Fatal(err)
		}
		sets, err := parseValues(write("v.txt", tc.values), kinds)
		if err != nil {
			t.Fatal(err)
		}
		if err := newGen("v0", kinds, protos, sets).check(abis); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("check(%q, %q) = %v, want %q", tc.protos, tc.values, err, tc.want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"kind bogus\n", `"bogus" is not a named kind`},
		{"kind path\n", `"path" is not a named kind`},
		{"flags O_CREAT\n", "before any kind line"},
		{"kind oflags\n\tfrob X\n", `unknown directive "frob"`},
		{"kind oflags\nkind oflags\n", "given twice"},
		{"kind oflags\n\tunknown oct\n", `want "unknown dec"`},
	} {
		if _, err := parseValues(write("v.txt", tc.text), kinds); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseValues(%q) = %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
}
