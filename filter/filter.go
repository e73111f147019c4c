// Package filter builds seccomp BPF programs in pure Go: rules map system
// calls, by name and optionally by argument values, to actions, behind a
// check of the calling ABI. It installs them on the calling thread, with a
// user-notification listener if asked. Package filter/oci loads OCI
// (Docker, Podman) seccomp profiles into a Filter.
//
//	f := filter.New(filter.Allow)
//	f.Add(filter.Notify, "openat", "connect")
//	f.AddIf(filter.Errno(unix.EPERM), "umask", filter.Arg(0).Eq(0))
//	f.AddIf(filter.Notify, "umask", filter.Arg(0).Ne(0))
//
// # Which rule wins
//
// The program decides each call in this order:
//
//  1. The ABI: seccomp_data.arch must be the filter's native arch or one
//     added with AddArch, and on x86_64 the call number must not carry the
//     x32 bit (0x40000000; the number -1 is let through). Otherwise the
//     mismatch action is taken (KillProcess unless SetMismatchAction says
//     otherwise).
//  2. The conditional rules of the call (AddIf with conditions). A rule
//     matches when all its conditions hold. If several match, the strongest
//     action wins, by the kernel's own precedence: KillProcess, KillThread,
//     Trap, Errno, Notify, Trace, Log, Allow. Between two Errno (or Trace)
//     rules that both match, the one added first wins. So the outcome never
//     depends on the order of rules with different kinds of action.
//  3. The unconditional rule of the call (Add, or AddIf without
//     conditions), if it has one. A call has at most one: adding another
//     with a different action is an error.
//  4. The default action given to New.
//
// # Names and architectures
//
// Names are the kernel's, as in libseccomp and x/sys ("openat",
// "newfstatat"), resolved for each arch of the filter from tables generated
// from golang.org/x/sys. A rule whose name exists on some arches of the
// filter but not others applies where it exists (a filter for x86_64 and
// i386 may name "socketcall"); a name that exists on none of them is an
// error.
//
// # Installing
//
// A filter applies to the thread that installs it (to all threads with
// WithTSync), to the children that thread creates and to the programs it
// executes, and can never be removed. In Go, call runtime.LockOSThread
// first and let the goroutine end without unlocking, so that the runtime
// retires the filtered thread; see InstallProgram. Launching a command
// under a filter is seccompstream.Start's job. For other tools, Assemble
// and MarshalBinary give the raw program.
package filter

