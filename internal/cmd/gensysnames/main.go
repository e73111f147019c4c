// Command gensysnames writes internal/sysnames/zsysnames.go: the Linux system
// call tables of every architecture that golang.org/x/sys/unix knows, keyed
// by AUDIT_ARCH_* value.
//
// It reads x/sys's zsysnum_linux_*.go files as source text (they carry build
// tags, so importing the package would only ever give the tables of the
// architecture being built). The x/sys module is found with
// `go list -m golang.org/x/sys`, so the tables follow the version in go.mod.
//
// Usage (from internal/sysnames, see its go:generate line):
//
//	go run ../cmd/gensysnames [-sys dir] [-version v] [-out zsysnames.go]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/seccompstream/seccompstream/internal/cmd/internal/xsyssrc"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gensysnames:", err)
		os.Exit(1)
	}
}

// arch describes one x/sys table and the kernel ABI it stands for.
type arch struct {
	file   string // zsysnum_linux_<file>.go
	goarch string // runtime.GOARCH that uses this ABI natively
	audit  string // name of the unix.AUDIT_ARCH_* constant
	name   string // name used by ArchName (libseccomp's spelling)
	scmp   string // libseccomp / OCI name
}

// arches lists the tables, in the order they are emitted. x/sys has no
// table for x32, mips n32 or 31-bit s390; x32's is derived from x86_64's
// and x32Calls.
var arches = []arch{
	{"amd64", "amd64", "AUDIT_ARCH_X86_64", "x86_64", "SCMP_ARCH_X86_64"},
	{"arm64", "arm64", "AUDIT_ARCH_AARCH64", "aarch64", "SCMP_ARCH_AARCH64"},
	{"386", "386", "AUDIT_ARCH_I386", "i386", "SCMP_ARCH_X86"},
	{"arm", "arm", "AUDIT_ARCH_ARM", "arm", "SCMP_ARCH_ARM"},
	{"riscv64", "riscv64", "AUDIT_ARCH_RISCV64", "riscv64", "SCMP_ARCH_RISCV64"},
	{"loong64", "loong64", "AUDIT_ARCH_LOONGARCH64", "loongarch64", "SCMP_ARCH_LOONGARCH64"},
	{"ppc64le", "ppc64le", "AUDIT_ARCH_PPC64LE", "ppc64le", "SCMP_ARCH_PPC64LE"},
	{"ppc64", "ppc64", "AUDIT_ARCH_PPC64", "ppc64", "SCMP_ARCH_PPC64"},
	{"ppc", "ppc", "AUDIT_ARCH_PPC", "ppc", "SCMP_ARCH_PPC"},
	{"s390x", "s390x", "AUDIT_ARCH_S390X", "s390x", "SCMP_ARCH_S390X"},
	{"mips", "mips", "AUDIT_ARCH_MIPS", "mips", "SCMP_ARCH_MIPS"},
	{"mipsle", "mipsle", "AUDIT_ARCH_MIPSEL", "mipsel", "SCMP_ARCH_MIPSEL"},
	{"mips64", "mips64", "AUDIT_ARCH_MIPS64", "mips64", "SCMP_ARCH_MIPS64"},
	{"mips64le", "mips64le", "AUDIT_ARCH_MIPSEL64", "mipsel64", "SCMP_ARCH_MIPSEL64"},
	{"sparc64", "sparc64", "AUDIT_ARCH_SPARC64", "sparc64", "SCMP_ARCH_SPARC64"},
}

// skip holds constants of the zsysnum files that are not system calls.
var skip = map[string]bool{
	"SYS_SYSCALL_MASK": true, // arm: a mask, not a call
}

type sysnum struct {
	name string
	nr   int64
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gensysnames", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var xsys xsyssrc.Source
	xsys.Flags(fs)
	out := fs.String("out", "zsysnames.go", "output file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := xsys.Resolve(); err != nil {
		return err
	}

	tables := make([][]sysnum, len(arches))
	for i, a := range arches {
		path := filepath.Join(xsys.Dir, "unix", "zsysnum_linux_"+a.file+".go")
		t, err := parseTable(path)
		if err != nil {
			return err
		}
		tables[i] = t
	}
	src, err := generate(xsys.Version, tables)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, src, 0o644)
}

// parseTable returns the SYS_* constants of one zsysnum file, sorted by
// number.
func parseTable(path string) ([]sysnum, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var t []sysnum
	seen := map[int64]string{}
	for vs := range xsyssrc.Consts(f) {
		for i, id := range vs.Names {
			if !strings.HasPrefix(id.Name, "SYS_") || skip[id.Name] {
				continue
			}
			if i >= len(vs.Values) {
				return nil, fmt.Errorf("%s: %s has no value", fset.Position(id.Pos()), id.Name)
			}
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.INT {
				return nil, fmt.Errorf("%s: %s is not an integer literal", fset.Position(id.Pos()), id.Name)
			}
			nr, err := strconv.ParseInt(lit.Value, 0, 32)
			if err != nil || nr < 0 {
				return nil, fmt.Errorf("%s: %s: bad number %s", fset.Position(id.Pos()), id.Name, lit.Value)
			}
			name := strings.ToLower(strings.TrimPrefix(id.Name, "SYS_"))
			if prev, dup := seen[nr]; dup {
				return nil, fmt.Errorf("%s: %s and %s share number %d", fset.Position(id.Pos()), prev, name, nr)
			}
			seen[nr] = name
			t = append(t, sysnum{name, nr})
		}
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("%s: no SYS_ constants", path)
	}
	sort.Slice(t, func(i, j int) bool { return t[i].nr < t[j].nr })
	return t, nil
}

