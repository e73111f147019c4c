package agent

import (
	"fmt"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Intercepts: calls that container managers commonly have an agent do for
// a container, by the names InterceptRules takes.
const (
	// InterceptMknod: mknod and mknodat of character and block devices,
	// which a container in a user namespace cannot do itself.
	InterceptMknod = "mknod"
	// InterceptSysinfo: sysinfo, to report the container's cgroup limits
	// instead of the host's memory and load.
	InterceptSysinfo = "sysinfo"
)

// InterceptRules returns the linux.seccomp rules that send the calls of the
// named intercepts to the agent (SCMP_ACT_NOTIFY), with a register
// prefilter where the call allows one, so that the kernel runs the calls
// the agent would only let through anyway without a round trip:
//
//   - "mknod": mknod(path, mode, dev) and mknodat(dirfd, path, mode, dev)
//     only when mode&S_IFMT is S_IFCHR or S_IFBLK (SCMP_CMP_MASKED_EQ on
//     the mode argument, index 1 and 2); FIFOs, sockets and regular files
//     take whatever else the profile says.
//   - "sysinfo": every sysinfo call (its only argument is a pointer).
//
// The profile these rules go into must not also name the calls in another
// rule without arguments (the default profiles of Docker and containerd
// allow mknod, mknodat and sysinfo): remove them from there, and allow the
// other mknod types explicitly if the profile's default action does not
// (NonDeviceMknodRules). The deploy/kubernetes profile is built this way.
func InterceptRules(intercepts ...string) ([]specs.LinuxSyscall, error) {
	var rules []specs.LinuxSyscall
	seen := map[string]bool{}
	for _, name := range intercepts {
		if seen[name] {
			continue
		}
		seen[name] = true
		switch name {
		case InterceptMknod:
			for _, t := range []uint64{unix.S_IFCHR, unix.S_IFBLK} {
				rules = append(rules, mknodRules(specs.ActNotify, t)...)
			}
		case InterceptSysinfo:
			rules = append(rules, specs.LinuxSyscall{Names: []string{"sysinfo"}, Action: specs.ActNotify})
		default:
			return nil, fmt.Errorf("agent: unknown intercept %q (want %q or %q)", name, InterceptMknod, InterceptSysinfo)
		}
	}
	return rules, nil
}

// NonDeviceMknodRules returns the rules that allow mknod and mknodat of
// everything but devices (regular files, type 0 included, FIFOs and
// sockets), for a profile whose default action denies and whose mknod
// rules are InterceptRules'.
func NonDeviceMknodRules() []specs.LinuxSyscall {
	var rules []specs.LinuxSyscall
	for _, t := range []uint64{0, unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK} {
		rules = append(rules, mknodRules(specs.ActAllow, t)...)
	}
	return rules
}

// mknodRules returns a rule for mknod and one for mknodat that take action
// when the mode's file type is typ.
func mknodRules(action specs.LinuxSeccompAction, typ uint64) []specs.LinuxSyscall {
	rule := func(name string, modeArg uint) specs.LinuxSyscall {
		return specs.LinuxSyscall{
			Names:  []string{name},
			Action: action,
			Args:   []specs.LinuxSeccompArg{{Index: modeArg, Value: unix.S_IFMT, ValueTwo: typ, Op: specs.OpMaskedEqual}},
		}
	}
	return []specs.LinuxSyscall{rule("mknod", 1), rule("mknodat", 2)}
}

// InterceptedSyscalls lists the system calls the named intercepts handle,
// sorted.
func InterceptedSyscalls(intercepts ...string) ([]string, error) {
	rules, err := InterceptRules(intercepts...)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range rules {
		names = append(names, r.Names...)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
