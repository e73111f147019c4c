// Package unotify is the thin, unsafe layer over the seccomp user-notification
// ioctls and the seccomp(2) system call. It holds the kernel's structs with
// their exact layout and one function per ioctl. Nothing here retries, wraps
// or interprets errors: every function returns the raw unix.Errno so callers
// (the root package) decide what each errno means. Nothing here allocates.
package unotify

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Notif is struct seccomp_notif (80 bytes on every architecture).
type Notif struct {
	ID    uint64
	PID   uint32
	Flags uint32
	// Data is struct seccomp_data.
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

// Resp is struct seccomp_notif_resp (24 bytes).
type Resp struct {
	ID    uint64
	Val   int64
	Error int32 // negative errno or 0
	Flags uint32
}

// AddFD is struct seccomp_notif_addfd (24 bytes).
type AddFD struct {
	ID         uint64
	Flags      uint32
	SrcFD      uint32
	NewFD      uint32
	NewFDFlags uint32
}

// Sizes is struct seccomp_notif_sizes.
type Sizes struct {
	Notif       uint16
	Resp        uint16
	SeccompData uint16
}

// Compile-time size assertions: a wrong layout fails the build.
var (
	_ [80 - unsafe.Sizeof(Notif{})]struct{}
	_ [unsafe.Sizeof(Notif{}) - 80]struct{}
	_ [24 - unsafe.Sizeof(Resp{})]struct{}
	_ [unsafe.Sizeof(Resp{}) - 24]struct{}
	_ [24 - unsafe.Sizeof(AddFD{})]struct{}
	_ [unsafe.Sizeof(AddFD{}) - 24]struct{}
)

// Ioctl request numbers, taken from x/sys/unix (they differ by architecture).
const (
	IoctlRecv     = unix.SECCOMP_IOCTL_NOTIF_RECV
	IoctlSend     = unix.SECCOMP_IOCTL_NOTIF_SEND
	IoctlIDValid  = unix.SECCOMP_IOCTL_NOTIF_ID_VALID
	IoctlAddFD    = unix.SECCOMP_IOCTL_NOTIF_ADDFD
	IoctlSetFlags = unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS
)

// Seccomp flag and value constants not (or not uniformly) in x/sys/unix.
const (
	FlagContinue               = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
	AddFDFlagSetFD             = unix.SECCOMP_ADDFD_FLAG_SETFD
	AddFDFlagSend              = unix.SECCOMP_ADDFD_FLAG_SEND
	FDSyncWakeUp               = unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
	FilterFlagNewListener      = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	FilterFlagTSync            = unix.SECCOMP_FILTER_FLAG_TSYNC
	FilterFlagTSyncESRCH       = unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
	FilterFlagWaitKillableRecv = unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	FilterFlagLog              = unix.SECCOMP_FILTER_FLAG_LOG
	FilterFlagSpecAllow        = unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
)

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// Recv zeroes n and receives one notification into it (blocking: the kernel
// ignores O_NONBLOCK for this ioctl).
func Recv(fd int, n *Notif) error {
	*n = Notif{}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), IoctlRecv, uintptr(unsafe.Pointer(n)))
	return errnoErr(e)
}

// Send sends one response.
func Send(fd int, r *Resp) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), IoctlSend, uintptr(unsafe.Pointer(r)))
	return errnoErr(e)
}

// IDValid reports, as a nil error, that the notification id is still pending.
// The kernel answers ENOENT when it is not.
func IDValid(fd int, id uint64) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), IoctlIDValid, uintptr(unsafe.Pointer(&id)))
	return errnoErr(e)
}

// AddFDIoctl installs a file descriptor in the target. It returns the fd
// number in the target (with AddFDFlagSend, the value the target's call
// returned).
func AddFDIoctl(fd int, a *AddFD) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), IoctlAddFD, uintptr(unsafe.Pointer(a)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// SetFlags sets listener flags (SECCOMP_IOCTL_NOTIF_SET_FLAGS takes the
// value itself, not a pointer).
func SetFlags(fd int, flags uint64) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), IoctlSetFlags, uintptr(flags))
	return errnoErr(e)
}

// Seccomp calls seccomp(2).
func Seccomp(op, flags uintptr, args unsafe.Pointer) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, op, flags, uintptr(args))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// NotifSizes returns the kernel's sizes of the notification structs.
func NotifSizes() (Sizes, error) {
	var s Sizes
	_, err := Seccomp(unix.SECCOMP_GET_NOTIF_SIZES, 0, unsafe.Pointer(&s))
	return s, err
}

// SockFilter is struct sock_filter.
type SockFilter struct {
	Code uint16
	Jt   uint8
	Jf   uint8
	K    uint32
}

// SockFprog is struct sock_fprog.
type SockFprog struct {
	Len    uint16
	Filter *SockFilter
}

// SetModeFilter installs prog on the calling thread (and others with TSYNC)
// with the given SECCOMP_FILTER_FLAG_* flags. With NEW_LISTENER the result
// is the listener fd (close-on-exec).
func SetModeFilter(prog []SockFilter, flags uintptr) (int, error) {
	if len(prog) == 0 {
		return -1, unix.EINVAL
	}
	fp := SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	return Seccomp(unix.SECCOMP_SET_MODE_FILTER, flags, unsafe.Pointer(&fp))
}

// ProbeFilterFlag reports whether the kernel knows a SECCOMP_FILTER_FLAG_*
// value, without installing anything: seccomp(SET_MODE_FILTER, flag, NULL)
// fails with EFAULT for a known flag and EINVAL for an unknown one.
func ProbeFilterFlag(flag uintptr) (bool, error) {
	_, err := Seccomp(unix.SECCOMP_SET_MODE_FILTER, flag, nil)
	switch err {
	case unix.EFAULT:
		return true, nil
	case unix.EINVAL:
		return false, nil
	case nil:
		// Cannot happen with a NULL program; treat as known.
		return true, nil
	default:
		return false, err
	}
}

// kcmpFile is KCMP_FILE from linux/kcmp.h.
const kcmpFile = 0

// CompareFiles reports how the open file descriptions behind fds a and b
// of the calling process compare (kcmp(2) with KCMP_FILE, Linux 3.5,
// CONFIG_KCMP): 0 when they are the same file (a and b are dups of each
// other), else 1 or 2, an order that is stable for the life of both files.
func CompareFiles(a, b int) (int, error) {
	pid := uintptr(unix.Getpid())
	r, _, e := unix.Syscall6(unix.SYS_KCMP, pid, pid, kcmpFile, uintptr(a), uintptr(b), 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}
