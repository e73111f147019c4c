// Command gensysargs writes internal/sysargs/zsysargs.go: the argument
// tables of every system call on every ABI internal/sysnames knows, from
// two checked-in sources of truth in internal/sysargs:
//
//   - syscalls.txt: one prototype per call, with argument kinds, and the
//     per-ABI lines where an ABI's entry point differs;
//   - values.txt: the names of flags and constants of each value kind.
//
// The kinds themselves are read from internal/sysargs/kind.go (the word in
// parentheses in each constant's comment), the numbers of the calls from
// internal/sysnames, and the values of the names from golang.org/x/sys/unix,
// whose zerrors_linux_*.go and ztypes_linux_*.go files are read as source
// text for each GOARCH (importing them would give only the arch being
// built).
//
// # ABI rules
//
// The prototypes describe a call as C declares it. Where the arguments land
// in seccomp_data.args follows from the ABI, and is applied here rather
// than written down for each call:
//
//   - one register per parameter, in order;
//   - on a 32-bit ABI (i386, arm, ppc, mips, mipsel) a 64-bit parameter
//     (off64, hex64) takes two registers; on arm, ppc and mips o32 the pair
//     starts at an even register (an odd one is skipped as padding); the
//     low word comes first on little-endian ABIs, the high word on
//     big-endian ones;
//   - a parameter past the sixth register is left out (mips o32 passes up
//     to eight arguments; seccomp sees six);
//   - x32 uses 64-bit registers and 32-bit pointers in memory.
//
// Usage (from internal/sysargs, see its go:generate line):
//
//	go run ../cmd/gensysargs [-sys dir] [-version v] [-out zsysargs.go]
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/seccompstream/seccompstream/internal/cmd/internal/xsyssrc"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gensysargs:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gensysargs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "directory of syscalls.txt, values.txt and kind.go")
	out := fs.String("out", "zsysargs.go", "output file")
	xsys, err := xsyssrc.Parse(fs, args)
	if err != nil {
		return err
	}
	kinds, err := parseKinds(filepath.Join(*dir, "kind.go"))
	if err != nil {
		return err
	}
	protos, err := parseProtos(filepath.Join(*dir, "syscalls.txt"), kinds)
	if err != nil {
		return err
	}
	sets, err := parseValues(filepath.Join(*dir, "values.txt"), kinds)
	if err != nil {
		return err
	}
	abis, err := loadABIs(xsys.Dir)
	if err != nil {
		return err
	}
	g := newGen(xsys.Version, kinds, protos, sets)
	src, err := g.generate(abis)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, src, 0o644)
}

// kindInfo is one Kind constant of kind.go.
type kindInfo struct {
	goName string
	named  bool // its values have a set in values.txt
}

// kindSet is what kind.go defines: the words of the text files, and the
// names of every Kind constant in order.
type kindSet struct {
	words map[string]kindInfo
	names []string
}

// parseKinds reads the Kind constants of kind.go and the words that name
// them in the text files: "Int // (int) ...", "Path // (path) ...". A word
// with the suffix "64" (off64, hex64) names the kind of the word without
// it, 64 bits wide.
func parseKinds(path string) (*kindSet, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	// The named kinds are those between the comments that start with
	// "Named values" and "Pointer kinds".
	var namedFrom, namedTo token.Pos
	for _, c := range f.Comments {
		switch text := c.Text(); {
		case strings.HasPrefix(text, "Named values"):
			namedFrom = c.Pos()
		case strings.HasPrefix(text, "Pointer kinds"):
			namedTo = c.Pos()
		}
	}
	if namedFrom == 0 || namedTo < namedFrom {
		return nil, fmt.Errorf("%s: no \"Named values\" and \"Pointer kinds\" comments around the named kinds", path)
	}
	kinds := map[string]kindInfo{}
	var names []string
	for vs := range xsyssrc.Consts(f) {
		for _, id := range vs.Names {
			if id.Name != "numKinds" {
				names = append(names, id.Name)
			}
		}
		named := vs.Pos() > namedFrom && vs.Pos() < namedTo
		if vs.Comment == nil || len(vs.Names) != 1 {
			continue
		}
		text := strings.TrimSpace(vs.Comment.Text())
		if !strings.HasPrefix(text, "(") {
			continue
		}
		end := strings.Index(text, ")")
		if end < 0 {
			return nil, fmt.Errorf("%s: comment of %s: no closing parenthesis", fset.Position(vs.Pos()), vs.Names[0].Name)
		}
		for w := range strings.SplitSeq(text[1:end], ",") {
			w = strings.TrimSpace(w)
			if _, dup := kinds[w]; dup {
				return nil, fmt.Errorf("%s: kind word %q used twice", fset.Position(vs.Pos()), w)
			}
			kinds[w] = kindInfo{goName: vs.Names[0].Name, named: named}
		}
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("%s: no kinds", path)
	}
	return &kindSet{words: kinds, names: names}, nil
}

