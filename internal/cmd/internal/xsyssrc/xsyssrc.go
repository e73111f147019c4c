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
// directory and the version its header names, from the -sys and -version
// flags or, where they are not given, from Locate.
type Source struct {
	Dir, Version string
}

// Flags registers -sys and -version on fs, for s.
func (s *Source) Flags(fs *flag.FlagSet) {
	fs.StringVar(&s.Dir, "sys", "", "golang.org/x/sys module directory (default: from go list -m)")
	fs.StringVar(&s.Version, "version", "", "x/sys version for the header (default: from go list -m)")
}

// Resolve fills in what the flags left empty, from Locate.
func (s *Source) Resolve() error {
	if s.Dir != "" && s.Version != "" {
		return nil
	}
	dir, version, err := Locate()
	if err != nil {
		return err
	}
	if s.Dir == "" {
		s.Dir = dir
	}
	if s.Version == "" {
		s.Version = version
	}
	return nil
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
