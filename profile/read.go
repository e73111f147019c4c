package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/errnames"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// An Error is a problem with a profile, naming the file and the item. The
// readers return it, and pass it as a warning for what they skip.
type Error struct {
	// File is the profile's file name, "" when the profile did not come
	// from a file (FromOCI).
	File string
	// Item names the JSON item, e.g. "syscalls[3].names[1]",
	// "defaultAction", "line 4, column 12"; "" for the whole profile.
	Item string
	// Err is what is wrong; it may match ErrUnknownSyscall,
	// ErrUnknownArch, ErrNotAllowlist or a file system error.
	Err error
}

// Error returns "profile: FILE: ITEM: what is wrong".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("profile: ")
	if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	if e.Item != "" {
		b.WriteString(e.Item + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// A ReadOption changes how a profile is read.
type ReadOption func(*readConfig)

type readConfig struct {
	warn func(error)
	caps []string
}

// WithWarnings makes the readers call warn with an *Error for everything
// they skip instead of failing: a system call name that no architecture
// has (runc and crun skip those too), a field no format defines, an
// SCMP_ACT_NOTIFY rule (a seccomp agent decides those calls), a count for
// a call the profile does not have. By default warnings are dropped.
func WithWarnings(warn func(error)) ReadOption {
	return func(c *readConfig) { c.warn = warn }
}

// WithCapabilities sets the capabilities (e.g. "CAP_SYS_ADMIN") that the
// "includes"/"excludes" conditions of Docker's and containers-common's
// profile files are decided against: the container's bounding set.
// Default: none, so rules that only a capability unlocks are left out.
func WithCapabilities(caps ...string) ReadOption {
	return func(c *readConfig) { c.caps = slices.Clone(caps) }
}

// ReadFile reads the profile file name and returns the calls it allows
// (see FromOCI), with the counts the writer stored beside them. Errors are
// *Error values naming the file and the item.
//
// The readers accept these JSON objects:
//
//   - an OCI linux.seccomp object (runtime-spec's specs.LinuxSeccomp), which
//     is also what a Kubernetes "Localhost" profile file and Docker's
//     --security-opt seccomp=FILE hold, with the side field the writer adds;
//   - a whole OCI config.json: its linux.seccomp is read;
//   - Docker's (moby) and containers-common's profile templates: "archMap"
//     (the native architecture's entry is used, with its
//     sub-architectures), "includes"/"excludes" on rules (decided for this
//     machine's architecture and kernel and the WithCapabilities set, as
//     moby decides them), the old single "name", "comment", and
//     containers-common's "defaultErrno" and "errno" names ("ENOSYS") and
//     SCMP_ARCH_NATIVE.
func ReadFile(name string, opts ...ReadOption) (*Profile, error) {
	data, err := readFile(name)
	if err != nil {
		return nil, err
	}
	return Parse(name, data, opts...)
}

// Parse is ReadFile for a profile already in memory; name is used in
// errors ("" for none).
func Parse(name string, data []byte, opts ...ReadOption) (*Profile, error) {
	cfg := newReadConfig(opts)
	r, err := parse(name, data, cfg)
	if err != nil {
		return nil, err
	}
	return r.profile(cfg)
}

// ReadOCIFile reads the profile file name as a runtime would, and returns
// it as an OCI linux.seccomp value with every action, errno and argument
// comparison checked, Docker's and containers-common's extensions decided
// for this machine, and the names that no architecture has left out (with
// a warning). It is what enforcing a profile file starts from; the
// result's Syscalls are the file's rules in order, less the ones left out.
func ReadOCIFile(name string, opts ...ReadOption) (*specs.LinuxSeccomp, error) {
	data, err := readFile(name)
	if err != nil {
		return nil, err
	}
	return ParseOCI(name, data, opts...)
}

// ParseOCI is ReadOCIFile for a profile already in memory; name is used in
// errors ("" for none).
func ParseOCI(name string, data []byte, opts ...ReadOption) (*specs.LinuxSeccomp, error) {
	r, err := parse(name, data, newReadConfig(opts))
	if err != nil {
		return nil, err
	}
	return &r.s, nil
}

// FromOCI returns the calls that an OCI seccomp profile allows: on each of
// its architectures (the native one when it lists none), the names of its
// SCMP_ACT_ALLOW and SCMP_ACT_LOG rules that exist there, with the rules'
// argument comparisons as argument rules (a rule that compares one
// argument twice becomes one rule per comparison, as runc reads it).
// Names no architecture has are skipped with a warning; names that exist
// only on architectures the profile does not list are skipped silently,
// as runtimes do.
//
// The profile must deny by default: a default action of SCMP_ACT_ALLOW,
// SCMP_ACT_LOG or SCMP_ACT_NOTIFY gives an error matching
// ErrNotAllowlist. Rules with other actions (errors, kills, traps) deny
// and are not in the result; so are the default action, flags and
// listener: the writer chooses its own.
func FromOCI(s *specs.LinuxSeccomp, opts ...ReadOption) (*Profile, error) {
	if s == nil {
		return nil, &Error{Err: errors.New("no seccomp profile")}
	}
	cfg := newReadConfig(opts)
	f := &rawProfile{
		DefaultAction:   s.DefaultAction,
		DefaultErrnoRet: s.DefaultErrnoRet,
		Architectures:   s.Architectures,
		Flags:           s.Flags,
		ListenerPath:    s.ListenerPath,
		ListenerMeta:    s.ListenerMetadata,
	}
	for _, sc := range s.Syscalls {
		f.rules = append(f.rules, rawSyscall{Names: sc.Names, Action: sc.Action, ErrnoRet: sc.ErrnoRet, Args: sc.Args})
	}
	r, err := resolve("", "", f, cfg)
	if err != nil {
		return nil, err
	}
	return r.profile(cfg)
}

func newReadConfig(opts []ReadOption) *readConfig {
	cfg := &readConfig{warn: func(error) {}}
	for _, o := range opts {
		o(cfg)
	}
	if cfg.warn == nil {
		cfg.warn = func(error) {}
	}
	return cfg
}

func readFile(name string) ([]byte, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
		}
		return nil, &Error{File: name, Err: err}
	}
	return data, nil
}

