package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/internal/errnames"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// Rules is one rule set: an action for each system call it names and a
// default for the others. Names are the kernel's ("openat", "newfstatat",
// "socketcall") and apply on every ABI the kernel runs that has a call of
// that name (see ABIs): a rule for "getpid" decides an x86_64 getpid, an
// i386 one made through int $0x80 and an x32 one, although each ABI numbers
// it differently.
//
// The zero Rules allows every call. Build one with ParseLists, Parse or a
// literal; Handler and Filter turn it into a supervisor.
type Rules struct {
	// Default is the action for calls that Syscalls does not name. The
	// zero Action is Allow.
	Default Action
	// Syscalls maps system call names to their actions.
	Syscalls map[string]Action
	// Intercepts names the ready intercepts (InterceptMknod,
	// InterceptSysinfo) that carry out their calls (package emulate)
	// instead of the default action. A call that Syscalls names keeps
	// its action.
	Intercepts map[string]Intercept
	// Files, when not nil, is a file policy: the calls that use paths
	// are carried out for the program, checked against it (package
	// emulate), whatever Default says; a name in Syscalls may deny or
	// trace them, not allow them. It takes mknod and mknodat itself, so
	// it does not go with the mknod intercept.
	Files *emulate.FilePolicy
	// Network, when not nil, is a network policy: connect, bind and sends
	// to a destination are carried out for the program, checked against
	// it (package emulate), whatever Default says; a name in Syscalls may
	// deny or trace them, not allow them.
	Network *emulate.NetworkPolicy
}

// Action returns the action for the call named name.
func (r *Rules) Action(name string) Action {
	if a, ok := r.Syscalls[name]; ok {
		return a
	}
	return r.Default
}

// Validate reports the first problem that keeps r from being served: a
// name that no ABI of this machine has (the error names it and, where one
// is close, suggests a known name), or a Deny errno outside 1..4095.
func (r *Rules) Validate() error {
	if err := r.validate(ABIs(), ""); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	return nil
}

// validate checks r for abis. Errors say where, as Parse does:
// "default: ...", "syscalls: unknown system call ...",
// "syscalls.mkdir: ...", each after prefix (e.g. "containers[0].").
func (r *Rules) validate(abis []uint32, prefix string) error {
	if err := r.Default.valid(); err != nil {
		return fmt.Errorf("%sdefault: %w", prefix, err)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Intercepts)) {
		if name != InterceptMknod && name != InterceptSysinfo {
			return fmt.Errorf("%sintercepts: unknown intercept %q", prefix, name)
		}
	}
	if err := r.validateFiles(prefix); err != nil {
		return err
	}
	if err := r.validateNetwork(prefix); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(r.Syscalls)) {
		if err := checkName(abis, name); err != nil {
			return fmt.Errorf("%ssyscalls: %w", prefix, err)
		}
		if err := r.Syscalls[name].valid(); err != nil {
			return fmt.Errorf("%ssyscalls.%s: %w", prefix, name, err)
		}
	}
	return nil
}

// denies reports whether some call gets a Deny action while the default
// does not deny.
func (r *Rules) denies() bool {
	if r.Default.kind == kindDeny {
		return false
	}
	for _, a := range r.Syscalls {
		if a.kind == kindDeny {
			return true
		}
	}
	return false
}

// ABIs returns the system call ABIs (AUDIT_ARCH_* values) that a kernel of
// this machine's architecture runs and that rule sets know by name, the
// native one first: x86_64 and i386 on x86_64, aarch64 and arm on aarch64,
// only the native one elsewhere. x32 has no AUDIT_ARCH of its own: it is
// x86_64 with bit 0x40000000 in the call number, and shares x86_64's names.
func ABIs() []uint32 { return abisFor(sysnames.Native()) }

func abisFor(native uint32) []uint32 {
	switch native {
	case unix.AUDIT_ARCH_X86_64:
		return []uint32{native, unix.AUDIT_ARCH_I386}
	case unix.AUDIT_ARCH_AARCH64:
		return []uint32{native, unix.AUDIT_ARCH_ARM}
	}
	return []uint32{native}
}

