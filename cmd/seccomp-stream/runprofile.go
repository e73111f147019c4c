package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/filter/oci"
	"github.com/seccompstream/seccompstream/internal/cbpf"
	"github.com/seccompstream/seccompstream/internal/errnames"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/profile"
)

// profileRun is "run --profile FILE [--complain]": the program runs under
// an OCI profile, and the calls the profile denies are shown.
//
// The profile is compiled twice. Its own filter (oci.FromSpec, as runc
// builds it) is never installed: it is the oracle that says what the
// profile does with a call. The installed filter is the same profile with
// its errno actions (the default's and the rules') turned into notify, and
// with --complain every action that is not allow or log: the calls the
// profile allows run unseen, in BPF, and only the denied ones reach the
// handler, which asks the oracle for the profile's answer (run on the
// call's own seccomp_data, so argument conditions, architectures and
// precedence are exactly the profile's) and gives it, or, with
// --complain, lets the call run. Without --complain, kill, trap and trace
// actions stay in the installed filter, where the kernel carries them out
// as a runtime's filter would (a supervisor cannot kill a process the way
// SECCOMP_RET_KILL does); they are not shown.
type profileRun struct {
	file     string
	complain bool
	filter   *filter.Filter // the installed filter
	oracle   *cbpf.VM       // the profile's own program
	kills    []string       // where the profile kills or traps (for the SIGSYS note)

	mu     sync.Mutex
	denied map[string]uint64 // "name" or "name[abi]" -> times
}

