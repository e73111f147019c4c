package emulate

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// bypassCalls are refused (EPERM) by every policy of this package, file
// or network, because they would let a program reach files or the network
// without making the calls the policy checks. Each policy refuses them
// through the same helpers: notifyNames(f, bypassCalls) in its AddRules,
// registerBypasses in its Register (which leaves them to the first policy
// that routed them), refuse in its ServeNotification.
//
//   - io_uring_setup: an io_uring runs its operations (openat, statx,
//     connect, send, ...) inside the kernel, where seccomp never sees
//     them; a program with a ring could open any file. Refusing the setup
//     leaves no ring to use (a program gets none from elsewhere: rings are
//     created, not inherited, unless a process outside passes one in).
//   - open_by_handle_at: opens a file by a handle, not a path, so no path
//     can be checked (it needs CAP_DAC_READ_SEARCH too).
//   - name_to_handle_at: makes such handles; refused with the other.
//   - bpf: pinned objects are files of bpffs, opened by path; and a
//     cgroup program (connect4, sendmsg6, ...) rewrites the addresses of
//     connect and sendmsg inside the kernel, after the network policy
//     checked them.
//   - pidfd_getfd, ptrace, process_vm_writev, process_vm_readv: they act
//     through another process, which no policy governs: the supervisor
//     itself, or any process outside the policy that the program may
//     ptrace (one of its user, with the supervisor's uid or with
//     CAP_SYS_PTRACE). pidfd_getfd copies that process's descriptors: the
//     supervisor's listener, with which the program would answer its own
//     calls Continue, or any file the other process holds open. ptrace
//     (PTRACE_ATTACH, PTRACE_SEIZE) and process_vm_writev make the other
//     process run the program's code, and process_vm_readv reads its
//     memory, which the file policy would not let the program read as
//     /proc/<pid>/mem. ptrace is refused whole, PTRACE_TRACEME too: a
//     request that is not an attach only serves a tracer, and answering
//     those with Continue would let the kernel run what a rule set might
//     deny. So debuggers (gdb, strace) do not work under a policy.
//   - userfaultfd: a program that registers the page holding a path (or
//     a socket address) with userfaultfd and never resolves the fault
//     makes the supervisor's read of it wait for as long as the program
//     lives, on a thread of the supervisor's that nothing can interrupt;
//     enough of them exhaust the supervisor's threads. (Without
//     CAP_SYS_PTRACE a program may only make a userfaultfd for its own
//     faults, UFFD_USER_MODE_ONLY, which the supervisor's reads do not
//     wait for; it is refused whatever the flags.)
var bypassCalls = []string{
	"bpf", "io_uring_setup", "name_to_handle_at", "open_by_handle_at",
	"pidfd_getfd", "process_vm_readv", "process_vm_writev", "ptrace", "userfaultfd",
}

// pathCallsRefused are the calls with a path that a file policy refuses
// (EPERM) instead of carrying them out: mounting and unmounting (a bind
// mount would put any directory under an allowed one), changing the root,
// the new mount API, swap, process accounting, quotas, uselib (it maps a
// library by path), fanotify marks (watching paths the policy does not
// allow) and the Cell processor's spu_create. (bpf is one of bypassCalls.)
var pathCallsRefused = []string{
	"acct", "chroot", "fanotify_mark", "fsconfig", "fsmount", "fsopen", "fspick",
	"mount", "mount_setattr", "move_mount", "open_tree", "open_tree_attr", "pivot_root",
	"quotactl", "spu_create", "swapoff", "swapon", "umount", "umount2", "uselib",
}

// inodeIoctls are the ioctl requests that change a file, or its
// filesystem, through any descriptor of it, one opened read-only
// included: the inode flags (chattr: append-only and immutable with
// CAP_LINUX_IMMUTABLE, the others for the owner), the extended flags and
// project id, the generation number, fs-verity (which wants a read-only
// descriptor and makes the file unwritable for good), an encryption
// policy on an empty directory, and the filesystem label. A file policy
// refuses them with EPERM in the filter (see refuseInodeIoctls): they are
// decided on the call's registers. The 32-bit forms (FS_IOC32_*) are
// there for i386 callers.
var inodeIoctls = []uint32{
	0x40086602, // FS_IOC_SETFLAGS
	0x40046602, // FS_IOC32_SETFLAGS
	0x401c5820, // FS_IOC_FSSETXATTR
	0x40087602, // FS_IOC_SETVERSION
	0x40047602, // FS_IOC32_SETVERSION
	0x40806685, // FS_IOC_ENABLE_VERITY
	0x800c6613, // FS_IOC_SET_ENCRYPTION_POLICY
	0x41009432, // FS_IOC_SETFSLABEL
}

