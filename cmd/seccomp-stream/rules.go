package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/seccompstream/seccompstream/internal/errnames"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// traceAll is the --trace item that traces every system call.
const traceAll = "all"

// rules are what --trace and --deny ask for: calls to show and let run,
// and calls to show and fail with an errno. Build them with parseRules.
//
// The rule syntax, shared by the run and agent subcommands:
//
//	--trace LIST   LIST is comma-separated system call names ("openat,execve"),
//	               or "all" for every call
//	--deny LIST    comma-separated items NAME or NAME:ERRNO, where ERRNO is
//	               a name ("EACCES", case-insensitive) or a number; the
//	               default errno is EPERM
//
// Both flags may be repeated; their lists add up. A call named in both is
// denied. Names are the kernel's for the native architecture (x86_64:
// "openat", "newfstatat", ...); an unknown name is an error.
type rules struct {
	arch  uint32
	all   bool                     // --trace all
	trace []string                 // in the order given, without duplicates
	deny  map[string]syscall.Errno // name -> errno
	order []string                 // deny names in the order given
}

// parseRules parses the values of the --trace and --deny flags (each
// element one flag's value) for the native architecture.
func parseRules(trace, deny []string) (*rules, error) {
	return parseRulesArch(sysnames.Native(), trace, deny)
}

func parseRulesArch(arch uint32, trace, deny []string) (*rules, error) {
	r := &rules{arch: arch, deny: make(map[string]syscall.Errno)}
	for _, list := range trace {
		for item := range strings.SplitSeq(list, ",") {
			name := strings.TrimSpace(item)
			if name == "" {
				continue
			}
			if name == traceAll {
				r.all = true
				continue
			}
			if err := r.checkName("--trace", name); err != nil {
				return nil, err
			}
			if !slices.Contains(r.trace, name) {
				r.trace = append(r.trace, name)
			}
		}
	}
	for _, list := range deny {
		for item := range strings.SplitSeq(list, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			name, errs, hasErrno := strings.Cut(item, ":")
			name = strings.TrimSpace(name)
			if err := r.checkName("--deny", name); err != nil {
				return nil, err
			}
			e := syscall.Errno(unix.EPERM)
			if hasErrno {
				var err error
				if e, err = errnames.Parse(errs); err != nil {
					return nil, fmt.Errorf("--deny %q: %w", item, err)
				}
			}
			if prev, ok := r.deny[name]; ok && prev != e {
				return nil, fmt.Errorf("--deny: %s denied with both %s and %s", name, errnoString(prev), errnoString(e))
			}
			if _, ok := r.deny[name]; !ok {
				r.order = append(r.order, name)
			}
			r.deny[name] = e
		}
	}
	return r, nil
}

func (r *rules) checkName(flag, name string) error {
	if name == traceAll && flag == "--deny" {
		return fmt.Errorf("%s: %q is only valid for --trace", flag, name)
	}
	if _, ok := sysnames.Number(r.arch, name); !ok {
		hint := ""
		if alt := suggest(r.arch, name); alt != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", alt)
		}
		return fmt.Errorf("%s: unknown system call %q for %s%s", flag, name, sysnames.ArchName(r.arch), hint)
	}
	return nil
}

// suggest returns a known name close to name: the *at variant, or one
// that differs by a prefix like "new".
func suggest(arch uint32, name string) string {
	for _, alt := range []string{name + "at", "new" + name, strings.TrimPrefix(name, "sys_"), name + "64"} {
		if alt == name {
			continue
		}
		if _, ok := sysnames.Number(arch, alt); ok {
			return alt
		}
	}
	return ""
}

// errnoString names an errno ("EACCES"), or gives its number.
func errnoString(e syscall.Errno) string {
	if name := unix.ErrnoName(e); name != "" {
		return name
	}
	return strconv.Itoa(int(e))
}

// empty reports whether the rules ask for nothing.
func (r *rules) empty() bool { return !r.all && len(r.trace) == 0 && len(r.deny) == 0 }

// filter returns the filter that notifies every call the rules name (all
// calls with --trace all), and allows the rest. Denied calls are notified
// too, so that they can be shown, and decide answers them with their errno.
func (r *rules) filter() (*filter.Filter, error) {
	def := filter.Allow
	if r.all {
		def = filter.Notify
	}
	f := filter.New(def)
	names := slices.Concat(r.trace, r.order)
	if len(names) > 0 && !r.all {
		if err := f.Add(filter.Notify, slices.Compact(slices.Sorted(slices.Values(names)))...); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// decide returns the answer for a call by its name: the errno of a denied
// call, Continue for everything else (traced, or not named at all, as in
// a filter the rules did not build).
func (r *rules) decide(name string) seccompstream.Response {
	if e, ok := r.deny[name]; ok {
		return seccompstream.Errno(e)
	}
	return seccompstream.Continue()
}

// traces reports whether calls named name are shown.
func (r *rules) traces(name string) bool {
	if r.all {
		return true
	}
	if _, ok := r.deny[name]; ok {
		return true
	}
	return slices.Contains(r.trace, name)
}

// stringFlag collects the values of a flag that may be repeated.
type stringFlag []string

func (s *stringFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringFlag) Set(v string) error { *s = append(*s, v); return nil }