// param is one parameter of a prototype line.
type param struct {
	name string
	kind string // Go name of the Kind
	wide bool   // 64 bits on every ABI
	ref  string // name of the parameter it refers to, or ""
}

// proto is one line of syscalls.txt.
type proto struct {
	name   string
	abis   []string // nil: every ABI without a line of its own
	none   bool     // "name -": arguments not described
	params []param
	line   int
}

// parseProtos reads syscalls.txt.
func parseProtos(path string, kinds *kindSet) (map[string][]*proto, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	protos := map[string][]*proto{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, err := parseProto(line, kinds)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		p.line = n
		for _, q := range protos[p.name] {
			if len(q.abis) == 0 && len(p.abis) == 0 {
				return nil, fmt.Errorf("%s:%d: %s described twice (line %d)", path, n, p.name, q.line)
			}
			for _, a := range p.abis {
				if slices.Contains(q.abis, a) {
					return nil, fmt.Errorf("%s:%d: %s described twice for %s (line %d)", path, n, p.name, a, q.line)
				}
			}
		}
		protos[p.name] = append(protos[p.name], p)
	}
	return protos, sc.Err()
}

func parseProto(line string, kinds *kindSet) (*proto, error) {
	p := &proto{}
	if strings.HasPrefix(line, "@") {
		list, rest, ok := strings.Cut(line[1:], " ")
		if !ok {
			return nil, errors.New("ABI list without a prototype")
		}
		p.abis = strings.Split(list, ",")
		line = strings.TrimSpace(rest)
	}
	if name, ok := strings.CutSuffix(line, " -"); ok {
		p.name, p.none = strings.TrimSpace(name), true
		return p, nil
	}
	open := strings.Index(line, "(")
	if open <= 0 || !strings.HasSuffix(line, ")") {
		return nil, fmt.Errorf("want name(params) or name -, have %q", line)
	}
	p.name = line[:open]
	list := strings.TrimSpace(line[open+1 : len(line)-1])
	if list == "" {
		return p, nil
	}
	for item := range strings.SplitSeq(list, ",") {
		f := strings.Fields(item)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s: parameter %q: want \"name kind\"", p.name, strings.TrimSpace(item))
		}
		typ, ref, _ := strings.Cut(f[1], ":")
		k, ok := kinds.words[typ]
		wide := false
		if base, cut := strings.CutSuffix(typ, "64"); cut && !ok {
			k, ok = kinds.words[base]
			wide = ok
		}
		if !ok {
			return nil, fmt.Errorf("%s: parameter %s: unknown kind %q", p.name, f[0], typ)
		}
		if wide && k.goName != "Offset" && k.goName != "Hex" {
			return nil, fmt.Errorf("%s: parameter %s: %s cannot be 64 bits wide", p.name, f[0], typ)
		}
		p.params = append(p.params, param{name: f[0], kind: k.goName, wide: wide, ref: ref})
	}
	for _, q := range p.params {
		if q.ref != "" && !slices.ContainsFunc(p.params, func(r param) bool { return r.name == q.ref }) {
			return nil, fmt.Errorf("%s: parameter %s refers to %q, which it does not have", p.name, q.name, q.ref)
		}
	}
	return p, nil
}

// setDef is one "kind" block of values.txt.
type setDef struct {
	kind   string // Go name of the Kind
	lines  []valueLine
	zero   string
	dec    bool
	octal  string
	signal string
}

type valueLine struct {
	verb  string // field, flags, enum
	mask  string // field: its mask
	items []string
	line  int
}

// parseValues reads values.txt.
func parseValues(path string, kinds *kindSet) ([]*setDef, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var sets []*setDef
	var cur *setDef
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, args...))
		}
		if fields[0] == "kind" {
			if len(fields) != 2 {
				return nil, bad("want \"kind WORD\"")
			}
			k, ok := kinds.words[fields[1]]
			if !ok || !k.named {
				return nil, bad("%q is not a named kind of kind.go", fields[1])
			}
			if seen[k.goName] {
				return nil, bad("kind %s given twice", fields[1])
			}
			seen[k.goName] = true
			cur = &setDef{kind: k.goName}
			sets = append(sets, cur)
			continue
		}
		if cur == nil {
			return nil, bad("%s before any kind line", fields[0])
		}
		switch verb, rest := fields[0], fields[1:]; verb {
		case "flags", "enum":
			cur.lines = append(cur.lines, valueLine{verb: verb, items: rest, line: n})
		case "field":
			if len(rest) < 2 {
				return nil, bad("want \"field MASK NAMES...\"")
			}
			cur.lines = append(cur.lines, valueLine{verb: verb, mask: rest[0], items: rest[1:], line: n})
		case "zero":
			if len(rest) != 1 {
				return nil, bad("want \"zero NAME\"")
			}
			cur.zero = rest[0]
		case "unknown":
			if len(rest) != 1 || rest[0] != "dec" {
				return nil, bad("want \"unknown dec\"")
			}
			cur.dec = true
		case "octal", "signal":
			if len(rest) != 1 {
				return nil, bad("want %q MASK", verb)
			}
			if verb == "octal" {
				cur.octal = rest[0]
			} else {
				cur.signal = rest[0]
			}
		default:
			return nil, bad("unknown directive %q", verb)
		}
	}
	return sets, sc.Err()
}

