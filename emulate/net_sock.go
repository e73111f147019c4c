package emulate

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
)

// sock is a copy of one of the caller's socket descriptors
// (pidfd_getfd): the same socket, with the same open file description,
// so the same blocking mode, options and state. It is the supervisor's
// alone: nothing else uses its number, which the blocking-call abort
// relies on.
type sock struct {
	fd     int
	family int
	typ    int
}

// sock returns a copy of the caller's descriptor fd, which must be a
// socket: EBADF and ENOTSOCK otherwise, as the kernel answers.
func (c *netCall) sock(fd int) (*sock, error) {
	raw, err := c.rawFD(fd)
	if err != nil {
		return nil, err
	}
	s := &sock{fd: raw}
	if s.family, err = unix.GetsockoptInt(raw, unix.SOL_SOCKET, unix.SO_DOMAIN); err == nil {
		s.typ, err = unix.GetsockoptInt(raw, unix.SOL_SOCKET, unix.SO_TYPE)
	}
	if err != nil {
		unix.Close(raw)
		return nil, err
	}
	return s, nil
}

func (s *sock) close() { unix.Close(s.fd) }

// usable reports whether calls on the socket may be carried out: one of
// the families a policy can create (unix, netlink, IPv4, IPv6), and for
// the IP ones a stream or datagram socket. A raw IP, packet or SCTP
// socket writes its own headers or connects around connect, and another
// family has no address syntax here; such a socket cannot be created
// under a policy, and one the program got from elsewhere is refused
// here.
func (s *sock) usable() bool {
	switch s.family {
	case unix.AF_UNIX, unix.AF_NETLINK:
		return true
	case unix.AF_INET, unix.AF_INET6:
		return s.typ == unix.SOCK_STREAM || s.typ == unix.SOCK_DGRAM
	}
	return false
}

// sockaddrInet builds the socket address the kernel is given for the
// checked address a: from the decoded values, never from the bytes read,
// so that the kernel reads exactly what was checked. An IPv6 address
// keeps its flow information and scope id (bytes 4-8 and 24-28 of the
// caller's sockaddr_in6, when it gave them).
func sockaddrInet(a seccompstream.Sockaddr) []byte {
	ip := a.AddrPort.Addr()
	if a.Family == unix.AF_INET {
		b := make([]byte, unix.SizeofSockaddrInet4)
		binary.NativeEndian.PutUint16(b, unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], a.AddrPort.Port())
		ip4 := ip.As4()
		copy(b[4:], ip4[:])
		return b
	}
	b := make([]byte, unix.SizeofSockaddrInet6)
	binary.NativeEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], a.AddrPort.Port())
	if len(a.Raw) >= 8 {
		copy(b[4:8], a.Raw[4:8])
	}
	ip16 := ip.As16()
	copy(b[8:], ip16[:])
	if len(a.Raw) >= unix.SizeofSockaddrInet6 {
		copy(b[24:28], a.Raw[24:28])
	}
	return b
}

// sockaddrUnix builds a unix socket address: a path, or an abstract name
// (name with its leading "@"), which is exactly as long as given.
func sockaddrUnix(name string) []byte {
	b := make([]byte, 2, 2+len(name)+1)
	binary.NativeEndian.PutUint16(b, unix.AF_UNIX)
	if name != "" && name[0] == '@' {
		b = append(b, 0)
		return append(b, name[1:]...)
	}
	b = append(b, name...)
	return append(b, 0)
}

func sockaddrPtr(sa []byte) (unsafe.Pointer, uintptr) {
	if len(sa) == 0 {
		return nil, 0
	}
	return unsafe.Pointer(&sa[0]), uintptr(len(sa))
}

func rawConnect(fd int, sa []byte) error {
	p, l := sockaddrPtr(sa)
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(p), l)
	runtime.KeepAlive(sa)
	return errnoErr(e)
}

func rawBind(fd int, sa []byte) error {
	p, l := sockaddrPtr(sa)
	_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(p), l)
	runtime.KeepAlive(sa)
	return errnoErr(e)
}

// rawSendmsg sends data (one buffer) to the address sa (none when empty)
// with the control messages control, as sendmsg(2) with flags does.
func rawSendmsg(fd int, data, sa, control []byte, flags int) (int, error) {
	var msg unix.Msghdr
	var iov unix.Iovec
	if len(data) > 0 {
		iov.Base = &data[0]
		iov.SetLen(len(data))
		msg.Iov = &iov
		msg.SetIovlen(1)
	}
	if len(sa) > 0 {
		msg.Name = &sa[0]
		msg.Namelen = uint32(len(sa))
	}
	if len(control) > 0 {
		msg.Control = &control[0]
		msg.SetControllen(len(control))
	}
	n, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	runtime.KeepAlive(data)
	runtime.KeepAlive(sa)
	runtime.KeepAlive(control)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// Blocking calls
//
// A connect or send on a blocking socket waits in the kernel on the
// supervisor's thread, on the caller's socket. When the caller gives the
// call up (it was killed, or a signal interrupted it; Serve then cancels
// the handler's context), that wait has to end, and on the socket as the
// kernel would leave it for an interrupted call. Measured on Linux 6.18
// with a connect to a listener whose backlog is full (the SYN gets no
// answer; a unix listener makes connect wait for room):
//
//   - shutdown(2) on the copy ends a TCP connect at once (ECONNRESET) but
//     also resets the caller's socket, and leaves a unix connect waiting;
//   - a signal to the waiting thread alone ends nothing: Go installs its
//     handlers with SA_RESTART, so the kernel restarts the call;
//   - replacing the copy's number with another file (dup3 of an eventfd)
//     and then signalling the thread ends both at once: the restarted
//     call finds no socket there (ENOTSOCK). The caller's socket is left
//     as an interrupted connect leaves it: still connecting (TCP goes on
//     in the background, as for EINTR), and once the caller's own
//     descriptor is closed, closed.
//
// interruptible does the last, with SIGURG (which the Go runtime itself
// sends to its threads, and ignores).

// interruptible runs op on the copy s, on the calling goroutine's
// thread, which the caller has locked to it; when ctx ends before op
// returns, op is made to return (see "Blocking calls") and interruptible
// returns ctx.Err() unless op succeeded. A call interrupted by the
// runtime's own signals (EINTR without a restart) is made again.
func interruptible(ctx context.Context, s *sock, op func(fd int) error) error {
	tid := unix.Gettid()
	var finished atomic.Bool
	aborted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(aborted)
		abortCall(s.fd, tid, &finished)
	})
	var err error
	for {
		err = op(s.fd)
		if err != unix.EINTR || ctx.Err() != nil {
			break
		}
	}
	finished.Store(true)
	if !stop() {
		<-aborted
		if err != nil {
			return ctx.Err()
		}
	}
	return err
}

// abortCall ends a call on fd that thread tid may be waiting in: fd gets
// another file (a socket call on it fails with ENOTSOCK) and the thread a
// SIGURG, again until finished is set.
func abortCall(fd, tid int, finished *atomic.Bool) {
	if efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC); err == nil {
		unix.Dup3(efd, fd, unix.O_CLOEXEC)
		unix.Close(efd)
	}
	pid := unix.Getpid()
	for d := 50 * time.Microsecond; !finished.Load(); d = min(2*d, 20*time.Millisecond) {
		unix.Tgkill(pid, tid, unix.SIGURG)
		time.Sleep(d)
	}
}

// locked runs fn on the calling goroutine with its thread locked (for
// interruptible).
func locked(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return fn()
}