// rawProfile is the union of the formats' top-level fields.
type rawProfile struct {
	DefaultAction   specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet *uint                    `json:"defaultErrnoRet"`
	DefaultErrno    string                   `json:"defaultErrno"` // containers-common
	Architectures   []specs.Arch             `json:"architectures"`
	ArchMap         []rawArchMap             `json:"archMap"` // Docker, containers-common
	Flags           []specs.LinuxSeccompFlag `json:"flags"`
	ListenerPath    string                   `json:"listenerPath"`
	ListenerMeta    string                   `json:"listenerMetadata"`
	Syscalls        []json.RawMessage        `json:"syscalls"`
	Side            *sideInfo                `json:"seccompstream"`

	rules []rawSyscall // decoded Syscalls
}

var profileFields = []string{
	"defaultAction", "defaultErrnoRet", "defaultErrno", "architectures", "archMap", "flags",
	"listenerPath", "listenerMetadata", "syscalls", sideField,
}

type rawArchMap struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

// rawSyscall is the union of the formats' rule fields.
type rawSyscall struct {
	Names    []string                 `json:"names"`
	Name     string                   `json:"name"` // old Docker profiles
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet"`
	Errno    string                   `json:"errno"` // containers-common
	Args     []specs.LinuxSeccompArg  `json:"args"`
	Comment  string                   `json:"comment"`
	Includes *rawCondition            `json:"includes"`
	Excludes *rawCondition            `json:"excludes"`
}

var syscallFields = []string{"names", "name", "action", "errnoRet", "errno", "args", "comment", "includes", "excludes"}

// rawCondition is Docker's and containers-common's rule condition.
type rawCondition struct {
	Caps      []string `json:"caps"`
	Arches    []string `json:"arches"`
	MinKernel string   `json:"minKernel"`
}

// resolved is a checked profile in OCI form.
type resolved struct {
	file     string
	s        specs.LinuxSeccomp
	items    []string // items[i] names s.Syscalls[i] in the source
	coverage map[specs.Arch]map[string]uint64
}

