package filter

import (
	"fmt"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// FromOCI builds a filter from an OCI runtime seccomp profile
// (config.json's linux.seccomp, as Docker, Podman, runc and crun use), the
// way runc does with libseccomp:
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
// Install flags and the listener come from OCIInstallOptions.
func FromOCI(s *specs.LinuxSeccomp) (*Filter, error) {
	if s == nil {
		return nil, fmt.Errorf("filter: no seccomp profile")
	}
	def, err := ociAction(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("%w (defaultAction)", err)
	}
	f := New(def)
	if f.arches[0] == 0 {
		return nil, f.validate()
	}
	for _, a := range s.Architectures {
		arch, ok := sysnames.ArchByName(string(a))
		if !ok {
			if !knownOCIArch(a) {
				return nil, fmt.Errorf("filter: unknown architecture %q", a)
			}
			continue // x32, or no table: refused by the arch check
		}
		if err := f.AddArch(arch); err != nil {
			return nil, err
		}
	}
	for i, sc := range s.Syscalls {
		act, err := ociAction(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("%w (syscalls[%d])", err, i)
		}
		if act == def {
			continue
		}
		var conds []Cond
		multi := false
		seen := [6]bool{}
		for j, arg := range sc.Args {
			c, err := ociCond(arg)
			if err != nil {
				return nil, fmt.Errorf("%w (syscalls[%d].args[%d])", err, i, j)
			}
			if seen[arg.Index] {
				multi = true
			}
			seen[arg.Index] = true
			conds = append(conds, c)
		}
		for _, name := range sc.Names {
			if !f.knownHere(name) {
				if !knownAnywhere(name) {
					return nil, fmt.Errorf("%w (syscalls[%d])", f.checkName(name), i)
				}
				continue // another arch's call
			}
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

// OCIInstallOptions returns the install options a profile asks for: its
// flags (SECCOMP_FILTER_FLAG_LOG, _SPEC_ALLOW, _WAIT_KILLABLE_RECV, _TSYNC),
// and WithListener when it has a listenerPath or an SCMP_ACT_NOTIFY action.
func OCIInstallOptions(s *specs.LinuxSeccomp) ([]InstallOption, error) {
	if s == nil {
		return nil, nil
	}
	var opts []InstallOption
	for _, fl := range s.Flags {
		switch fl {
		case specs.LinuxSeccompFlagLog:
			opts = append(opts, WithLogging())
		case specs.LinuxSeccompFlagSpecAllow:
			opts = append(opts, WithSpecAllow())
		case specs.LinuxSeccompFlagWaitKillableRecv:
			opts = append(opts, WithWaitKillableRecv())
		case "SECCOMP_FILTER_FLAG_TSYNC":
			opts = append(opts, WithTSync())
		default:
			return nil, fmt.Errorf("filter: unknown seccomp flag %q", fl)
		}
	}
	notify := s.ListenerPath != "" || s.DefaultAction == specs.ActNotify
	for _, sc := range s.Syscalls {
		notify = notify || sc.Action == specs.ActNotify
	}
	if notify {
		opts = append(opts, WithListener())
	}
	return opts, nil
}

func ociAction(a specs.LinuxSeccompAction, errnoRet *uint) (Action, error) {
	ret := uint(unix.EPERM)
	if errnoRet != nil {
		ret = *errnoRet
	}
	var act Action
	switch a {
	case specs.ActKill, specs.ActKillThread:
		act = KillThread
	case specs.ActKillProcess:
		act = KillProcess
	case specs.ActTrap:
		act = Trap
	case specs.ActErrno:
		if ret > maxErrno {
			return 0, fmt.Errorf("filter: errnoRet %d out of range (0..%d)", ret, maxErrno)
		}
		act = Errno(syscall.Errno(ret))
	case specs.ActTrace:
		if ret > dataMask {
			return 0, fmt.Errorf("filter: errnoRet %d out of range for SCMP_ACT_TRACE", ret)
		}
		act = Trace(uint16(ret))
	case specs.ActAllow:
		act = Allow
	case specs.ActLog:
		act = Log
	case specs.ActNotify:
		act = Notify
	default:
		return 0, fmt.Errorf("filter: unknown seccomp action %q", a)
	}
	return act, nil
}

func ociCond(arg specs.LinuxSeccompArg) (Cond, error) {
	if arg.Index > 5 {
		return Cond{}, fmt.Errorf("filter: argument index %d out of range (0..5)", arg.Index)
	}
	r := Arg(int(arg.Index))
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
	return Cond{}, fmt.Errorf("filter: unknown seccomp operator %q", arg.Op)
}

func knownOCIArch(a specs.Arch) bool {
	switch a {
	case specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
		specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
		specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
		specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC,
		specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K,
		specs.ArchSH, specs.ArchSHEB:
		return true
	}
	return false
}
