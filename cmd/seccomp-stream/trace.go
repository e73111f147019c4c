package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// traceRecord is one traced call, as --json prints it (one object per
// line).
type traceRecord struct {
	PID      int      `json:"pid"`
	Syscall  string   `json:"syscall"`
	Arch     string   `json:"arch,omitempty"` // only when not the native one
	Args     []string `json:"args"`           // decoded, as in the text form
	Raw      []uint64 `json:"raw"`            // the six raw argument values
	Decision string   `json:"decision"`       // "continue" or an errno name
	Errno    int      `json:"errno,omitempty"`
}

// formatCall describes the call n and the answer r as one line ending in
// "\n": text (`1234 openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = continue`)
// or, with asJSON, a JSON object (see traceRecord). It reads strings and
// socket addresses from the target's memory, so call it before answering
// n; memory that cannot be read is shown as the raw pointer followed by
// the reason, e.g. `0x7ffd1234 <EFAULT>`.
func formatCall(n *seccompstream.Notification, r seccompstream.Response, asJSON bool) []byte {
	rec := decodeCall(n, r)
	if asJSON {
		b, err := json.Marshal(rec)
		if err != nil {
			b = []byte(fmt.Sprintf(`{"pid":%d,"syscall":%q,"error":%q}`, rec.PID, rec.Syscall, err.Error()))
		}
		return append(b, '\n')
	}
	var sb strings.Builder
	sb.WriteString(strconv.Itoa(rec.PID))
	sb.WriteByte(' ')
	sb.WriteString(rec.Syscall)
	if rec.Arch != "" {
		sb.WriteString("[" + rec.Arch + "]")
	}
	sb.WriteByte('(')
	sb.WriteString(strings.Join(rec.Args, ", "))
	sb.WriteString(") = ")
	sb.WriteString(rec.Decision)
	sb.WriteByte('\n')
	return []byte(sb.String())
}

// decision names an answer for a trace line.
func decision(r seccompstream.Response) string {
	switch {
	case r.IsContinue():
		return "continue"
	case r.Errno() != 0:
		return errnoString(r.Errno())
	}
	return r.String()
}

func decodeCall(n *seccompstream.Notification, r seccompstream.Response) traceRecord {
	rec := traceRecord{
		PID:      n.PID,
		Syscall:  n.SyscallName(),
		Raw:      n.Args[:],
		Decision: decision(r),
		Errno:    int(r.Errno()),
	}
	if n.Arch != sysnames.Native() {
		rec.Arch = n.ArchName()
	}
	spec, known := argSpecs[rec.Syscall]
	if !known || n.Arch != sysnames.Native() {
		rec.Args = rawArgs(n.Args)
		return rec
	}
	var mem *seccompstream.Memory
	getMem := func() (*seccompstream.Memory, error) {
		if mem != nil {
			return mem, nil
		}
		m, err := n.OpenMemory()
		if err != nil {
			return nil, err
		}
		mem = m
		return m, nil
	}
	defer func() {
		if mem != nil {
			mem.Close()
		}
	}()
	kinds := strings.Fields(spec)
	switch rec.Syscall {
	case "open", "openat":
		// The mode matters only when a file may be created.
		if fl := n.Args[len(kinds)-2]; fl&unix.O_CREAT == 0 && fl&unix.O_TMPFILE != unix.O_TMPFILE {
			kinds = kinds[:len(kinds)-1]
		}
	}
	rec.Args = make([]string, 0, len(kinds))
	for i, k := range kinds {
		var next uint64
		if i+1 < len(n.Args) {
			next = n.Args[i+1]
		}
		rec.Args = append(rec.Args, formatArg(k, n.Args[i], next, getMem))
	}
	return rec
}

// rawArgs shows the six raw values in hex, without trailing zeros.
func rawArgs(args [6]uint64) []string {
	last := len(args)
	for last > 0 && args[last-1] == 0 {
		last--
	}
	out := make([]string, last)
	for i := range out {
		out[i] = "0x" + strconv.FormatUint(args[i], 16)
	}
	return out
}

