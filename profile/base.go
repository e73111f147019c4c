package profile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// A runtime's own calls: what runc and crun do in the container's init
// process between installing the container's seccomp filter and executing
// its program, so under the filter. A profile recorded from the bare
// program does not have them (and through the agent, write is never seen:
// runc refuses SCMP_ACT_NOTIFY for it). Measured through the agent
// (runc 1.1.5 and crun 1.8.1 from Debian 12 on Linux 6.18: busybox true
// in twenty containers each, every call of the init process up to the
// workload's execve, twice), and read from the sources of later versions (runc 1.2 to 1.5, crun 1.9 to 1.2x),
// whose calls are added so that a profile keeps working there. A call a
// later version tries and the base lacks fails with ENOSYS, which those
// runtimes take as "old kernel" and fall back from (runc's private procfs
// through fsopen or open_tree, crun's close_range).
var bases = map[string][]string{
	"none": nil,
	"runc": {
		// runc 1.1.5, every run: the exec fifo (read, openat, write,
		// close), the parent's pid check, closing the fds it must not
		// leak through /proc/self/fd (openat, fstatfs, getdents64, close;
		// epoll_ctl as the Go runtime lets go of them), execve.
		"read", "write", "close", "openat", "getpid", "epoll_ctl", "fstatfs", "getdents64", "execve",
		// runc is a Go program: in that window its runtime makes these at
		// times (futex seen in 7 and 10 of 20 runs, rt_sigreturn in 12
		// and 16; a container whose profile lacked rt_sigreturn died of
		// SIGSEGV), and the rest of a Go runtime's own calls can come too.
		"futex", "rt_sigreturn", "rt_sigprocmask", "sigaltstack", "nanosleep", "sched_yield",
		"tgkill", "gettid", "mmap", "munmap", "madvise", "clone", "exit", "epoll_pwait",
		// runc 1.2 and later (source): the fifo and /proc/thread-self/fd
		// are reopened through a procfs handle checked with fstatfs and
		// statx (mount ids), looked up with openat2 and readlinkat; Go's
		// os.File adds fcntl and fstat.
		"openat2", "statx", "readlinkat", "faccessat2", "access", "fcntl", "fstat", "newfstatat",
	},
	"crun": {
		// crun 1.8.1, the same in every run (wait4 kill wait4 close
		// munmap close close execve): waits for and signals its helper
		// process, closes the fds it must not leak, and executes.
		"wait4", "kill", "close", "munmap", "execve",
		// crun 1.9 and later (source): close_range first; where it fails,
		// /proc/self/fd is read instead (openat, fstatfs, fstat,
		// getdents64, fcntl), with malloc's brk and mmap; after start
		// hooks, lseek on stdout and stderr.
		"close_range", "openat", "fstatfs", "fstat", "newfstatat", "getdents64", "fcntl", "brk", "mmap", "lseek",
	},
}

// BaseNames returns the names Base knows, sorted: "crun", "none", "runc".
func BaseNames() []string {
	names := make([]string, 0, len(bases))
	for n := range bases {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Base returns the calls that the container runtime name ("runc",
// "crun") makes itself under a container's seccomp filter, before it
// executes the container's program, on the machine's own architecture;
// "none" gives an empty profile. Merge it into a profile recorded from the
// bare program, so that the runtime can start the program under it:
//
//	p := profile.Merge(rec.Profile(), base)
//
// runc's base is larger than the calls of one run: runc is a Go program,
// and its runtime makes some calls only at times (futex, rt_sigreturn,
// ...), which a container needs whenever they happen. The calls come from
// recordings of runc 1.1.5 and crun 1.8.1 and from the sources of their
// later versions. A recording through a seccomp agent shows a runtime's
// calls too, except write, which runc does not let a filter notify.
func Base(name string) (*Profile, error) {
	calls, ok := bases[name]
	if !ok {
		return nil, fmt.Errorf("profile: unknown runtime base %q (known: %s)", name, strings.Join(BaseNames(), ", "))
	}
	p := New()
	if len(calls) == 0 {
		return p, nil
	}
	arch, err := nativeArch()
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	for _, c := range calls {
		if knownCall(arch, c) {
			p.add(arch, c, 0, nil)
		}
	}
	return p, nil
}

// NativeArch returns the OCI name of the running program's architecture
// (specs.ArchX86_64 on amd64): the architecture a profile without
// "architectures" applies to.
func NativeArch() (specs.Arch, error) {
	a, err := nativeArch()
	if err != nil {
		return "", fmt.Errorf("profile: %w", err)
	}
	return a, nil
}
