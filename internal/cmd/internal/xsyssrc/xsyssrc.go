// Package xsyssrc helps the table generators read golang.org/x/sys as
// source text: its per-arch files carry build tags, so importing x/sys
// would give the tables of the arch being built only.
package xsyssrc

import (
	"flag"
	"fmt"
	"go/ast"
	"go/token"
	"iter"
	"os"
	"os/exec"
	"strings"
)

// Locate asks the go command where the golang.org/x/sys module of the
// current build is, and which version it is, so that the tables follow the
// version in go.mod.
func Locate() (dir, version string, err error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}\n{{.Version}}", "golang.org/x/sys")
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go list -m golang.org/x/sys: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 || f[0] == "" {
		return "", "", fmt.Errorf("go list -m golang.org/x/sys: unexpected output %q", b)
	}
	return f[0], f[1], nil
}

// Source says where a generator reads golang.org/x/sys from: the module
// directory and the version its header names.
type Source struct {
	Dir, Version string
}

// Parse parses a generator's command line with fs (which holds the
// generator's own flags), adding the flags -sys and -version for the
// Source; where they are not given, the Source comes from Locate. The
// command line takes no arguments besides flags.
func Parse(fs *flag.FlagSet, args []string) (Source, error) {
	var s Source
	fs.StringVar(&s.Dir, "sys", "", "golang.org/x/sys module directory (default: from go list -m)")
	fs.StringVar(&s.Version, "version", "", "x/sys version for the header (default: from go list -m)")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() != 0 {
		return s, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if s.Dir != "" && s.Version != "" {
		return s, nil
	}
	dir, version, err := Locate()
	if err != nil {
		return s, err
	}
	if s.Dir == "" {
		s.Dir = dir
	}
	if s.Version == "" {
		s.Version = version
	}
	return s, nil
}

// Consts yields the specs of every const declaration of f, in order.
func Consts(f *ast.File) iter.Seq[*ast.ValueSpec] {
	return func(yield func(*ast.ValueSpec) bool) {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				if !yield(s.(*ast.ValueSpec)) {
					return
				}
			}
		}
	}
}