// Argument kinds, one letter each:
//
//	d dirfd (AT_FDCWD)   p path          s string         v string array (argv)
//	o open(2) flags      m mode (octal)  a access(2) mode A AT_* flags
//	f fd                 i signed int    u unsigned       x hex
//	S socket address; its length is the next argument
var argSpecs = map[string]string{
	"open": "p o m", "openat": "d p o m", "openat2": "d p x u", "creat": "p m",
	"mkdir": "p m", "mkdirat": "d p m", "rmdir": "p",
	"unlink": "p", "unlinkat": "d p A",
	"rename": "p p", "renameat": "d p d p", "renameat2": "d p d p x",
	"link": "p p", "linkat": "d p d p A", "symlink": "p p", "symlinkat": "p d p",
	"readlink": "p x u", "readlinkat": "d p x u",
	"chdir": "p", "chroot": "p", "fchdir": "f",
	"chmod": "p m", "fchmodat": "d p m", "fchmodat2": "d p m A", "fchmod": "f m",
	"chown": "p i i", "lchown": "p i i", "fchownat": "d p i i A",
	"access": "p a", "faccessat": "d p a", "faccessat2": "d p a A",
	"stat": "p x", "lstat": "p x", "newfstatat": "d p x A", "fstatat64": "d p x A",
	"statx": "d p A x x", "statfs": "p x", "truncate": "p i",
	"execve": "p v x", "execveat": "d p v x A",
	"mknod": "p m x", "mknodat": "d p m x", "utimensat": "d p x A",
	"mount": "s p s x x", "umount2": "p x", "pivot_root": "p p",
	"getxattr": "p s x u", "lgetxattr": "p s x u", "setxattr": "p s x u x", "lsetxattr": "p s x u x",
	"listxattr": "p x u", "llistxattr": "p x u", "removexattr": "p s", "lremovexattr": "p s",
	"inotify_add_watch": "f p x", "swapon": "p x", "swapoff": "p", "acct": "p",
	"connect": "f S u", "bind": "f S u", "sendto": "f x u x S u",
	"read": "f x u", "write": "f x u", "pread64": "f x u i", "pwrite64": "f x u i",
	"close": "f", "dup": "f", "dup2": "f f", "dup3": "f f o", "fsync": "f",
	"kill": "i i", "tgkill": "i i i", "exit": "i", "exit_group": "i",
	"getpid": "", "getppid": "", "gettid": "", "getuid": "", "geteuid": "", "getgid": "", "getegid": "",
	"fork": "", "vfork": "", "sched_yield": "", "sync": "",
	"unshare": "x", "setns": "f x", "umask": "m",
	"brk": "x", "mmap": "x u x x f i", "mprotect": "x u x", "munmap": "x u", "madvise": "x u i",
	"arch_prctl": "x x", "set_tid_address": "x", "set_robust_list": "x u", "rseq": "x u x x",
	"prlimit64": "i i x x", "getrandom": "x u x", "fstat": "f x", "newfstat": "f x", "lseek": "f i i",
	"ioctl": "f x x", "fcntl": "f i x", "getdents64": "f x u", "rt_sigaction": "i x x u",
	"rt_sigprocmask": "i x x u", "rt_sigreturn": "", "futex": "x i i x x i", "clone": "x x x x x",
	"clone3": "x u", "wait4": "i x x x", "pipe2": "x o", "socket": "i i i", "sendmsg": "f x x",
	"recvmsg": "f x x", "recvfrom": "f x u x x x", "getcwd": "x u", "uname": "x", "sysinfo": "x",
	"sched_getaffinity": "i u x", "sigaltstack": "x x", "readv": "f x i", "writev": "f x i",
	"poll": "x u i", "ppoll": "x u x x u", "epoll_pwait": "f x i i x u", "epoll_ctl": "f i f x",
	"nanosleep": "x x", "clock_nanosleep": "i x x x", "clock_gettime": "i x", "gettimeofday": "x x",
	"setpgid": "i i", "getpgrp": "", "setsid": "", "prctl": "i x x x x", "seccomp": "u x x",
	"pidfd_open": "i x", "close_range": "u u x",
}

const maxPath = 4096

