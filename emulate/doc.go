// Package emulate holds ready handlers that carry out system calls for the
// programs a seccompstream supervisor serves, after checking them against
// a policy: a file policy (Files: which paths may be read and written), a
// network policy (Network: which addresses may be connected to and
// bound), and the intercepts container managers commonly need (Mknod:
// the allowed device nodes; Sysinfo: memory and processes from the
// caller's cgroup).
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
// and name_to_handle_at (a file handle names a file without a path); mount,
// umount, umount2, pivot_root, chroot, the new mount API (fsopen, fsconfig,
// fsmount, fspick, open_tree, open_tree_attr, move_mount, mount_setattr; a
// bind mount would put any directory under an allowed one), swapon,
// swapoff, acct, quotactl, uselib, fanotify_mark, bpf, spu_create; and the
// calls that act through another process, which no policy governs (the
// supervisor itself, or any process outside the policy the program may
// trace): pidfd_getfd (it would copy the supervisor's listener, and the
// program would answer its own calls), ptrace (all of it, PTRACE_TRACEME
// too: debuggers do not work under a policy), process_vm_readv and
// process_vm_writev; and userfaultfd (a fault the program never resolves,
// on the page of a path, would hold the supervisor's read of it for as long
// as the program lives). Device nodes are not created (mknod of a character
// or block device: EPERM). The ioctl requests that change a file through
// any descriptor of it, a read-only one included (inode flags as chattr
// sets them, extended flags, fs-verity, an encryption policy, the
// filesystem label), get EPERM from the filter itself, on the request
// alone; they are not shown. x32 code's (where the kernel runs x32 at
// all) reach the supervisor and are refused by Files.Register's
// middleware, and shown.
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
// policy is not a sandbox on its own: signals, shared memory, setns and
// sockets to processes outside it are not file calls (ptrace and the
// other calls that act through another process are refused, above);
// combine it with namespaces, no_new_privs and a deny list for those.
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
//	nw, err := emulate.NewNetwork(emulate.NetworkPolicy{
//		Connect: []string{"127.0.0.1:8080", "[::1]:*", "10.0.0.0/8:53", "/run/app.sock"},
//		Bind:    []string{"127.0.0.1:0", "@app"},
//	})
//	err = nw.AddRules(f) // with fs.AddRules(f) too, for both policies
//	nw.Register(mux)
//
// The items are addresses with a port or * (IPv4, IPv6 in brackets, CIDR
// prefixes of either), absolute unix socket paths and abstract unix names
// (@name); NetworkPolicy has the syntax. Host names are not accepted.
// What each call gets:
//
//	connect          the address read once from memory and checked: an
//	                 IP destination against Connect (IPv4-mapped IPv6
//	                 addresses as IPv4), a unix path where it leads (below),
//	                 an abstract name as written; then connect(2) on a copy
//	                 of the caller's own socket (pidfd_getfd) with the
//	                 address rebuilt from the checked values. The socket's
//	                 blocking mode is the caller's: a non-blocking connect
//	                 answers EINPROGRESS and completes in the kernel.
//	                 AF_UNSPEC (dissolve the association) is carried out;
//	                 netlink addresses always are.
//	bind             the same against Bind; a unix path is created with
//	                 the caller's ids and umask in the directory checked;
//	                 an unnamed unix address (autobind) is carried out.
//	sendto           with a destination: the destination checked as for
//	                 connect, the data read from memory and sent on the
//	                 caller's socket, the byte count returned. Without one
//	                 (send(2), a NULL address or a zero length) the filter
//	                 lets it run: no address is read.
//	sendmsg,         always carried out (the kernel would read msg_name
//	sendmmsg         from memory again, so even a message without one is
//	                 not left to it): destination checked, data gathered,
//	                 control messages laid out for the supervisor with the
//	                 descriptors of SCM_RIGHTS copied from the caller;
//	                 sendmmsg writes each msg_len back, as the kernel does.
//	socket           decided on its registers: unix and netlink sockets,
//	                 TCP (and MPTCP) and UDP sockets of IPv4 and IPv6 run;
//	                 raw and packet sockets, SCTP and the families without
//	                 an address syntax here (vsock, bluetooth, CAN, XDP,
//	                 ...) get EACCES.
//	setsockopt       decided on its registers: IP_OPTIONS, IPV6_RTHDR,
//	                 IPV6_2292RTHDR and IPV6_2292PKTOPTIONS get EACCES
//	                 (source routes send packets by way of other
//	                 addresses); the rest runs unnotified.
//	socketcall       (i386 and the other ABIs that have it) its call read
//	                 once from memory and decided as the direct call; the
//	                 calls that take no address run. socket and setsockopt
//	                 through it are carried out (a socket made in the
//	                 caller's namespaces and installed with ADDFD); a
//	                 32-bit caller's multicast group, socket filter and
//	                 netfilter options get ENOPROTOOPT there.
//	recv*, accept,   not notified: receiving and accepting take no
//	listen, ...      decision.
//
// Sent data never reaches a destination the policy does not name; the
// control messages that would route it elsewhere (IP_RETOPTS,
// IPV6_RTHDR, IPV6_2292RTHDR, IPV6_NEXTHOP) get EACCES, explicit
// SCM_CREDENTIALS EPERM (the kernel would check the claimed ids against
// the supervisor's thread). Calls are carried out with MSG_NOSIGNAL: a
// send on a broken connection gets EPIPE without a SIGPIPE.
//
// A unix socket path is resolved as the caller would resolve it (its
// root, working directory and mounts; symbolic links inside its root; no
// magic links) and allowed when it is the very socket file that a Connect
// path leads to, resolved the same way at that moment; the connect then
// names the file that was checked (/proc/self/fd of an O_PATH
// descriptor), so a rename or a swapped link afterwards changes nothing.
// A bind is allowed when the directory and final name are those of a Bind
// path, and made there by descriptor. A path that cannot be resolved gets
// the kernel's error (ENOENT: the server is not up yet) when it is listed
// as written, EACCES otherwise. Abstract names belong to the socket's
// network namespace and are matched as written.
//
// Calls on unix sockets run on a thread with all of the caller's ids
// (real, effective, saved, file-system; groups): the server's
// SO_PEERCRED and the credentials a SO_PASSCRED receiver reads are the
// caller's uid and gid, never the supervisor's. Binds to IP addresses,
// netlink calls and sends with control messages run with the caller's
// capabilities (ports below 1024 need its CAP_NET_BIND_SERVICE). Other IP
// calls run on the handler's thread: the kernel checks no credentials
// there.
//
// # Blocking calls
//
// A connect or send on a blocking socket waits in its handler, on the
// caller's socket, and holds up no other call. When the caller gives the
// call up (it was killed or interrupted: Serve cancels the handler's
// context) or Serve stops, the wait is ended at once: the supervisor's
// copy of the descriptor is replaced by another file and the waiting
// thread is sent SIGURG, so the kernel's restart of the call finds no
// socket there. The caller's socket is left as an interrupted call leaves
// it (a TCP connect goes on in the background, as after EINTR) and closes
// with the caller's last descriptor. Measured here: shutdown(2) on the
// copy ends a TCP connect but resets the caller's socket and does not end
// a unix one; a signal alone ends neither (Go's handlers restart calls).
//
// # Network limits
//
// The policy decides where the program's own calls send data: it is not a
// firewall. A server the policy lets the program reach sees the
// supervisor's process id on unix sockets (SO_PEERCRED's pid, SO_PEERPIDFD,
// the pid of SO_PASSCRED messages): allow only servers that do not grant by
// pid. A program with CAP_NET_ADMIN over its network namespace can rewrite
// addresses after the check (netfilter NAT, tc, XFRM, through netlink), and
// one with CAP_BPF could with cgroup programs (bpf is refused): run it
// without them. Without a file policy, a program that may ptrace the
// supervisor (its user, or CAP_SYS_PTRACE) can write the supervisor's
// memory through /proc/<pid>/mem, a file call the network policy does not
// see; ptrace, pidfd_getfd and process_vm_writev are refused, but that file
// is only closed to it by a file policy (which never opens the supervisor's
// /proc files), by a non-dumpable supervisor (prctl PR_SET_DUMPABLE 0, as
// the CLI's run and agent do; then only CAP_SYS_PTRACE opens it), or by
// running it without CAP_SYS_PTRACE as another user.
// Sockets the program holds from before it started (its parent's, or
// received with SCM_RIGHTS) keep their connections and options; connect,
// bind and sends with a destination on raw, packet and SCTP sockets among
// them are refused. Ports are the same for TCP and UDP; the name a socket
// bound by path reports (getsockname, the peer's address) is its final name
// alone, since the socket was made from the checked directory. Connects to
// 0.0.0.0 and [::] reach the local host: they match only items that name
// them. Name lookups need their server listed (the nameserver of
// /etc/resolv.conf, port 53).
//
// Network needs pidfd_getfd (Linux 5.6), and AddRules asks for ADDFD
// (5.9) as Files does. A connect costs about as much carried out as let
// through with Continue (see BenchmarkConnect: pinning the caller and
// copying its descriptor are a few microseconds; the connect itself moves
// to the supervisor); a call on a unix socket by a caller whose ids are
// not the supervisor's adds a throwaway thread (about 60 µs).
//
// Both policies refuse the same bypass calls (io_uring_setup, bpf,
// open_by_handle_at, name_to_handle_at, pidfd_getfd, ptrace,
// process_vm_readv, process_vm_writev, userfaultfd); a Mux can take both.
package emulate
