package emulate

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
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
var bypassCalls = []string{"bpf", "io_uring_setup", "name_to_handle_at", "open_by_handle_at"}

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
