package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
)

// SystemShorthand is the read-list item that stands for the paths of
// emulate.SystemPaths: the dynamic loader's libraries and configuration,
// locales, time zones, user and group names, terminal descriptions, the
// file systems and CPUs of the machine, and the devices anybody may use.
const SystemShorthand = "@system"

// ParseFileLists builds the file policy of the seccomp-stream command's
// --allow-read and --allow-write flags: each element of read and write is
// one flag's value, a list of absolute paths separated by commas (see the
// package documentation, "File policies"). "@system" in a read list
// stands for emulate.SystemPaths. It returns nil, and no error, when both
// are empty: no file policy. Errors name the flag and the item: an empty
// item, a relative path, a "." or ".." component, "@system" in a write
// list.
func ParseFileLists(read, write []string) (*emulate.FilePolicy, error) {
	if len(read) == 0 && len(write) == 0 {
		return nil, nil
	}
	p := new(emulate.FilePolicy)
	var err error
	for _, l := range read {
		if p.Read, err = addFileItems(p.Read, "--allow-read", strings.Split(l, ","), true); err != nil {
			return nil, err
		}
	}
	for _, l := range write {
		if p.Write, err = addFileItems(p.Write, "--allow-write", strings.Split(l, ","), false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// addFileItems checks items (where says whence they come) and appends
// them to paths, with "@system" expanded where system is set.
func addFileItems(paths []string, where string, items []string, system bool) ([]string, error) {
	for _, item := range items {
		s := strings.TrimSpace(item)
		switch {
		case s == SystemShorthand && system:
			paths = append(paths, emulate.SystemPaths()...)
			continue
		case s == SystemShorthand:
			return nil, fmt.Errorf("%s %q: %s is for reading only (it goes in --allow-read, \"read\")", where, item, SystemShorthand)
		case s == "":
			return nil, fmt.Errorf("%s: empty item in the list (two commas, or a comma at an end)", where)
		}
		if err := (emulate.FilePolicy{Read: []string{s}}).Validate(); err != nil {
			// The message of Validate, without its "read[0]" position.
			msg := err.Error()
			if i := strings.LastIndex(msg, ": "); i >= 0 {
				msg = msg[i+2:]
			}
			return nil, fmt.Errorf("%s %q: %s", where, s, msg)
		}
		paths = append(paths, s)
	}
	return paths, nil
}

// mergeFiles returns the union of two file policies; nil when both are.
func mergeFiles(a, b *emulate.FilePolicy) *emulate.FilePolicy {
	if a == nil && b == nil {
		return nil
	}
	out := new(emulate.FilePolicy)
	for _, p := range []*emulate.FilePolicy{a, b} {
		if p != nil {
			out.Read = append(out.Read, p.Read...)
			out.Write = append(out.Write, p.Write...)
		}
	}
	return out
}

// validateFiles checks a rule set's file policy: its paths, and that no
// call it carries out is allowed by name (the kernel would then run it
// unchecked).
func (r *Rules) validateFiles(prefix string) error {
	if r.Files == nil {
		return nil
	}
	if err := r.Files.Validate(); err != nil {
		return fmt.Errorf("%sfiles: %w", prefix, err)
	}
	if _, ok := r.Intercepts[InterceptMknod]; ok {
		return fmt.Errorf("%sintercepts.mknod: does not go with a file policy, which carries out mknod and mknodat itself (and creates no device node)", prefix)
	}
	fs, err := emulate.NewFiles(*r.Files)
	if err != nil {
		return fmt.Errorf("%sfiles: %w", prefix, err)
	}
	return r.checkNotAllowed(prefix, "file", fs.Syscalls())
}

// checkNotAllowed refuses an "allow" by name of a call that a policy of
// package emulate decides (what names): the kernel would run it
// unchecked.
func (r *Rules) checkNotAllowed(prefix, what string, names []string) error {
	for _, name := range names {
		if a, ok := r.Syscalls[name]; ok && a == Allow {
			return fmt.Errorf("%ssyscalls.%s: \"allow\" would let the kernel run %s unchecked under the %s policy (use \"trace\", or leave it out)", prefix, name, name, what)
		}
	}
	return nil
}

// emulatedPolicy is the handler of a policy of package emulate (Files,
// Network): the calls it decides and how.
type emulatedPolicy interface {
	seccompstream.Handler
	Syscalls() []string
}

// emulatedRoute is the route of a call a policy of package emulate
// decides: the call is shown after it was decided when the rule set
// traces it, and shown as a refusal (by the OnDeny of routeEmulated) when
// the policy refused it.
type emulatedRoute struct {
	h seccompstream.Handler
	a Action // Trace or Allow
}

func (r emulatedRoute) action(*seccompstream.Notification) Action { return r.a }

func (r emulatedRoute) ServeNotification(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
	return r.h.ServeNotification(ctx, n)
}

// routeEmulated adds the routes of the policy newPolicy makes (given the
// OnDeny option to use) to m: every call the policy decides, unless the
// rule set denies it by name (then the deny route stays). The refusals
// are shown through show, except for the calls whose route shows
// everything anyway.
func (r *Rules) routeEmulated(m *seccompstream.Mux, show ShowFunc, newPolicy func(emulate.Option) (emulatedPolicy, error)) error {
	onDeny := func(ctx context.Context, n *seccompstream.Notification, resp seccompstream.Response) {
		if show == nil {
			return
		}
		if h, _ := m.Handler(n); h != nil {
			if rt, ok := h.(router); ok && rt.action(n).Shown() {
				return // the show middleware shows it
			}
		}
		show(ctx, n, resp)
	}
	p, err := newPolicy(emulate.OnDeny(onDeny))
	if err != nil {
		return err
	}
	for _, name := range p.Syscalls() {
		a, named := r.Syscalls[name]
		switch {
		case named && a.kind == kindDeny:
			continue
		case named:
			// Trace (Allow is refused by Validate).
		case r.Default == Trace:
			a = Trace
		default:
			a = Allow
		}
		if !seccompstream.KnownSyscall(name) { // the policy names calls of every ABI (stat64 is i386's)
			continue
		}
		if h, routed := m.Handler(probe(name)); routed {
			// Another policy of the rule set decides it too: the calls
			// both refuse (io_uring_setup, ...).
			if _, ok := h.(emulatedRoute); ok {
				continue
			}
		}
		m.Handle(name, emulatedRoute{h: p, a: a})
	}
	return nil
}

// routeFiles adds the routes of r's file policy to m (see routeEmulated).
func (r *Rules) routeFiles(m *seccompstream.Mux, show ShowFunc) error {
	return r.routeEmulated(m, show, func(o emulate.Option) (emulatedPolicy, error) {
		return emulate.NewFiles(*r.Files, o)
	})
}

// parseFilesJSON reads the "files" field of a rule set: each item one
// path or "@system" (read only), as in the --allow-read and --allow-write
// lists but without commas between items.
func parseFilesJSON(where string, f *filesJSON) (*emulate.FilePolicy, error) {
	if f == nil {
		return nil, nil
	}
	p := new(emulate.FilePolicy)
	var err error
	if p.Read, err = addFileItems(nil, where+".read", f.Read, true); err != nil {
		return nil, err
	}
	if p.Write, err = addFileItems(nil, where+".write", f.Write, false); err != nil {
		return nil, err
	}
	return p, nil
}