// archList names abis for messages: "x86_64/i386".
func archList(abis []uint32) string {
	names := make([]string, len(abis))
	for i, a := range abis {
		names[i] = sysnames.ArchName(a)
	}
	return strings.Join(names, "/")
}

// checkName reports a name that none of abis has.
func checkName(abis []uint32, name string) error {
	for _, a := range abis {
		if _, ok := sysnames.Number(a, name); ok {
			return nil
		}
	}
	for _, a := range sysnames.Arches() {
		if _, ok := sysnames.Number(a, name); ok {
			return fmt.Errorf("system call %q does not exist on %s (%s has it)", name, archList(abis), sysnames.ArchName(a))
		}
	}
	hint := ""
	if alt := suggest(abis, name); alt != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", alt)
	} else if strings.Contains(name, ":") {
		hint = " (an :ERRNO goes in a deny list)"
	}
	return fmt.Errorf("unknown system call %q for %s%s", name, archList(abis), hint)
}

// suggest returns a known name close to name: its *at variant, or one that
// differs by a prefix like "new".
func suggest(abis []uint32, name string) string {
	for _, alt := range []string{name + "at", "new" + name, strings.TrimPrefix(name, "sys_"), name + "64"} {
		if alt == name {
			continue
		}
		for _, a := range abis {
			if _, ok := sysnames.Number(a, alt); ok {
				return alt
			}
		}
	}
	return ""
}

// TraceAll is the trace-list item that shows every call: it sets the
// default action to Trace.
const TraceAll = "all"

// ParseLists builds the rule set of the seccomp-stream command's --trace
// and --deny flags: each element of trace and deny is one flag's value, a
// list in the syntax of the package documentation ("Lists"). Calls named in
// a trace list get Trace, those in a deny list get Deny with their errno
// (a name in both is denied), "all" in a trace list makes Trace the
// default, and the default is Allow otherwise. Errors name the flag and the
// item: an unknown name, a bad errno, one name denied with two errnos.
func ParseLists(trace, deny []string) (*Rules, error) {
	return parseLists(ABIs(), trace, deny)
}

func parseLists(abis []uint32, trace, deny []string) (*Rules, error) {
	r := &Rules{Syscalls: make(map[string]Action)}
	for _, list := range trace {
		for item := range strings.SplitSeq(list, ",") {
			name := strings.TrimSpace(item)
			switch {
			case name == "":
				continue
			case name == TraceAll:
				r.Default = Trace
				continue
			}
			if err := checkName(abis, name); err != nil {
				return nil, fmt.Errorf("--trace: %w", err)
			}
			r.Syscalls[name] = Trace
		}
	}
	denied := make(map[string]syscall.Errno)
	setDeny := func(name string, e syscall.Errno) error {
		if prev, ok := denied[name]; ok && prev != e {
			return fmt.Errorf("--deny: %s denied with both %s and %s", name, errnames.Name(prev), errnames.Name(e))
		}
		denied[name] = e
		return nil
	}
	for _, list := range deny {
		// Names waiting for the next :ERRNO of this list (EPERM at its end).
		var pending []string
		for item := range strings.SplitSeq(list, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			name, errs, hasErrno := strings.Cut(item, ":")
			name = strings.TrimSpace(name)
			switch name {
			case "":
				return nil, fmt.Errorf("--deny %q: no system call name before %q", item, ":")
			case TraceAll:
				return nil, fmt.Errorf("--deny: %q is only valid for --trace", TraceAll)
			}
			if err := checkName(abis, name); err != nil {
				return nil, fmt.Errorf("--deny: %w", err)
			}
			pending = append(pending, name)
			if !hasErrno {
				continue
			}
			e, err := errnames.Parse(errs)
			if err != nil {
				return nil, fmt.Errorf("--deny %q: %w", item, err)
			}
			for _, n := range pending {
				if err := setDeny(n, e); err != nil {
					return nil, err
				}
			}
			pending = pending[:0]
		}
		for _, n := range pending {
			if err := setDeny(n, unix.EPERM); err != nil {
				return nil, err
			}
		}
	}
	for name, e := range denied {
		r.Syscalls[name] = Deny(e)
	}
	return r, nil
}
