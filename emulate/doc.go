// Package emulate holds ready handlers that carry out system calls for the
// programs a seccompstream supervisor serves, after checking them against
// a policy: a file policy (Files: which paths may be read and written), a
// network policy (which addresses may be connected to and bound), and the
// intercepts container managers commonly need (Mknod: the allowed device
// nodes; Sysinfo: memory and processes from the caller's cgroup).
//
// # The rule
//
// A call whose decision depends on memory contents (a path, a socket
// address) is either denied, or carried out by the supervisor with the
// copy it checked; it is never answered Continue. With Continue the kernel
// reads the path again when it runs the call, after the supervisor looked
// at it, and another thread of the program (or another process sharing
// its memory) can change it in between: "/tmp/ok" when checked,
// "/etc/shadow" when opened (seccomp_unotify(2)). A denial on a stale read
// can only fail closed. So every handler here either refuses, or does the
// call itself as the calling thread would (seccompstream.Target: its root,
// working directory, mount namespace, file-system ids, groups and
// capabilities) and hands back the result: a file descriptor installed in
// the caller (SECCOMP_IOCTL_NOTIF_ADDFD, close-on-exec when asked), a
// value, or an out-buffer written where the caller asked.
//
// # Files
//
//	fs, err := emulate.NewFiles(emulate.FilePolicy{
//		Read:  append(emulate.SystemPaths(), "/srv/data"),
//		Write: []string{"/tmp/out"},
//	})
//	f := filter.New(filter.Allow)
//	err = fs.AddRules(f) // notify the file calls, nothing else
//	mux := seccompstream.NewMux()
//	fs.Register(mux)
//	s, err := seccompstream.Start(cmd, f)
//	err = s.Serve(ctx, mux)
//
// A policy path names a directory and everything below it, or a file, in
// the program's view (from its root). Paths are never compared as text: a
// path the program gives is resolved as the kernel would resolve it for
// the calling thread, and the policy is applied to where it leads, a
// location without symbolic links ("How a path is checked" in paths.go
// has the steps). So a symbolic link inside an allowed directory that
// points outside it leads outside and is refused; "DIR/../secret" is the
// secret's location; /proc/self/root, /proc/<pid>/fd/* and the other magic
// links are never followed (RESOLVE_NO_MAGICLINKS). A policy path that is
// itself a symbolic link stands for where it leads, resolved once per
// root the calls come from.
//
// What each call needs of the location it acts on:
//
//	look at it       stat, lstat, newfstatat, statx, stat64, lstat64,
//	                 fstatat64, access(F_OK, X_OK), readlink, readlinkat,
//	                 statfs, getxattr, listxattr, an O_PATH open:
//	                 readable, or a directory above a policy path, or a
//	                 policy path as written (so "/usr" may be looked at
//	                 under --allow-read /usr/share, and realpath works)
//	read it          open for reading (files, directories to list),
//	                 access(R_OK), inotify_add_watch: readable
//	change it        open with O_WRONLY, O_RDWR, O_CREAT, O_TRUNC,
//	                 O_APPEND or O_TMPFILE, access(W_OK); mkdir, mknod,
//	                 unlink, rmdir, rename (both names), link (both names),
//	                 symlink, chmod, chown, truncate, utimensat, utimes,
//	                 setxattr, removexattr, and their *at, l* and f* forms:
//	                 writable
//
// Two writing opens need only a readable location, because they change
// no file there: a device node (the supervisor opens only null, zero,
// full, random, urandom, the pty multiplexer and terminals for a program
// at all; see seccompstream.ErrSupervisorView), whatever the flags; and an
// existing file with O_RDONLY|O_CREAT (a lock file), which creates
// nothing. O_APPEND with O_RDONLY writes nothing either. A path
// that leads nowhere the policy allows gets EACCES, or ENOENT when the
// name does not exist and the call would not create it (as the kernel
// would answer; whether a path exists is not hidden, see below). Errors
// the kernel gives are passed on as they are: the file's own permissions
// (checked as the calling thread), ENOENT, ENOTDIR, ELOOP, EXDEV.
//
// Refused with EPERM while a file policy is active, because they would go
// around it: io_uring_setup (io_uring runs openat, statx, connect and the
// rest inside the kernel, where seccomp never sees them), open_by_handle_at
// and name_to_handle_at (a file handle names a file without a path);
// mount, umount, umount2, pivot_root, chroot, the new mount API (fsopen,
// fsconfig, fsmount, fspick, open_tree, move_mount, mount_setattr; a bind
// mount would put any directory under an allowed one), swapon, swapoff,
// acct, quotactl, uselib, fanotify_mark, bpf, spu_create. Device nodes are
// not created (mknod of a character or block device: EPERM).
//
// Not carried out, answered ENOSYS so that programs use another call:
// openat2 with resolve flags other than RESOLVE_NO_MAGICLINKS (libraries
// then resolve the path themselves, with calls that are carried out);
// getxattrat, setxattrat, listxattrat, removexattrat (Linux 6.13) and
// file_getattr, file_setattr (6.17); i386's old stat, lstat, oldstat,
// oldlstat and statfs (glibc uses stat64, statx and statfs64); and the
// stat-like calls of ABIs whose structs this package does not lay out
// (anything but x86_64, x32, i386, aarch64, riscv64 and loongarch64).
//
// Let through unchecked, because what they do opens nothing: execve and
// execveat (the kernel opens and maps the program itself; the new program
// runs under the same filter) and chdir (a working directory grants
// nothing: every path used from it is checked where it leads; and a
// process's working directory can only be changed by the process).
//
// # Limits
//
// The policy controls what the program reaches through paths. It does not
// hide that a path exists: execve and chdir are let through, and a path
// that leads through a directory the program may not search fails as the
// kernel makes it fail. Files a program holds before it starts (its
// standard input and output, what its parent passed) are its own.
// Calls on descriptors it holds (read, write, fstat, fchdir, getdents)
// are not notified; those that change a file's metadata (fchmod, fchown,
// fsetxattr, fremovexattr, futimens) are, and need a writable location.
// The supervisor's own view is never lent. A path that starts with
// /proc/self or /proc/thread-self is the program's own directory there
// (/proc/<pid>, as the kernel would resolve it for the program; the
// policy must allow it, as /proc or /); but "self" reached through a
// symbolic link (/dev/stdin, /dev/stdout, /dev/fd lead there) would name
// the supervisor and is refused, as are the magic links themselves
// (/proc/<pid>/fd/*, exe, cwd, root: readlink works, opening does not),
// /dev/tty and the device nodes other than the ones above
// (seccompstream.ErrSupervisorView). A file is opened by the supervisor
// with the caller's file-system ids: what the kernel checks against the
// opener's other credentials when the file is written is the
// supervisor's, so a program cannot, say, set up a user namespace of its
// own (writing /proc/<pid>/uid_map checks the opener's effective uid).
// Unix socket paths (connect, bind) belong to the network policy. The
// policy is not a sandbox on its own: signals, ptrace, shared memory and
// sockets to processes outside it are not file calls; combine it with
// namespaces, no_new_privs and a deny list for those.
//
// # Kernels
//
// Files needs Linux 5.9 (SECCOMP_IOCTL_NOTIF_ADDFD to hand files over;
// openat2 and pidfd_getfd come with 5.6); AddRules refuses to build a
// filter on older kernels. What else changes with the kernel:
// PIDFD_THREAD (6.9) pins a calling thread that does not lead its
// process (before, its process); fchmodat2 (6.6), the *xattrat calls
// (6.13) and file_getattr (6.17) exist only where the kernel has them;
// newfstatat and statx with a NULL path and AT_EMPTY_PATH (6.11) are
// fstat, let through by the filter.
//
// # Costs
//
// Each carried-out call pins the calling thread (a pidfd, its root and
// working directory, its credentials), resolves the path with openat2 in
// a few steps, checks the location, and answers: a few dozen system calls
// in the supervisor, against the one round trip of a Continue. The
// benchmarks compare the three costs (no filter, Continue, carried out)
// in one run:
//
//	go test -run '^$' -bench 'Open|Stat' -benchtime 20000x ./emulate
//
// A caller whose credentials are the supervisor's is served on the
// handler's own thread; another one on a throwaway thread per call (about
// 60 µs more), which seccompstream.Target documents.
//
// # Intercepts
//
// Mknod creates the device nodes it is given (DefaultDevices otherwise)
// for a caller that could not (a container without CAP_MKNOD), as the
// caller would, where it could create a regular file; Sysinfo answers
// sysinfo(2) from the caller's cgroup. Their documentation says what each
// does. Mknod does not go with a file policy, which carries out mknod
// itself and creates no device node.
//
// # Network
//
// The network policy (connect, bind, and datagrams to a destination) is
// documented here by its own handlers. Both policies refuse the same
// bypass calls (io_uring_setup, open_by_handle_at, name_to_handle_at); a
// Mux can take both.
package emulate