// newProfileRun reads the profile file (as runtimes read it: names no
// table has are skipped with a warning on warn) and compiles it.
func newProfileRun(file string, complain bool, warn io.Writer) (*profileRun, error) {
	spec, err := profile.ReadOCIFile(file, commandWarner("run", warn))
	if err != nil {
		return nil, errors.New(trimProfilePrefix(err))
	}
	own, err := oci.FromSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	prog, err := own.Assemble()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	vm, err := cbpf.NewVM(prog, sysnames.IsLE(sysnames.Native()))
	if err != nil {
		return nil, fmt.Errorf("%s: the compiled profile cannot be checked: %w", file, err)
	}

	shown := func(a specs.LinuxSeccompAction) bool {
		switch a {
		case specs.ActAllow, specs.ActLog:
			return false
		case specs.ActErrno, specs.ActNotify:
			return true
		}
		return complain // kill, trap, trace
	}
	installed := *spec
	installed.ListenerPath, installed.ListenerMetadata, installed.Flags = "", "", nil
	if shown(spec.DefaultAction) {
		installed.DefaultAction, installed.DefaultErrnoRet = specs.ActNotify, nil
	}
	installed.Syscalls = slices.Clone(spec.Syscalls)
	var kills []string
	if !shown(spec.DefaultAction) && isKill(spec.DefaultAction) {
		kills = append(kills, "defaultAction "+string(spec.DefaultAction))
	}
	for i, r := range installed.Syscalls {
		if shown(r.Action) {
			installed.Syscalls[i].Action, installed.Syscalls[i].ErrnoRet = specs.ActNotify, nil
		} else if isKill(r.Action) {
			kills = append(kills, fmt.Sprintf("%s for %s", r.Action, strings.Join(r.Names, ",")))
		}
	}
	f, err := oci.FromSpec(&installed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if complain {
		// Calls of an architecture the profile does not list are killed
		// under it: show them instead.
		if err := f.SetMismatchAction(filter.Notify); err != nil {
			return nil, err
		}
	} else if own.MismatchAction() != filter.Allow {
		kills = append(kills, "calls of an architecture it does not list")
	}
	return &profileRun{
		file: file, complain: complain, filter: f, oracle: vm, kills: kills,
		denied: map[string]uint64{},
	}, nil
}

func isKill(a specs.LinuxSeccompAction) bool {
	switch a {
	case specs.ActKill, specs.ActKillThread, specs.ActKillProcess, specs.ActTrap, specs.ActTrace:
		return true
	}
	return false
}

// decide returns what the profile's own program does with n's call.
func (r *profileRun) decide(n *seccompstream.Notification) filter.Action {
	v, err := r.oracle.Run(cbpf.Data{Nr: n.Syscall, Arch: n.Arch, IP: n.IP, Args: n.Args})
	if err != nil {
		return filter.KillProcess // cannot happen: the program assembled and loaded
	}
	return filter.Action(v)
}

// handler answers the calls the installed filter notifies, and shows each
// with tr.
func (r *profileRun) handler(tr *tracer) seccompstream.Handler {
	return seccompstream.HandlerFunc(func(_ context.Context, n *seccompstream.Notification) seccompstream.Response {
		act := r.decide(n)
		var resp seccompstream.Response
		var what string // the profile's answer, for --complain
		switch ret := uint32(act) & unix.SECCOMP_RET_ACTION_FULL; ret {
		case unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_LOG:
			return seccompstream.Continue() // not denied: nothing to show
		case unix.SECCOMP_RET_ERRNO:
			e := syscall.Errno(uint32(act) & unix.SECCOMP_RET_DATA)
			resp, what = seccompstream.Errno(e), errnames.Name(e)
			if e == 0 {
				resp, what = seccompstream.Return(0), "0 (errno 0)"
			}
		case unix.SECCOMP_RET_USER_NOTIF:
			// The profile hands the call to a seccomp agent; there is
			// none here.
			resp, what = seccompstream.Continue(), "notify"
		default: // kill, trap, trace: notified with --complain only
			resp, what = seccompstream.Continue(), strings.TrimSuffix(act.String(), "(0)")
		}
		if r.complain {
			resp = seccompstream.Continue()
		}
		rec := decodeCall(n, resp)
		if r.complain || what == "notify" {
			rec.Profile = what
		}
		tr.out.Write(formatRecord(rec, tr.json))

		name := n.SyscallName()
		if n.Arch != sysnames.Native() {
			name += "[" + n.ArchName() + "]"
		}
		r.mu.Lock()
		r.denied[name]++
		r.mu.Unlock()
		return resp
	})
}

// summary is the line that lists the calls the profile denied, after the
// program ended (nothing when it denied none).
func (r *profileRun) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.denied) == 0 {
		return ""
	}
	var parts []string
	total := uint64(0)
	for _, name := range slices.Sorted(maps.Keys(r.denied)) {
		parts = append(parts, fmt.Sprintf("%s (%d)", name, r.denied[name]))
		total += r.denied[name]
	}
	verb := "denied"
	if r.complain {
		verb = "would have denied"
	}
	calls := "calls"
	if total == 1 {
		calls = "call"
	}
	return fmt.Sprintf("seccomp-stream run: %s %s %d %s: %s\n", r.file, verb, total, calls, strings.Join(parts, ", "))
}

// sigsysNote explains a program killed by SIGSYS under the profile.
func (r *profileRun) sigsysNote(prog string) string {
	if len(r.kills) == 0 {
		return fmt.Sprintf("seccomp-stream run: %s was killed by SIGSYS, not by the profile (it kills no call): another seccomp filter or a signal did\n", prog)
	}
	return fmt.Sprintf("seccomp-stream run: %s was killed by SIGSYS: the profile kills %s, which run does not show (--complain lists them)\n",
		prog, strings.Join(r.kills, "; "))
}

// newProfileRunFlags checks run's flags for --profile and --complain
// (--complain needs --profile; neither goes with --trace or --deny) and
// returns the profileRun.
func newProfileRunFlags(file string, complain bool, trace, deny []string, warn io.Writer) (*profileRun, error) {
	switch {
	case file == "":
		return nil, errors.New("--complain needs --profile FILE")
	case len(trace) > 0 || len(deny) > 0:
		return nil, errors.New("--profile cannot be combined with --trace or --deny")
	}
	return newProfileRun(file, complain, warn)
}