// parse decodes data in any of the accepted formats and resolves it.
func parse(file string, data []byte, cfg *readConfig) (*resolved, error) {
	fail := func(item string, err error) error { return &Error{File: file, Item: item, Err: err} }
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fail("", errors.New("empty file"))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fail(jsonError(data, "", err))
	}
	if top == nil {
		return nil, fail("", errors.New("null is not a seccomp profile"))
	}
	prefix := ""
	obj := data
	if linux, ok := top["linux"]; ok && top["defaultAction"] == nil {
		// A whole config.json.
		var l struct {
			Seccomp json.RawMessage `json:"seccomp"`
		}
		if err := json.Unmarshal(linux, &l); err != nil {
			return nil, fail(jsonError(linux, "linux", err))
		}
		if len(l.Seccomp) == 0 || string(l.Seccomp) == "null" {
			return nil, fail("linux", errors.New("config.json has no linux.seccomp"))
		}
		prefix = "linux.seccomp."
		obj = l.Seccomp
		top = nil
		if err := json.Unmarshal(obj, &top); err != nil || top == nil {
			return nil, fail("linux.seccomp", errors.New("not a JSON object"))
		}
	}
	warnUnknown(top, profileFields, func(k string) {
		cfg.warn(&Error{File: file, Item: prefix + k, Err: errors.New("unknown field: ignored")})
	})
	var f rawProfile
	if err := json.Unmarshal(obj, &f); err != nil {
		return nil, fail(jsonError(obj, strings.TrimSuffix(prefix, "."), err))
	}
	for i, raw := range f.Syscalls {
		item := fmt.Sprintf("%ssyscalls[%d]", prefix, i)
		var sc rawSyscall
		if err := json.Unmarshal(raw, &sc); err != nil {
			return nil, fail(jsonError(raw, item, err))
		}
		var keys map[string]json.RawMessage
		if json.Unmarshal(raw, &keys) == nil {
			warnUnknown(keys, syscallFields, func(k string) {
				cfg.warn(&Error{File: file, Item: item + "." + k, Err: errors.New("unknown field: ignored")})
			})
		}
		f.rules = append(f.rules, sc)
	}
	return resolve(file, prefix, &f, cfg)
}

func warnUnknown(m map[string]json.RawMessage, known []string, warn func(string)) {
	var unknown []string
	for k := range m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		warn(k)
	}
}

// jsonError turns a decoding error into an item and a message in the
// profile's terms: where it is (line and column, the field) and what was
// expected.
func jsonError(data []byte, item string, err error) (string, error) {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the bad byte itself.
		return joinItem(item, position(data, syn.Offset-1)), errors.New(strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			where = position(data, typ.Offset)
		}
		return joinItem(item, where), fmt.Errorf("%s where %s was expected", typ.Value, jsonKind(typ.Type))
	}
	return item, err
}

func joinItem(item, sub string) string {
	switch {
	case item == "":
		return sub
	case sub == "":
		return item
	}
	return item + "." + sub
}

func position(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Sprintf("line %d, column %d", line, col)
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Bool:
		return "true or false"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a non-negative integer"
}

// resolve checks a decoded profile and applies the format extensions.
func resolve(file, prefix string, f *rawProfile, cfg *readConfig) (*resolved, error) {
	fail := func(item string, err error) error { return &Error{File: file, Item: prefix + item, Err: err} }
	warn := func(item string, err error) { cfg.warn(&Error{File: file, Item: prefix + item, Err: err}) }
	r := &resolved{file: file}
	s := &r.s

	if f.DefaultAction == "" {
		return nil, fail("defaultAction", errors.New("missing"))
	}
	errnoRet, inName, err := errnoOf(f.DefaultAction, f.DefaultErrnoRet, f.DefaultErrno)
	if err != nil {
		if inName {
			return nil, fail("defaultErrno", err)
		}
		return nil, fail("defaultAction", err)
	}
	s.DefaultAction, s.DefaultErrnoRet = f.DefaultAction, errnoRet

	if len(f.Architectures) > 0 && len(f.ArchMap) > 0 {
		return nil, fail("archMap", errors.New(`both "architectures" and "archMap" given`))
	}
	native, err := nativeArch()
	if err != nil {
		return nil, fail("architectures", err)
	}
	arches := f.Architectures
	for i, am := range f.ArchMap {
		for _, a := range append([]specs.Arch{am.Arch}, am.SubArches...) {
			if !knownArch(a) {
				return nil, fail(fmt.Sprintf("archMap[%d]", i), fmt.Errorf("%w %q", ErrUnknownArch, a))
			}
		}
	}
	for _, am := range f.ArchMap {
		if am.Arch == native {
			// As moby does: the native entry, with its sub-architectures.
			arches = append([]specs.Arch{am.Arch}, am.SubArches...)
			break
		}
	}
	for i, a := range arches {
		if a == archNative {
			a = native
		}
		if !knownArch(a) {
			return nil, fail(fmt.Sprintf("architectures[%d]", i), fmt.Errorf("%w %q", ErrUnknownArch, a))
		}
		if !slices.Contains(s.Architectures, a) {
			s.Architectures = append(s.Architectures, a)
		}
	}
	s.Flags = f.Flags
	s.ListenerPath, s.ListenerMetadata = f.ListenerPath, f.ListenerMeta

	var kernel *[2]uint64 // the running kernel's version, read once if needed
	for i, sc := range f.rules {
		item := fmt.Sprintf("syscalls[%d]", i)
		names := sc.Names
		if sc.Name != "" {
			if len(names) > 0 {
				return nil, fail(item, errors.New(`both "name" and "names" given`))
			}
			names = []string{sc.Name}
		}
		if sc.Action == "" {
			return nil, fail(item+".action", errors.New("missing"))
		}
		ret, inName, err := errnoOf(sc.Action, sc.ErrnoRet, sc.Errno)
		if err != nil {
			if inName {
				return nil, fail(item+".errno", err)
			}
			return nil, fail(item+".action", err)
		}
		for j, a := range sc.Args {
			if a.Index > 5 {
				return nil, fail(fmt.Sprintf("%s.args[%d].index", item, j), fmt.Errorf("%d out of range (0..5)", a.Index))
			}
			if !knownOp(a.Op) {
				return nil, fail(fmt.Sprintf("%s.args[%d].op", item, j), fmt.Errorf("unknown operator %q", a.Op))
			}
		}
		ok, err := applies(sc, &kernel, cfg)
		if err != nil {
			return nil, fail(item, err)
		}
		if !ok {
			continue // Docker's includes/excludes leave it out here
		}
		var kept []string
		for j, name := range names {
			switch {
			case name == "":
				return nil, fail(fmt.Sprintf("%s.names[%d]", item, j), errors.New("empty system call name"))
			case !sysnames.KnownName(name) && !slices.ContainsFunc(s.Architectures, func(a specs.Arch) bool { return !hasTable(a) }):
				warn(fmt.Sprintf("%s.names[%d]", item, j), fmt.Errorf("%w %q: skipped", ErrUnknownSyscall, name))
			default:
				kept = append(kept, name)
			}
		}
		if len(kept) == 0 {
			continue
		}
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: kept, Action: sc.Action, ErrnoRet: ret, Args: sc.Args})
		r.items = append(r.items, prefix+item)
	}
	if f.Side != nil {
		r.coverage = f.Side.Coverage
	}
	return r, nil
}

