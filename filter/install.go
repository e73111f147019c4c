package filter

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/cbpf"
	"github.com/seccompstream/seccompstream/internal/kernel"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// InstallOption sets a choice for Install. Options only record choices;
// Install checks them together.
type InstallOption func(*installConfig)

type installConfig struct {
	flags      uintptr
	nnpHandled bool
}

// WithListener asks for a user-notification listener
// (SECCOMP_FILTER_FLAG_NEW_LISTENER, Linux 5.0): Install returns its fd,
// close-on-exec, which the caller owns. Only one filter in a thread's chain
// can have a listener; Install fails with EBUSY when one has it already
// (for example inside a container whose runtime installed one).
func WithListener() InstallOption {
	return func(c *installConfig) { c.flags |= unotify.FilterFlagNewListener }
}

// WithWaitKillableRecv makes a target whose notification was received wait
// for the answer ignoring all but fatal signals
// (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, Linux 5.19), so that signals do
// not interrupt and re-notify its calls. It needs WithListener. On older
// kernels Install fails with an UnsupportedFeatureError.
func WithWaitKillableRecv() InstallOption {
	return func(c *installConfig) { c.flags |= unotify.FilterFlagWaitKillableRecv }
}

// WithTSync installs the filter on every thread of the process
// (SECCOMP_FILTER_FLAG_TSYNC), and sets no_new_privs on all of them if it is
// set on the calling thread. With WithListener, Install adds
// SECCOMP_FILTER_FLAG_TSYNC_ESRCH (Linux 5.7), without which the kernel
// refuses the combination. Install fails if a thread has a filter chain that
// is not an ancestor of the caller's.
func WithTSync() InstallOption {
	return func(c *installConfig) { c.flags |= unotify.FilterFlagTSync }
}

// WithLogging asks the kernel to log every action the filter takes except
// Allow (SECCOMP_FILTER_FLAG_LOG, Linux 4.14), subject to
// /proc/sys/kernel/seccomp/actions_logged.
func WithLogging() InstallOption {
	return func(c *installConfig) { c.flags |= unotify.FilterFlagLog }
}

// WithSpecAllow keeps the Speculative Store Bypass mitigation off
// (SECCOMP_FILTER_FLAG_SPEC_ALLOW, Linux 4.17), where installing a filter
// would otherwise turn it on.
func WithSpecAllow() InstallOption {
	return func(c *installConfig) { c.flags |= unotify.FilterFlagSpecAllow }
}

// WithNoNewPrivsHandled tells Install that no_new_privs is set already, or
// that the caller has CAP_SYS_ADMIN and does not want it set. By default
// Install sets no_new_privs on the calling thread
// (prctl(PR_SET_NO_NEW_PRIVS)), which the kernel requires of callers without
// CAP_SYS_ADMIN; it then stays set for the thread, its children and
// anything they execute.
func WithNoNewPrivsHandled() InstallOption {
	return func(c *installConfig) { c.nnpHandled = true }
}

// Install assembles the filter and installs it on the calling thread, as
// InstallProgram does. It returns the listener fd with WithListener, -1
// otherwise.
func (f *Filter) Install(opts ...InstallOption) (int, error) {
	prog, err := f.Assemble()
	if err != nil {
		return -1, err
	}
	return InstallProgram(prog, opts...)
}