import (
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/kernel"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// ErrNotSupported is matched (errors.Is) by every error that reports a
// kernel feature the running kernel lacks. It is the same value as
// seccompstream.ErrNotSupported.
var ErrNotSupported = kernel.ErrNotSupported

// UnsupportedFeatureError reports a kernel feature the running kernel does
// not have, with the first Linux version that has it. It matches
// ErrNotSupported. It is the same type as
// seccompstream.UnsupportedFeatureError.
type UnsupportedFeatureError = kernel.UnsupportedFeatureError

// Filter is a set of rules and the actions around them. Build it with New
// (the zero Filter is not usable), add rules, then Assemble or Install it.
// Assemble, MarshalBinary, HasNotify and Install may run concurrently with
// each other, but not with the methods that change the filter.
type Filter struct {
	def      Action
	mismatch Action
	arches   []uint32 // arches[0] is the native arch
	rules    []rule   // conditional rules, in the order added
	uncond   map[string]Action
}

// rule is one conditional rule.
type rule struct {
	name   string
	action Action
	conds  []Cond
}

// New returns a filter for the running program's native ABI that takes
// defaultAction for every call no rule decides.
//
// An invalid defaultAction (an Errno above 4095) is reported by Assemble
// and Install.
func New(defaultAction Action) *Filter {
	return newFilter(defaultAction, sysnames.Native())
}

func newFilter(def Action, native uint32) *Filter {
	return &Filter{
		def:      def,
		mismatch: KillProcess,
		arches:   []uint32{native},
		uncond:   make(map[string]Action),
	}
}

// NewForArch is like New for the ABI arch (an AUDIT_ARCH_* value), for
// building programs that run elsewhere (see MarshalBinary). Such a filter
// can be assembled but installing it on another architecture makes every
// call take the mismatch action.
func NewForArch(defaultAction Action, arch uint32) (*Filter, error) {
	if !sysnames.Known(arch) {
		return nil, fmt.Errorf("filter: no system call table for %s", sysnames.ArchName(arch))
	}
	return newFilter(defaultAction, arch), nil
}

// DefaultAction returns the action for calls no rule decides.
func (f *Filter) DefaultAction() Action { return f.def }

// SetMismatchAction sets the action for calls from an ABI the filter does
// not know (another arch, or x32 on x86_64). The default is KillProcess.
func (f *Filter) SetMismatchAction(a Action) error {
	if err := a.valid(); err != nil {
		return err
	}
	f.mismatch = a
	return nil
}

// MismatchAction returns the action for calls from an ABI the filter does
// not know.
func (f *Filter) MismatchAction() Action { return f.mismatch }

// AddArch lets calls through the ABI arch (an AUDIT_ARCH_* value, e.g.
// unix.AUDIT_ARCH_I386 on x86_64) reach the rules, which are then matched in
// that ABI's own numbering. x32 cannot be added.
func (f *Filter) AddArch(arch uint32) error {
	if !sysnames.Known(arch) {
		return fmt.Errorf("filter: no system call table for %s", sysnames.ArchName(arch))
	}
	if !slices.Contains(f.arches, arch) {
		f.arches = append(f.arches, arch)
	}
	return nil
}

// Arches returns the ABIs the filter lets through, the native one first.
func (f *Filter) Arches() []uint32 { return slices.Clone(f.arches) }

// HasNotify reports whether any call can get the Notify action: a rule's,
// the default or the mismatch action. A filter with Notify needs a
// listener (WithListener) to be useful.
func (f *Filter) HasNotify() bool {
	if f.def == Notify || f.mismatch == Notify {
		return true
	}
	for _, a := range f.uncond {
		if a == Notify {
			return true
		}
	}
	for _, r := range f.rules {
		if r.action == Notify {
			return true
		}
	}
	return false
}

// Add gives the calls named in syscalls the action a, whatever their
// arguments. A name that no arch of the filter has, or a call that has an
// unconditional rule with another action already, is an error, and then
// none of the names is added.
func (f *Filter) Add(a Action, syscalls ...string) error {
	if err := a.valid(); err != nil {
		return err
	}
	for _, name := range syscalls {
		if err := f.checkName(name); err != nil {
			return err
		}
		if prev, ok := f.uncond[name]; ok && prev != a {
			return fmt.Errorf("filter: %s already has the unconditional action %v, cannot add %v", name, prev, a)
		}
	}
	for _, name := range syscalls {
		f.uncond[name] = a
	}
	return nil
}

// AddIf gives the call named syscall the action a when all of conds hold.
// Without conds it is Add. Several conditional rules for one call, with
// different actions, are normal; see the package documentation for which
// wins when more than one matches.
func (f *Filter) AddIf(a Action, syscall string, conds ...Cond) error {
	if len(conds) == 0 {
		return f.Add(a, syscall)
	}
	if err := a.valid(); err != nil {
		return err
	}
	if err := f.checkName(syscall); err != nil {
		return err
	}
	for _, c := range conds {
		if err := c.valid(); err != nil {
			return fmt.Errorf("%w (rule for %s)", err, syscall)
		}
	}
	f.rules = append(f.rules, rule{name: syscall, action: a, conds: slices.Clone(conds)})
	return nil
}

// checkName reports a name that no arch of the filter has.
func (f *Filter) checkName(name string) error {
	if f.knownHere(name) {
		return nil
	}
	if sysnames.KnownName(name) {
		return fmt.Errorf("filter: syscall %q does not exist on %s", name, f.archList())
	}
	return fmt.Errorf("filter: unknown syscall %q for %s", name, f.archList())
}

// knownHere reports whether an arch of the filter has the call name.
func (f *Filter) knownHere(name string) bool {
	for _, arch := range f.arches {
		if _, ok := sysnames.Number(arch, name); ok {
			return true
		}
	}
	return false
}

func (f *Filter) archList() string {
	s := sysnames.ArchName(f.arches[0])
	for _, a := range f.arches[1:] {
		s += "/" + sysnames.ArchName(a)
	}
	return s
}

func (f *Filter) validate() error {
	if err := f.def.valid(); err != nil {
		return fmt.Errorf("%w (default action)", err)
	}
	if err := f.mismatch.valid(); err != nil {
		return fmt.Errorf("%w (mismatch action)", err)
	}
	if f.arches[0] == 0 {
		return errors.New("filter: no system call table for this GOARCH")
	}
	return nil
}

// is64 and isLE read the AUDIT_ARCH bits (defined once, in sysnames).
var is64, isLE = sysnames.Is64, sysnames.IsLE

const auditArchX86_64 = unix.AUDIT_ARCH_X86_64
