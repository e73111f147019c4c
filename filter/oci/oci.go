// Package oci imports OCI runtime seccomp profiles (config.json's
// linux.seccomp, the format of Docker's and Podman's profiles) into
// filter.Filter values. It is a package of its own so that programs that
// never read a profile do not compile github.com/opencontainers/runtime-spec.
//
//	var s specs.LinuxSeccomp
//	if err := json.Unmarshal(profile, &s); err != nil { ... }
//	f, err := oci.FromSpec(&s)
//	if err != nil { ... }
//	opts, err := oci.InstallOptions(&s)
package oci

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// The kernel's limits on an action's data.
const (
	maxErrno = 4095   // MAX_ERRNO
	dataMask = 0xffff // SECCOMP_RET_DATA
)

// FromSpec builds a filter from an OCI runtime seccomp profile the way runc
// does with libseccomp:
//
//   - The native arch is always in the filter; the listed architectures
//     are added with AddArch. x32 (SCMP_ARCH_X32) and architectures without
//     a system call table (SCMP_ARCH_MIPS64N32, SCMP_ARCH_S390, ...) are
//     left out: their calls take the mismatch action (KillProcess).
//   - SCMP_ACT_ERRNO and SCMP_ACT_TRACE take errnoRet (defaultErrnoRet for
//     the default action), EPERM when it is absent. SCMP_ACT_KILL is
//     KillThread, as in libseccomp.
//   - A rule's args must all hold (AND), except that when one argument index
//     appears more than once, each arg becomes a rule of its own (OR), as
//     runc does. SCMP_CMP_MASKED_EQ is arg&value == valueTwo.
//   - A name that no table knows is an error; a name that exists on other
//     architectures only (e.g. "socketcall" on x86_64 alone) is skipped.
//   - A rule whose action and errno equal the default is skipped, as runc
//     does.
//
// Install flags and the listener come from InstallOptions.
func FromSpec(s *specs.LinuxSeccomp) (*filter.Filter, error) {
	if s == nil {
		return nil, errors.New("oci: no seccomp profile")
	}
	def, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("%w (defaultAction)", err)
	}
	if sysnames.Native() == 0 {
		return nil, errors.New("oci: no system call table for this GOARCH")
	}
	f := filter.New(def)
	for _, a := range s.Architectures {
		arch, ok := sysnames.ArchByName(string(a))
		if !ok {
			if !knownArch(a) {
				return nil, fmt.Errorf("oci: unknown architecture %q", a)
			}
			continue // x32, or no table: refused by the arch check
		}
		if err := f.AddArch(arch); err != nil {
			return nil, err
		}
	}
	for i, sc := range s.Syscalls {
		act, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("%w (syscalls[%d])", err, i)
		}
		if act == def {
			continue
		}
		var conds []filter.Cond
		multi := false
		seen := [6]bool{}
		for j, arg := range sc.Args {
			c, err := cond(arg)
			if err != nil {
				return nil, fmt.Errorf("%w (syscalls[%d].args[%d])", err, i, j)
			}
			if seen[arg.Index] { // cond checked the index
				multi = true
			}
			seen[arg.Index] = true
			conds = append(conds, c)
		}
		for _, name := range sc.Names {
			if !knownOn(f.Arches(), name) && knownOn(sysnames.Arches(), name) {
				continue // another arch's call
			}
			// AddIf names an unknown call in its error.
			if multi {
				for _, c := range conds {
					if err := f.AddIf(act, name, c); err != nil {
						return nil, fmt.Errorf("%w (syscalls[%d])", err, i)
					}
				}
				continue
			}
			if err := f.AddIf(act, name, conds...); err != nil {
				return nil, fmt.Errorf("%w (syscalls[%d])", err, i)
			}
		}
	}
	return f, nil
}

