package sysargs

import "strconv"

// Kind is what a system call argument is: how to read it, what its value
// means and how to show it. The comment of each kind says what Decode
// makes of it; syscalls.txt names each kind by the word in parentheses.
type Kind uint8

// Scalar kinds: the value is the register itself.
const (
	Invalid     Kind = iota
	Int              // (int) a C int: the low 32 bits, signed
	Uint             // (uint) the low 32 bits, unsigned
	Long             // (long) a C long: register width, signed
	Ulong            // (ulong) register width, unsigned
	Hex              // (hex) a value shown in hexadecimal (cookies, unnamed flags)
	Size             // (size) a size_t, decimal
	Offset           // (off) a file offset, signed; off64 in syscalls.txt is 64 bits wide on every ABI
	PID              // (pid) a process or thread id (negative: a group)
	UID              // (uid) a user id; -1 means "unchanged"
	GID              // (gid) a group id; -1 means "unchanged"
	FD               // (fd) a file descriptor of the target
	DirFD            // (dirfd) a directory fd that Path arguments are relative to, or AT_FDCWD
	Mode             // (mode) file permission bits, octal
	SockaddrLen      // (socklen) the length of a Sockaddr argument
	FcntlArg         // (fcntlarg) fcntl's third argument: its kind follows the command

	// Named values, resolved per ABI from golang.org/x/sys/unix.

	Signal         // (signal) a signal number, named per ABI (SIGINT; SIGRTMIN, SIGRT_n)
	NodeMode       // (fmode) a file type and permission bits (mknod: S_IFCHR|0600)
	OpenFlags      // (oflags) O_RDONLY|O_CREAT|...: open, openat, mq_open
	FileFlags      // (fileflags) O_CLOEXEC, O_NONBLOCK, O_DIRECT without an access mode: pipe2, dup3, eventfd2...
	FDFlags        // (fdflags) FD_CLOEXEC
	AtFlags        // (atflags) AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH, ...
	UnlinkFlags    // (unlinkflags) unlinkat's AT_REMOVEDIR
	AccessAtFlags  // (accessflags) faccessat2's AT_EACCESS, AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH
	AccessMode     // (access) F_OK or R_OK|W_OK|X_OK
	MmapProt       // (prot) PROT_READ|PROT_WRITE|...
	MmapFlags      // (mapflags) MAP_PRIVATE|MAP_ANONYMOUS|...
	CloneFlags     // (cloneflags) clone's flags, with the exit signal in the low byte
	UnshareFlags   // (unshareflags) CLONE_* flags without an exit signal: unshare, setns, clone3
	SocketFamily   // (af) AF_INET, AF_UNIX, ...
	SocketType     // (socktype) SOCK_STREAM|SOCK_CLOEXEC, ...
	SocketFlags    // (sockflags) accept4's SOCK_NONBLOCK|SOCK_CLOEXEC
	FcntlCmd       // (fcntlcmd) F_GETFD, F_SETFL, ...
	PrctlOption    // (prctlop) PR_SET_NAME, PR_SET_NO_NEW_PRIVS, ...
	Personality    // (personality) PER_LINUX, ADDR_NO_RANDOMIZE, ...
	Whence         // (whence) SEEK_SET, SEEK_CUR, ...
	MsgFlags       // (msgflags) MSG_DONTWAIT|MSG_NOSIGNAL|...
	RenameFlags    // (renameflags) RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT
	MountFlags     // (mountflags) MS_BIND|MS_REC|...
	UmountFlags    // (umountflags) MNT_DETACH, ...
	FutexOp        // (futexop) FUTEX_WAIT|FUTEX_PRIVATE_FLAG, ...
	ClockID        // (clockid) CLOCK_MONOTONIC, ...
	SigprocmaskHow // (sighow) SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK
	RlimitResource // (rlimit) RLIMIT_NOFILE, ...
	EpollOp        // (epollop) EPOLL_CTL_ADD, ...
	MadviseAdvice  // (madvise) MADV_DONTNEED, ...
	ShutdownHow    // (shuthow) SHUT_RD, SHUT_WR, SHUT_RDWR
	MemfdFlags     // (memfdflags) MFD_CLOEXEC|MFD_ALLOW_SEALING|...
	WaitOptions    // (waitopts) WNOHANG|__WALL|...
	IDType         // (idtype) waitid's P_PID, P_PIDFD, ...
	SeccompOp      // (seccompop) SECCOMP_SET_MODE_FILTER, ...
	TimerFlags     // (timerflags) TIMER_ABSTIME
	IPCCall        // (ipccall) the System V call ipc multiplexes: SEMOP, SHMAT, ...
	ResolveFlags   // (resolveflags) open_how's RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS|...
	SocketCall     // (sockcall) the socket call socketcall multiplexes: SYS_CONNECT, ...

	// Pointer kinds: the value is an address in the target. Decode reads
	// what the ones below Pointer point to; a decision taken on such
	// contents must not be answered with Continue (see the package doc).

	Pointer        // (ptr) an address that is not read: an output buffer, a struct
	Path           // (path) a NUL-terminated path the kernel looks up (relative to its DirFD)
	String         // (str) a NUL-terminated string that is not a path (an xattr name, a symlink's contents)
	Buffer         // (buf) bytes the call reads, with their length: write's buf (the first BufferMax are read)
	StringArray    // (argv) a NULL-terminated array of string pointers: execve's argv
	EnvArray       // (envp) the same, counted but not read: execve's envp
	Sockaddr       // (sockaddr) a socket address, with its SockaddrLen
	OpenHow        // (openhow) openat2's struct open_how, with its size
	MmapArgs       // (mmaparg) old_mmap's six values (i386 and s390x mmap)
	SocketCallArgs // (sockargs) socketcall's array of the multiplexed call's arguments
	MsgHdr         // (msghdr) sendmsg's struct msghdr: its destination address and lengths
	CloneArgs      // (cloneargs) clone3's struct clone_args: its flags and exit signal

	numKinds
)