func formatArg(kind string, v, next uint64, mem func() (*seccompstream.Memory, error)) string {
	switch kind {
	case "d":
		if int32(v) == unix.AT_FDCWD {
			return "AT_FDCWD"
		}
		return strconv.Itoa(int(int32(v)))
	case "f", "i":
		return strconv.Itoa(int(int32(v)))
	case "u":
		return strconv.FormatUint(v, 10)
	case "x":
		if v == 0 {
			return "NULL"
		}
		return "0x" + strconv.FormatUint(v, 16)
	case "m":
		return "0" + strconv.FormatUint(v&0o7777, 8)
	case "o":
		return openFlags(v)
	case "a":
		return accessMode(v)
	case "A":
		return atFlags(v)
	case "p", "s":
		if v == 0 {
			return "NULL"
		}
		m, err := mem()
		if err != nil {
			return unreadable(v, err)
		}
		s, err := m.ReadString(v, maxPath)
		if err != nil {
			return unreadable(v, err)
		}
		return strconv.Quote(s)
	case "v":
		return stringArray(v, mem)
	case "S":
		if v == 0 {
			return "NULL"
		}
		m, err := mem()
		if err != nil {
			return unreadable(v, err)
		}
		sa, err := m.ReadSockaddr(v, int(int32(next)))
		if err != nil {
			return unreadable(v, err)
		}
		return "{" + familyName(sa.Family) + " " + sa.String() + "}"
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// unreadable shows a pointer whose memory could not be read, and why.
func unreadable(v uint64, err error) string {
	var e unix.Errno
	why := "unreadable"
	switch {
	case errors.Is(err, seccompstream.ErrGone):
		why = "gone"
	case errors.As(err, &e):
		why = errnoString(e)
	}
	return "0x" + strconv.FormatUint(v, 16) + " <" + why + ">"
}

// stringArray reads a NULL-terminated array of string pointers (argv), at
// most 64 entries, for a 64-bit native target.
func stringArray(v uint64, mem func() (*seccompstream.Memory, error)) string {
	if v == 0 {
		return "NULL"
	}
	m, err := mem()
	if err != nil {
		return unreadable(v, err)
	}
	const maxEntries = 64
	var out []string
	var ptr [8]byte
	for i := 0; i < maxEntries; i++ {
		if _, err := m.ReadAt(ptr[:], int64(v)+int64(8*i)); err != nil {
			return unreadable(v, err)
		}
		p := binary.NativeEndian.Uint64(ptr[:])
		if p == 0 {
			return "[" + strings.Join(out, ", ") + "]"
		}
		s, err := m.ReadString(p, maxPath)
		if err != nil {
			out = append(out, unreadable(p, err))
			continue
		}
		out = append(out, strconv.Quote(s))
	}
	return "[" + strings.Join(out, ", ") + ", ...]"
}

func familyName(f uint16) string {
	switch f {
	case unix.AF_UNIX:
		return "AF_UNIX"
	case unix.AF_INET:
		return "AF_INET"
	case unix.AF_INET6:
		return "AF_INET6"
	case unix.AF_NETLINK:
		return "AF_NETLINK"
	case unix.AF_PACKET:
		return "AF_PACKET"
	}
	return "AF_" + strconv.Itoa(int(f))
}

type flagName struct {
	v    uint64
	name string
}

var openFlagNames = []flagName{
	{unix.O_CREAT, "O_CREAT"}, {unix.O_EXCL, "O_EXCL"}, {unix.O_NOCTTY, "O_NOCTTY"},
	{unix.O_TRUNC, "O_TRUNC"}, {unix.O_APPEND, "O_APPEND"}, {unix.O_NONBLOCK, "O_NONBLOCK"},
	{unix.O_DSYNC, "O_DSYNC"}, {unix.O_DIRECT, "O_DIRECT"}, {unix.O_LARGEFILE, "O_LARGEFILE"},
	{unix.O_NOFOLLOW, "O_NOFOLLOW"}, {unix.O_NOATIME, "O_NOATIME"}, {unix.O_CLOEXEC, "O_CLOEXEC"},
	{unix.O_PATH, "O_PATH"},
	// O_TMPFILE includes O_DIRECTORY: test it before O_DIRECTORY.
	{unix.O_TMPFILE, "O_TMPFILE"}, {unix.O_DIRECTORY, "O_DIRECTORY"},
	{unix.O_SYNC &^ unix.O_DSYNC, "O_SYNC"},
}

func openFlags(v uint64) string {
	var parts []string
	switch v & unix.O_ACCMODE {
	case unix.O_RDONLY:
		parts = append(parts, "O_RDONLY")
	case unix.O_WRONLY:
		parts = append(parts, "O_WRONLY")
	case unix.O_RDWR:
		parts = append(parts, "O_RDWR")
	default:
		parts = append(parts, "O_ACCMODE")
	}
	return joinFlags(parts, v&^unix.O_ACCMODE, openFlagNames)
}

var atFlagNames = []flagName{
	{unix.AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"}, {unix.AT_REMOVEDIR, "AT_REMOVEDIR"},
	{unix.AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW"}, {unix.AT_NO_AUTOMOUNT, "AT_NO_AUTOMOUNT"},
	{unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"}, {unix.AT_STATX_FORCE_SYNC, "AT_STATX_FORCE_SYNC"},
	{unix.AT_STATX_DONT_SYNC, "AT_STATX_DONT_SYNC"}, {unix.AT_RECURSIVE, "AT_RECURSIVE"},
}

func atFlags(v uint64) string {
	if v == 0 {
		return "0"
	}
	return joinFlags(nil, v, atFlagNames)
}

func accessMode(v uint64) string {
	if v == unix.F_OK {
		return "F_OK"
	}
	return joinFlags(nil, v, []flagName{{unix.R_OK, "R_OK"}, {unix.W_OK, "W_OK"}, {unix.X_OK, "X_OK"}})
}

// joinFlags appends the names of the bits of v to parts, and what is left
// in hex, and joins them with "|".
func joinFlags(parts []string, v uint64, names []flagName) string {
	for _, f := range names {
		if f.v != 0 && v&f.v == f.v {
			parts = append(parts, f.name)
			v &^= f.v
		}
	}
	if v != 0 || len(parts) == 0 {
		parts = append(parts, "0x"+strconv.FormatUint(v, 16))
	}
	return strings.Join(parts, "|")
}
