package policy

import (
	"maps"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// Filter returns the filter that goes with Handler: it notifies every call
// whose action is not Allow and lets the others run, on every ABI the
// kernel runs (ABIs), each in its own numbering. With an Allow default only
// the named calls notify; with another default every call notifies except
// those named Allow.
//
// On x86_64, x32 calls (the x32 bit in the call number) are notified
// whatever their name, since a filter cannot match them by name: Handler
// routes them by their x86_64 names, so a call nobody named gets r.Default
// there. On other architectures a call through an ABI outside ABIs kills
// the process (SIGSYS), which is the filter's mismatch action; no such ABI
// exists on x86_64 and aarch64.
//
// With a file policy, the calls it carries out or refuses are notified
// too (emulate.Files.AddRules), and with a network policy those it
// decides (emulate.Network.AddRules); it fails where the kernel cannot
// hand files over (before Linux 5.9: an error matching
// seccompstream.ErrNotSupported). Filter returns the error of Validate.
func (r *Rules) Filter() (*filter.Filter, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	abis := ABIs()
	def := filter.Allow
	if r.Default != Allow {
		def = filter.Notify
	}
	f := filter.New(def)
	for _, a := range abis[1:] {
		if err := f.AddArch(a); err != nil {
			return nil, err
		}
	}
	if sysnames.Native() == unix.AUDIT_ARCH_X86_64 {
		if err := f.SetMismatchAction(filter.Notify); err != nil {
			return nil, err
		}
	}
	var notify, allow []string
	for _, name := range slices.Sorted(maps.Keys(r.Syscalls)) {
		switch a := r.Syscalls[name]; {
		case a == Allow && def == filter.Notify:
			allow = append(allow, name)
		case a != Allow && def == filter.Allow:
			notify = append(notify, name)
		}
	}
	if def == filter.Allow {
		notify = append(notify, interceptedNames(r.Intercepts)...)
	} else {
		allow = slices.DeleteFunc(allow, func(n string) bool { return slices.Contains(interceptedNames(r.Intercepts), n) })
	}
	if err := f.Add(filter.Notify, notify...); err != nil {
		return nil, err
	}
	if err := f.Add(filter.Allow, allow...); err != nil {
		return nil, err
	}
	if r.Files != nil {
		fs, err := emulate.NewFiles(*r.Files)
		if err != nil {
			return nil, err
		}
		if err := fs.AddRules(f); err != nil {
			return nil, err
		}
	}
	if r.Network != nil {
		nw, err := emulate.NewNetwork(*r.Network)
		if err != nil {
			return nil, err
		}
		if err := nw.AddRules(f); err != nil {
			return nil, err
		}
	}
	return f, nil
}