// refuseInodeIoctls adds the filter rules that refuse inodeIoctls
// (EPERM). Errno is stronger than Notify and Allow, so they hold whatever
// else the filter says of ioctl. They are not shown: the supervisor never
// sees them. The request is ioctl's second register on every ABI; it is
// matched on its low 32 bits, as the kernel reads it (unsigned int).
func refuseInodeIoctls(f *filter.Filter) error {
	if !filterHas(f, "ioctl") {
		return nil
	}
	reg, ok := sameReg(f, "ioctl", sysargs.Hex, 0)
	if !ok {
		return fmt.Errorf("emulate: ioctl's request is not in the same register on every ABI of the filter")
	}
	for _, req := range inodeIoctls {
		if err := f.AddIf(filter.Errno(unix.EPERM), "ioctl", cond32(reg, uint64(req))); err != nil {
			return fmt.Errorf("emulate: %w", err)
		}
	}
	return nil
}

// refuseX32InodeIoctls returns the middleware that Files.Register adds to
// its Mux: it refuses (EPERM, shown through onDeny) the inodeIoctls made
// by x32 code. refuseInodeIoctls refuses them in the filter for the
// filter's own ABIs, but x32 is none of them: its calls (x86_64's arch,
// the x32 bit in the number) reach the supervisor through the mismatch
// action, Notify, and a file policy routes no ioctl, so they would get
// the Mux's default answer, which lets calls run in most supervisors. The
// decision is on registers (call number and request), as in the filter.
// Only a kernel booted with x32 enabled runs such a call at all.
func refuseX32InodeIoctls(onDeny func(context.Context, *seccompstream.Notification, seccompstream.Response)) func(seccompstream.Handler) seccompstream.Handler {
	return func(next seccompstream.Handler) seccompstream.Handler {
		return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
			if x32InodeIoctl(n) {
				return refuse(ctx, n, onDeny)
			}
			return next.ServeNotification(ctx, n)
		})
	}
}

// x32InodeIoctl reports whether n is an x32 ioctl with one of inodeIoctls
// (matched on the request's low 32 bits, as the kernel reads it).
func x32InodeIoctl(n *seccompstream.Notification) bool {
	if !sysnames.IsX32(n.Arch, n.Syscall) {
		return false
	}
	s, ok := sysargs.Lookup(n.Arch, n.Syscall)
	if !ok || s.Name != "ioctl" {
		return false
	}
	i := s.Find(sysargs.Hex)
	return i >= 0 && slices.Contains(inodeIoctls, uint32(s.Value(i, n.Args)))
}

// letThrough are the calls with a path that a file policy lets the kernel
// run unchecked, because what they do grants no access to files:
//
//   - execve, execveat (and sparc's execv): the kernel opens the program
//     itself and maps it; nothing of it comes back to the caller but the
//     new program, which runs under the same filter. A program outside
//     the policy can be run, and reads of its own files go on being
//     checked.
//   - chdir: a working directory opens nothing; every path used from it is
//     checked where it leads. (It cannot be carried out for the caller
//     either: a process's working directory can only be changed by the
//     process.)
//
// They still reveal whether a path exists outside the policy.
var letThrough = []string{"chdir", "execv", "execve", "execveat"}

// refuse answers a refused call: EPERM, shown through onDeny.
func refuse(ctx context.Context, n *seccompstream.Notification, onDeny func(context.Context, *seccompstream.Notification, seccompstream.Response)) seccompstream.Response {
	r := seccompstream.Errno(unix.EPERM)
	if onDeny != nil {
		onDeny(ctx, n, r)
	}
	return r
}

// refuseRoute is the Handler that refuses every call it gets.
func refuseRoute(onDeny func(context.Context, *seccompstream.Notification, seccompstream.Response), _ string) seccompstream.Handler {
	return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return refuse(ctx, n, onDeny)
	})
}

// registerBypasses routes bypassCalls in m to a refusal, unless a policy
// routed them already (the first one's onDeny shows them).
func registerBypasses(m *seccompstream.Mux, onDeny func(context.Context, *seccompstream.Notification, seccompstream.Response)) {
	for _, name := range bypassCalls {
		if routed(m, name) || !knownName(name) {
			continue
		}
		m.Handle(name, refuseRoute(onDeny, name))
	}
}

// routed reports whether m routes the call name (on some arch that has it).
func routed(m *seccompstream.Mux, name string) bool {
	for _, a := range sysnames.Arches() {
		if nr, ok := sysnames.Number(a, name); ok {
			_, r := m.Handler(&seccompstream.Notification{Arch: a, Syscall: nr})
			return r
		}
	}
	return false
}