// Pointer reports whether an argument of kind k holds an address in the
// target's memory rather than a value. A filter rule (or a recorded
// profile) may test a register argument only when it is not a pointer:
// the kernel reads what a pointer points to after the filter ran.
func (k Kind) Pointer() bool { return k >= Pointer && k < numKinds }

// Named reports whether k's values have names (flags or constants) that
// Format and Parse know.
func (k Kind) Named() bool { return k >= Signal && k <= SocketCall }

// signed32 reports whether the kernel declares parameters of kind k as a
// signed 32-bit int whose sign matters.
func (k Kind) signed32() bool {
	switch k {
	case Int, FD, DirFD, PID, Signal, SockaddrLen, ClockID:
		return true
	}
	return false
}

// unsigned32 reports whether the kernel declares parameters of kind k 32
// bits wide (or narrower): flags and constants passed as a C int or
// unsigned int.
func (k Kind) unsigned32() bool {
	switch k {
	case Uint, UID, GID, Mode, NodeMode, Personality, Whence, MsgFlags, RenameFlags,
		UmountFlags, RlimitResource, MemfdFlags, SeccompOp, IPCCall, FDFlags,
		FcntlCmd, SocketFamily, SocketType, SocketFlags, FutexOp, SigprocmaskHow,
		EpollOp, MadviseAdvice, ShutdownHow, IDType, SocketCall, PrctlOption,
		OpenFlags, FileFlags, AtFlags, UnlinkFlags, AccessAtFlags, AccessMode,
		WaitOptions, TimerFlags:
		return true
	}
	return false
}

// String returns the Go name of the kind ("OpenFlags").
func (k Kind) String() string {
	if k < numKinds && kindNames[k] != "" {
		return kindNames[k] // generated from this file
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}