// InstallProgram installs an assembled program (Assemble) on the calling
// OS thread, and with WithTSync on every thread of the process. It returns
// the listener fd with WithListener, -1 otherwise.
//
// A seccomp filter belongs to a thread, not to a goroutine, and it can
// never be removed. In Go the caller must have called runtime.LockOSThread
// before, so that the goroutine stays on the thread that gets the filter,
// and should let that goroutine end without UnlockOSThread, so that the
// runtime ends the thread instead of running other goroutines on it under
// the filter. Filtered threads also run the runtime's own calls (futex,
// mmap, signals): a filter that notifies a call the runtime makes, with
// nobody answering on the listener from another thread, deadlocks the
// process. Never install a filter on the main thread of a program that
// goes on running (it cannot exit), unless that is the point.
//
// An error names the flag the kernel does not know, as an
// UnsupportedFeatureError matching ErrNotSupported.
func InstallProgram(prog []bpf.RawInstruction, opts ...InstallOption) (int, error) {
	var c installConfig
	for _, o := range opts {
		o(&c)
	}
	listener := c.flags&unotify.FilterFlagNewListener != 0
	if c.flags&unotify.FilterFlagWaitKillableRecv != 0 && !listener {
		return -1, errors.New("filter: WithWaitKillableRecv needs WithListener")
	}
	if listener && c.flags&unotify.FilterFlagTSync != 0 {
		c.flags |= unotify.FilterFlagTSyncESRCH
	}
	if len(prog) == 0 || len(prog) > cbpf.MaxInstructions {
		return -1, fmt.Errorf("filter: program of %d instructions (want 1..%d)", len(prog), cbpf.MaxInstructions)
	}
	if !c.nnpHandled {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return -1, fmt.Errorf("filter: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
		}
	}
	r, err := unotify.SetModeFilter(unotify.SockFilters(prog), c.flags)
	if err != nil {
		return -1, installError(c.flags, err, unotify.ProbeFilterFlag)
	}
	if c.flags&unotify.FilterFlagTSync != 0 && !listener && r != 0 {
		// Without TSYNC_ESRCH a failed sync returns the id of the thread.
		return -1, fmt.Errorf("filter: TSYNC: thread %d has a filter chain that is not an ancestor of this one", r)
	}
	if !listener {
		return -1, nil
	}
	return r, nil
}

// flagInfo names the filter flags, in the order they are checked.
var flagInfo = []struct {
	flag    uintptr
	name    string
	version string
}{
	{unotify.FilterFlagTSync, "SECCOMP_FILTER_FLAG_TSYNC", "3.17"},
	{unotify.FilterFlagLog, "SECCOMP_FILTER_FLAG_LOG", "4.14"},
	{unotify.FilterFlagSpecAllow, "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "4.17"},
	{unotify.FilterFlagNewListener, "SECCOMP_FILTER_FLAG_NEW_LISTENER", "5.0"},
	{unotify.FilterFlagTSyncESRCH, "SECCOMP_FILTER_FLAG_TSYNC_ESRCH", kernel.VersionTSyncESRCH},
	{unotify.FilterFlagWaitKillableRecv, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", kernel.VersionWaitKillableRecv},
}

func flagNames(flags uintptr) string {
	var names []string
	for _, fi := range flagInfo {
		if flags&fi.flag != 0 {
			names = append(names, fi.name)
		}
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

// installError explains a failed seccomp(SET_MODE_FILTER); probe is
// unotify.ProbeFilterFlag.
func installError(flags uintptr, err error, probe func(uintptr) (bool, error)) error {
	switch err {
	case unix.EINVAL:
		// Find the flag the kernel does not know: seccomp(SET_MODE_FILTER,
		// flag, NULL) fails with EFAULT for a known flag, EINVAL otherwise.
		for _, fi := range flagInfo {
			if flags&fi.flag == 0 {
				continue
			}
			flag := fi.flag
			if flag == unotify.FilterFlagWaitKillableRecv {
				flag |= unotify.FilterFlagNewListener // refused without it
			}
			if known, perr := probe(flag); perr == nil && !known {
				return fmt.Errorf("filter: installing with %s: %w", flagNames(flags),
					&UnsupportedFeatureError{Name: fi.name, MinimumVersion: fi.version})
			}
		}
	case unix.EBUSY:
		return fmt.Errorf("filter: installing with %s: the thread's filter chain has a listener already: %w", flagNames(flags), err)
	case unix.EACCES:
		return fmt.Errorf("filter: installing: no_new_privs is not set and the caller lacks CAP_SYS_ADMIN: %w", err)
	case unix.ESRCH:
		if flags&unotify.FilterFlagTSync != 0 {
			return fmt.Errorf("filter: TSYNC: a thread has a filter chain that is not an ancestor of this one: %w", err)
		}
	}
	return fmt.Errorf("filter: seccomp(SECCOMP_SET_MODE_FILTER, %s): %w", flagNames(flags), err)
}