// errnoOf checks an action and its errno (a number, or a name such as
// containers-common writes) and returns the errno to keep. inName reports
// that the error is about the name (containers-common's "defaultErrno" or
// "errno" item) rather than the action.
func errnoOf(a specs.LinuxSeccompAction, ret *uint, name string) (_ *uint, inName bool, err error) {
	if name != "" {
		e, err := errnames.Parse(name)
		if err != nil {
			return nil, true, err
		}
		n := uint(e)
		if ret != nil && *ret != n {
			return nil, true, fmt.Errorf("errno %q and errnoRet %d disagree", name, *ret)
		}
		ret = &n
	}
	switch a {
	case specs.ActErrno:
		if ret != nil && *ret > errnames.Max {
			return nil, false, fmt.Errorf("errno %d out of range (0..%d)", *ret, errnames.Max)
		}
	case specs.ActTrace:
		if ret != nil && *ret > 0xffff {
			return nil, false, fmt.Errorf("SCMP_ACT_TRACE value %d out of range (0..65535)", *ret)
		}
	case specs.ActKill, specs.ActKillThread, specs.ActKillProcess, specs.ActTrap,
		specs.ActAllow, specs.ActLog, specs.ActNotify:
		return nil, false, nil
	default:
		return nil, false, fmt.Errorf("unknown action %q", a)
	}
	return ret, false, nil
}

// applies decides a rule's Docker/containers-common conditions for this
// machine, as moby's loader does.
func applies(sc rawSyscall, kernel **[2]uint64, cfg *readConfig) (bool, error) {
	arch := seccompArchName()
	newer := func(what, v string) (bool, error) {
		want, err := parseKernel(v)
		if err != nil {
			return false, fmt.Errorf("%s.minKernel: %w", what, err)
		}
		if *kernel == nil {
			k, err := runningKernel()
			if err != nil {
				return false, err
			}
			*kernel = &k
		}
		k := **kernel
		return k[0] > want[0] || k[0] == want[0] && k[1] >= want[1], nil
	}
	if ex := sc.Excludes; ex != nil {
		if slices.Contains(ex.Arches, arch) {
			return false, nil
		}
		for _, c := range ex.Caps {
			if slices.Contains(cfg.caps, c) {
				return false, nil
			}
		}
		if ex.MinKernel != "" {
			if ok, err := newer("excludes", ex.MinKernel); err != nil || ok {
				return false, err
			}
		}
	}
	if in := sc.Includes; in != nil {
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, arch) {
			return false, nil
		}
		for _, c := range in.Caps {
			if !slices.Contains(cfg.caps, c) {
				return false, nil
			}
		}
		if in.MinKernel != "" {
			if ok, err := newer("includes", in.MinKernel); err != nil || !ok {
				return false, err
			}
		}
	}
	return true, nil
}