// abiDef is one system call ABI.
type abiDef struct {
	name    string // sysnames.ArchName, or "x32"
	goarch  string // the GOARCH of its x/sys files
	arch    uint32
	x32     bool
	regs64  bool
	ptrSize int
	le      bool
	pair    bool // 64-bit values start at an even register
	nsig    int
	consts  map[string]uint64
	calls   map[int32]string // number (without the x32 bit) to name
}

// loadABIs finds every ABI sysnames has a table for, with the x/sys
// constants of its GOARCH.
func loadABIs(sysDir string) ([]*abiDef, error) {
	files, err := filepath.Glob(filepath.Join(sysDir, "unix", "zerrors_linux_*.go"))
	if err != nil {
		return nil, err
	}
	byArch := map[uint32]string{}
	for _, f := range files {
		goarch := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "zerrors_linux_"), ".go")
		if arch, ok := sysnames.ArchByName(goarch); ok {
			byArch[arch] = goarch
		}
	}
	var abis []*abiDef
	for _, arch := range sysnames.Arches() {
		goarch, ok := byArch[arch]
		if !ok {
			return nil, fmt.Errorf("no x/sys constants for %s", sysnames.ArchName(arch))
		}
		consts, err := loadConsts(sysDir, goarch)
		if err != nil {
			return nil, err
		}
		name := sysnames.ArchName(arch)
		a := &abiDef{
			name: name, goarch: goarch, arch: arch,
			regs64: sysnames.Is64(arch), le: sysnames.IsLE(arch),
			nsig: 64, consts: consts, calls: map[int32]string{},
		}
		a.ptrSize = 4
		if a.regs64 {
			a.ptrSize = 8
		}
		a.pair = !a.regs64 && name != "i386"
		if strings.HasPrefix(name, "mips") {
			a.nsig = 128
		}
		for _, n := range sysnames.Names(arch) {
			nr, _ := sysnames.Number(arch, n)
			a.calls[nr] = n
		}
		abis = append(abis, a)
		if name == "x86_64" {
			x := *a
			x.name, x.x32, x.ptrSize, x.calls = "x32", true, 4, map[int32]string{}
			for nr := int32(0); nr < 1024; nr++ {
				if n, ok := sysnames.Name(arch, nr|sysnames.X32Bit); ok {
					x.calls[nr] = strings.TrimSuffix(n, sysnames.X32Suffix)
				}
			}
			abis = append(abis, &x)
		}
	}
	return abis, nil
}

// loadConsts reads the integer constants x/sys defines for Linux on goarch.
func loadConsts(sysDir, goarch string) (map[string]uint64, error) {
	consts := map[string]uint64{}
	for _, name := range []string{"constants.go", "zerrors_linux.go", "ztypes_linux.go",
		"zerrors_linux_" + goarch + ".go", "ztypes_linux_" + goarch + ".go"} {
		path := filepath.Join(sysDir, "unix", name)
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for vs := range xsyssrc.Consts(f) {
			for i, id := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				if v, ok := intValue(vs.Values[i]); ok {
					consts[id.Name] = v
				}
			}
		}
	}
	return consts, nil
}

// intValue evaluates an integer literal, a negated one, or a conversion of
// one (syscall.Signal(0x2)).
func intValue(e ast.Expr) (uint64, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.INT {
			return 0, false
		}
		v, err := strconv.ParseUint(e.Value, 0, 64)
		return v, err == nil
	case *ast.UnaryExpr:
		if e.Op != token.SUB {
			return 0, false
		}
		v, ok := intValue(e.X)
		return uint64(-int64(v)), ok
	case *ast.CallExpr:
		if len(e.Args) == 1 {
			return intValue(e.Args[0])
		}
	case *ast.ParenExpr:
		return intValue(e.X)
	}
	return 0, false
}