func generate(version string, tables [][]sysnum) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by \"go run ../cmd/gensysnames\" from golang.org/x/sys %s; DO NOT EDIT.\n\n", version)
	b.WriteString("package sysnames\n\nimport \"golang.org/x/sys/unix\"\n\n")

	// Native: the ABI a Go program runs with on each GOARCH.
	b.WriteString("// nativeArch maps runtime.GOARCH to the AUDIT_ARCH of its native system call ABI.\n")
	b.WriteString("func nativeArch(goarch string) uint32 {\n\tswitch goarch {\n")
	for _, a := range arches {
		fmt.Fprintf(&b, "\tcase %q:\n\t\treturn unix.%s\n", a.goarch, a.audit)
	}
	b.WriteString("\t}\n\treturn 0\n}\n\n")

	b.WriteString("// lookup returns the table of arch, or nil.\n")
	b.WriteString("func lookup(arch uint32) *table {\n\tswitch arch {\n")
	for _, a := range arches {
		fmt.Fprintf(&b, "\tcase unix.%s:\n\t\treturn &tab_%s\n", a.audit, a.file)
	}
	b.WriteString("\t}\n\treturn nil\n}\n\n")

	b.WriteString("// tables lists every table, in a fixed order.\n")
	b.WriteString("var tables = [...]*table{")
	for _, a := range arches {
		fmt.Fprintf(&b, "&tab_%s, ", a.file)
	}
	b.WriteString("}\n\n")

	for i, a := range arches {
		t := tables[i]
		base := t[0].nr
		last := t[len(t)-1].nr
		fmt.Fprintf(&b, "// tab_%s is from zsysnum_linux_%s.go (%d calls).\n", a.file, a.file, len(t))
		fmt.Fprintf(&b, "var tab_%s = table{\n", a.file)
		fmt.Fprintf(&b, "\tarch: unix.%s,\n\tname: %q,\n\tscmp: %q,\n\tbase: %d,\n", a.audit, a.name, a.scmp, base)
		b.WriteString("\tnames: []string{\n")
		j := 0
		for nr := base; nr <= last; nr++ {
			if t[j].nr == nr {
				fmt.Fprintf(&b, "\t\t%d: %q,\n", nr-base, t[j].name)
				j++
			}
		}
		b.WriteString("\t},\n")
		b.WriteString("\tbyName: []entry{\n")
		sorted := append([]sysnum(nil), t...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
		for k, s := range sorted {
			if k > 0 && sorted[k-1].name == s.name {
				return nil, fmt.Errorf("%s: name %q appears twice", a.file, s.name)
			}
			fmt.Fprintf(&b, "\t\t{%q, %d},\n", s.name, s.nr)
		}
		b.WriteString("\t},\n")
		if a.file == "amd64" {
			// x32 names: the x86_64 numbers x32 shares, with the x32 bit and
			// marked, and x32's own numbers (see x32Calls). Kept as literals
			// so that Name never builds a string.
			own := map[string]bool{}
			for _, c := range x32Calls {
				own[c.name] = true
			}
			b.WriteString("\tx32: []string{\n")
			j := 0
			for nr := base; nr <= last; nr++ {
				if t[j].nr == nr {
					if !own[t[j].name] {
						fmt.Fprintf(&b, "\t\t%d: %q,\n", nr-base, t[j].name+x32Suffix)
					}
					j++
				}
			}
			for _, c := range x32Calls {
				if c.nr <= last {
					return nil, fmt.Errorf("x32 call %s (%d) overlaps the x86_64 table", c.name, c.nr)
				}
				fmt.Fprintf(&b, "\t\t%d: %q,\n", c.nr-base, c.name+x32Suffix)
			}
			b.WriteString("\t},\n")
		}
		b.WriteString("}\n\n")
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, errors.Join(errors.New("formatting generated code"), err)
	}
	return src, nil
}

// x32Suffix marks names of x32 calls (must match sysnames.X32Suffix).
const x32Suffix = " (x32)"

// x32Calls are the calls x32 has numbers of its own for (the "x32" lines of
// the kernel's arch/x86/entry/syscalls/syscall_64.tbl): their x86_64
// numbers are "64" lines, which the kernel refuses for x32 callers. x/sys
// has no x32 table, so the list lives here.
var x32Calls = []sysnum{
	{"rt_sigaction", 512}, {"rt_sigreturn", 513}, {"ioctl", 514}, {"readv", 515},
	{"writev", 516}, {"recvfrom", 517}, {"sendmsg", 518}, {"recvmsg", 519},
	{"execve", 520}, {"ptrace", 521}, {"rt_sigpending", 522}, {"rt_sigtimedwait", 523},
	{"rt_sigqueueinfo", 524}, {"sigaltstack", 525}, {"timer_create", 526}, {"mq_notify", 527},
	{"kexec_load", 528}, {"waitid", 529}, {"set_robust_list", 530}, {"get_robust_list", 531},
	{"vmsplice", 532}, {"move_pages", 533}, {"preadv", 534}, {"pwritev", 535},
	{"rt_tgsigqueueinfo", 536}, {"recvmmsg", 537}, {"sendmmsg", 538}, {"process_vm_readv", 539},
	{"process_vm_writev", 540}, {"setsockopt", 541}, {"getsockopt", 542}, {"io_setup", 543},
	{"io_submit", 544}, {"execveat", 545}, {"preadv2", 546}, {"pwritev2", 547},
}