// parseKernel parses "MAJOR.MINOR", as Docker's minKernel is written.
func parseKernel(v string) ([2]uint64, error) {
	a, b, ok := strings.Cut(v, ".")
	maj, err1 := strconv.ParseUint(a, 10, 8)
	minor, err2 := strconv.ParseUint(b, 10, 8)
	if !ok || err1 != nil || err2 != nil || strings.Contains(b, ".") || maj == 0 && minor == 0 {
		return [2]uint64{}, fmt.Errorf("kernel version %q is not MAJOR.MINOR", v)
	}
	return [2]uint64{maj, minor}, nil
}

func runningKernel() ([2]uint64, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return [2]uint64{}, fmt.Errorf("uname: %w", err)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	maj, rest, _ := strings.Cut(rel, ".")
	minor := strings.TrimLeftFunc(rest, func(r rune) bool { return r >= '0' && r <= '9' })
	minor = rest[:len(rest)-len(minor)]
	k, err := parseKernel(maj + "." + minor)
	if err != nil {
		return k, fmt.Errorf("running kernel %q: %w", rel, err)
	}
	return k, nil
}

// allowing reports whether an action lets the call run.
func allowing(a specs.LinuxSeccompAction) bool {
	return a == specs.ActAllow || a == specs.ActLog || a == specs.ActNotify
}

// profile turns a resolved profile into the set of calls it allows.
func (r *resolved) profile(cfg *readConfig) (*Profile, error) {
	warn := func(item string, err error) { cfg.warn(&Error{File: r.file, Item: item, Err: err}) }
	if allowing(r.s.DefaultAction) {
		return nil, &Error{File: r.file, Item: "defaultAction", Err: fmt.Errorf("%w: %s lets every call run that no rule names", ErrNotAllowlist, r.s.DefaultAction)}
	}
	arches := r.s.Architectures
	if len(arches) == 0 {
		native, err := nativeArch()
		if err != nil {
			return nil, &Error{File: r.file, Item: "architectures", Err: err}
		}
		arches = []specs.Arch{native}
	}
	p := New()
	for _, a := range arches {
		p.calls(a)
	}
	for i, sc := range r.s.Syscalls {
		switch sc.Action {
		case specs.ActAllow, specs.ActLog:
		case specs.ActNotify:
			warn(r.items[i], errors.New("SCMP_ACT_NOTIFY: a seccomp agent decides these calls; not read as allowed"))
			continue
		default:
			continue // denied
		}
		rules, err := argRules(sc.Args)
		if err != nil {
			return nil, &Error{File: r.file, Item: r.items[i] + ".args", Err: err}
		}
		for _, name := range sc.Names {
			for _, a := range arches {
				if knownCall(a, name) {
					p.add(a, name, 0, rules)
				}
			}
		}
	}
	for _, arch := range slices.Sorted(maps.Keys(r.coverage)) {
		for _, name := range slices.Sorted(maps.Keys(r.coverage[arch])) {
			e, ok := p.arches[arch][name]
			if !ok {
				warn(sideField+".coverage", fmt.Errorf("%s %s is not in the profile: count ignored", arch, name))
				continue
			}
			e.count += r.coverage[arch][name]
		}
	}
	return p, nil
}

// argRules turns an OCI rule's comparisons into argument rules: one rule
// with all of them, or, when an argument index appears more than once, one
// rule per comparison (runc's reading of such a rule).
func argRules(args []specs.LinuxSeccompArg) ([]keyedRule, error) {
	if len(args) == 0 {
		return nil, nil
	}
	var seen [6]bool
	split := false
	for _, a := range args {
		if a.Index < 6 {
			split = split || seen[a.Index]
			seen[a.Index] = true
		}
	}
	groups := []ArgRule{args}
	if split {
		groups = groups[:0]
		for _, a := range args {
			groups = append(groups, ArgRule{a})
		}
	}
	var out []keyedRule
	for _, g := range groups {
		kr, err := g.canonical()
		if err != nil {
			return nil, err
		}
		out = unionRules(out, []keyedRule{kr})
	}
	return out, nil
}