// knownOn reports whether one of arches has the call name.
func knownOn(arches []uint32, name string) bool {
	for _, arch := range arches {
		if _, ok := sysnames.Number(arch, name); ok {
			return true
		}
	}
	return false
}

// InstallOptions returns the install options a profile asks for: its
// flags (SECCOMP_FILTER_FLAG_LOG, _SPEC_ALLOW, _WAIT_KILLABLE_RECV, _TSYNC),
// and filter.WithListener when it has a listenerPath or an SCMP_ACT_NOTIFY
// action.
func InstallOptions(s *specs.LinuxSeccomp) ([]filter.InstallOption, error) {
	if s == nil {
		return nil, nil
	}
	var opts []filter.InstallOption
	for _, fl := range s.Flags {
		switch fl {
		case specs.LinuxSeccompFlagLog:
			opts = append(opts, filter.WithLogging())
		case specs.LinuxSeccompFlagSpecAllow:
			opts = append(opts, filter.WithSpecAllow())
		case specs.LinuxSeccompFlagWaitKillableRecv:
			opts = append(opts, filter.WithWaitKillableRecv())
		case "SECCOMP_FILTER_FLAG_TSYNC":
			opts = append(opts, filter.WithTSync())
		default:
			return nil, fmt.Errorf("oci: unknown seccomp flag %q", fl)
		}
	}
	notify := s.ListenerPath != "" || s.DefaultAction == specs.ActNotify
	for _, sc := range s.Syscalls {
		notify = notify || sc.Action == specs.ActNotify
	}
	if notify {
		opts = append(opts, filter.WithListener())
	}
	return opts, nil
}

func action(a specs.LinuxSeccompAction, errnoRet *uint) (filter.Action, error) {
	ret := uint(unix.EPERM)
	if errnoRet != nil {
		ret = *errnoRet
	}
	var act filter.Action
	switch a {
	case specs.ActKill, specs.ActKillThread:
		act = filter.KillThread
	case specs.ActKillProcess:
		act = filter.KillProcess
	case specs.ActTrap:
		act = filter.Trap
	case specs.ActErrno:
		if ret > maxErrno {
			return 0, fmt.Errorf("oci: errnoRet %d out of range (0..%d)", ret, maxErrno)
		}
		act = filter.Errno(syscall.Errno(ret))
	case specs.ActTrace:
		if ret > dataMask {
			return 0, fmt.Errorf("oci: errnoRet %d out of range for SCMP_ACT_TRACE", ret)
		}
		act = filter.Trace(uint16(ret))
	case specs.ActAllow:
		act = filter.Allow
	case specs.ActLog:
		act = filter.Log
	case specs.ActNotify:
		act = filter.Notify
	default:
		return 0, fmt.Errorf("oci: unknown seccomp action %q", a)
	}
	return act, nil
}

func cond(arg specs.LinuxSeccompArg) (filter.Cond, error) {
	if arg.Index > 5 {
		return filter.Cond{}, fmt.Errorf("oci: argument index %d out of range (0..5)", arg.Index)
	}
	r := filter.Arg(int(arg.Index))
	switch arg.Op {
	case specs.OpEqualTo:
		return r.Eq(arg.Value), nil
	case specs.OpNotEqual:
		return r.Ne(arg.Value), nil
	case specs.OpLessThan:
		return r.Lt(arg.Value), nil
	case specs.OpLessEqual:
		return r.Le(arg.Value), nil
	case specs.OpGreaterThan:
		return r.Gt(arg.Value), nil
	case specs.OpGreaterEqual:
		return r.Ge(arg.Value), nil
	case specs.OpMaskedEqual:
		return r.MaskedEq(arg.Value, arg.ValueTwo), nil
	}
	return filter.Cond{}, fmt.Errorf("oci: unknown seccomp operator %q", arg.Op)
}

// knownArch reports whether a is an architecture the runtime spec names.
func knownArch(a specs.Arch) bool {
	return sysnames.IsOCIArch(string(a))
}
