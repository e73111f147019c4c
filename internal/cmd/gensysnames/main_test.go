package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestUpToDate regenerates the table into a temporary file and compares it
// with the checked-in internal/sysnames/zsysnames.go.
func TestUpToDate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "zsysnames.go")
	var stderr bytes.Buffer
	if err := run([]string{"-out", out}, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.Bytes())
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "sysnames", "zsysnames.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("internal/sysnames/zsysnames.go is stale: run go generate ./internal/sysnames")
	}
}

func TestBadArgs(t *testing.T) {
	var stderr bytes.Buffer
	if err := run([]string{"extra"}, &stderr); err == nil {
		t.Error("run accepted a positional argument")
	}
	if err := run([]string{"-sys", t.TempDir(), "-version", "v0", "-out", filepath.Join(t.TempDir(), "x.go")}, &stderr); err == nil {
		t.Error("run accepted a directory without zsysnum files")
	}
}
