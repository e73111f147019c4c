package emulate

import (
	"encoding/binary"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysargs"
)

// Limits of what one emulated call carries.
const (
	// maxSend is the most data one emulated send reads from the caller:
	// a stream socket sends that much (a short write, which callers of
	// send must handle anyway), other sockets get EMSGSIZE for more, as
	// their kernel limits (64 KiB for UDP, the send buffer for unix
	// datagrams) are far below it.
	maxSend = 4 << 20
	// maxControl bounds the control messages of one sendmsg (the kernel's
	// net.core.optmem_max, 128 KiB by default, is what it allows).
	maxControl = 128 << 10
	// maxSockopt bounds a socket option's value read for socketcall.
	maxSockopt = 64 << 10
)

// run carries out op on s for a call checked for d, on the thread d
// needs: with all of the caller's ids for unix sockets, with its
// credentials where the kernel checks capabilities, on the handler's own
// thread otherwise. A bind to a unix path runs from the checked
// directory. op runs interruptibly (see "Blocking calls").
func (c *netCall) run(s *sock, d *dest, op func(fd int) error) error {
	do := func() error { return interruptible(c.ctx, s, op) }
	switch {
	case d.caller || s.family == unix.AF_UNIX:
		if d.parent != nil {
			return c.asCaller(true, func() error {
				if err := withFD(d.parent.Dir, unix.Fchdir); err != nil {
					return err
				}
				return do()
			})
		}
		return c.asCaller(false, do)
	case d.creds:
		return c.withCreds(false, do)
	}
	return locked(do)
}

// connect carries out connect: on the caller's socket, to the checked
// address. A non-blocking socket answers EINPROGRESS and the connection
// completes in the kernel, on the caller's socket.
func (c *netCall) connect() seccompstream.Response {
	return c.addressCall(func(a seccompstream.Sockaddr) (*dest, error) {
		return c.connectDest(a, false)
	}, rawConnect)
}

// bind carries out bind: on the caller's socket, with the checked
// address; a unix socket path is made in the checked directory, with the
// caller's ids and umask.
func (c *netCall) bind() seccompstream.Response {
	return c.addressCall(c.bindDest, rawBind)
}

// addressCall carries out a call of (fd, sockaddr, length), connect or
// bind: the caller's socket (EBADF, ENOTSOCK first, as the kernel checks),
// the address read once, check deciding it, and op made with what check
// gave.
func (c *netCall) addressCall(check func(seccompstream.Sockaddr) (*dest, error), op func(fd int, sa []byte) error) seccompstream.Response {
	s, err := c.sock(c.int(sysargs.FD, 0))
	if err != nil {
		return answer(0, err)
	}
	defer s.close()
	a, err := c.sockaddr(c.value(sysargs.Sockaddr, 0), c.int(sysargs.SockaddrLen, 0))
	if err != nil {
		return answer(0, err)
	}
	if !s.usable() {
		return c.deny()
	}
	d, err := check(a)
	if err != nil {
		return answer(0, err)
	}
	defer d.close()
	return answer(0, c.run(s, d, func(fd int) error { return op(fd, d.sa) }))
}

// sendto carries out sendto with a destination: the data read from the
// caller's memory, sent on its socket to the checked address, and the
// byte count returned. Without a destination (a NULL address or a zero
// length, as send(2) makes it) the kernel runs it.
func (c *netCall) sendto() seccompstream.Response {
	addr, alen := c.value(sysargs.Sockaddr, 0), c.int(sysargs.SockaddrLen, 0)
	if (addr == 0 || alen == 0) && !c.viaMemory {
		// Registers only: no address will be read.
		return seccompstream.Continue()
	}
	s, err := c.sock(c.int(sysargs.FD, 0))
	if err != nil {
		return answer(0, err)
	}
	defer s.close()
	if !s.usable() {
		return c.deny()
	}
	d := &dest{}
	if addr != 0 && alen != 0 {
		a, err := c.sockaddr(addr, alen)
		if err != nil {
			return answer(0, err)
		}
		if d, err = c.connectDest(a, true); err != nil {
			return answer(0, err)
		}
		defer d.close()
	}
	size, err := c.sendSize(s, c.value(sysargs.Size, 0))
	if err != nil {
		return answer(0, err)
	}
	data := make([]byte, size)
	if size > 0 {
		if err := c.read(data, c.value(sysargs.Buffer, 0)); err != nil {
			return answer(0, err)
		}
	}
	flags := int(c.value(sysargs.MsgFlags, 0))
	var n int
	err = c.run(s, d, func(fd int) error {
		var err error
		n, err = rawSendmsg(fd, data, d.sa, nil, flags|unix.MSG_NOSIGNAL)
		return err
	})
	return answer(int64(n), err)
}

// sendSize returns how many of want bytes one send reads (see maxSend).
func (c *netCall) sendSize(s *sock, want uint64) (int, error) {
	if want <= maxSend {
		return int(want), nil
	}
	if s.typ == unix.SOCK_STREAM {
		return maxSend, nil
	}
	return 0, unix.EMSGSIZE
}

// msgHdr is a struct msghdr of the caller, read for its ABI.
type msgHdr struct {
	name       uint64
	namelen    int
	iov        uint64
	iovlen     uint64
	control    uint64
	controllen uint64
}

// msgHdrSize is sizeof(struct msghdr) for a pointer size.
func msgHdrSize(ps int) int {
	if ps == 8 {
		return 56
	}
	return 28
}

// readMsgHdr reads the struct msghdr at addr.
func (c *netCall) readMsgHdr(addr uint64) (msgHdr, error) {
	ps := c.sys.PointerSize()
	b := make([]byte, msgHdrSize(ps))
	if err := c.read(b, addr); err != nil {
		return msgHdr{}, err
	}
	bo := c.byteOrder()
	if ps == 8 {
		return msgHdr{
			name: bo.Uint64(b), namelen: int(int32(bo.Uint32(b[8:]))),
			iov: bo.Uint64(b[16:]), iovlen: bo.Uint64(b[24:]),
			control: bo.Uint64(b[32:]), controllen: bo.Uint64(b[40:]),
		}, nil
	}
	w := decodeWords(b, 4, bo)
	return msgHdr{name: w[0], namelen: int(int32(w[1])), iov: w[2], iovlen: w[3], control: w[4], controllen: w[5]}, nil
}

// sendmsg carries out sendmsg, whatever its message: the kernel would
// read the msghdr (and its destination) from memory again, so none is
// left to it. The data is gathered from the caller's iovecs, the
// destination checked, the control messages translated (descriptors
// passed with SCM_RIGHTS are copies of the caller's), and the message
// sent on the caller's socket.
func (c *netCall) sendmsg() seccompstream.Response {
	s, err := c.sock(c.int(sysargs.FD, 0))
	if err != nil {
		return answer(0, err)
	}
	defer s.close()
	h, err := c.readMsgHdr(c.value(sysargs.MsgHdr, 0))
	if err != nil {
		return answer(0, err)
	}
	n, err := c.sendOne(s, h, int(c.value(sysargs.MsgFlags, 0)))
	return answer(int64(n), err)
}

// sendmmsg carries out sendmmsg: each message as sendmsg, the count of
// the ones sent returned and each one's msg_len written back, as the
// kernel does. An error after the first message ends the call with the
// count so far.
func (c *netCall) sendmmsg() seccompstream.Response {
	s, err := c.sock(c.int(sysargs.FD, 0))
	if err != nil {
		return answer(0, err)
	}
	defer s.close()
	vec, vlen := c.value(sysargs.Pointer, 0), c.value(sysargs.Uint, 0)
	vlen = min(vlen, seccompstream.IovMax) // the kernel's UIO_MAXIOV clamp
	flags := int(c.value(sysargs.MsgFlags, 0))
	ps := c.sys.PointerSize()
	size := uint64(msgHdrSize(ps) + 4)
	if ps == 8 {
		size += 4 // padding after msg_len
	}
	sent := 0
	for i := range vlen {
		at := vec + i*size
		h, err := c.readMsgHdr(at)
		if err == nil {
			var n int
			if n, err = c.sendOne(s, h, flags); err == nil {
				var b [4]byte
				c.byteOrder().PutUint32(b[:], uint32(n))
				err = c.writeOut(at+uint64(msgHdrSize(ps)), b[:])
			}
		}
		if err != nil {
			if sent > 0 {
				// The messages sent stay sent; this one is not counted.
				c.denied = false
				return seccompstream.Return(int64(sent))
			}
			return answer(0, err)
		}
		sent++
	}
	return seccompstream.Return(int64(sent))
}

// sendOne sends the message h describes on s.
func (c *netCall) sendOne(s *sock, h msgHdr, flags int) (int, error) {
	if !s.usable() {
		return 0, c.refused()
	}
	d := &dest{}
	if h.name != 0 && h.namelen != 0 {
		if h.namelen < 0 {
			return 0, unix.EINVAL
		}
		// The kernel cuts a longer msg_namelen to a sockaddr_storage.
		a, err := c.sockaddr(h.name, min(h.namelen, unix.SizeofSockaddrAny))
		if err != nil {
			return 0, err
		}
		if d, err = c.connectDest(a, true); err != nil {
			return 0, err
		}
		defer d.close()
	}
	data, err := c.gather(s, h.iov, h.iovlen)
	if err != nil {
		return 0, err
	}
	ctl, fds, err := c.controlMessages(h.control, h.controllen)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if err != nil {
		return 0, err
	}
	if len(ctl) > 0 {
		// Some control messages need capabilities (SO_MARK, SO_PRIORITY
		// above 6): the caller's.
		d.creds = true
	}
	var n int
	err = c.run(s, d, func(fd int) error {
		var err error
		n, err = rawSendmsg(fd, data, d.sa, ctl, flags|unix.MSG_NOSIGNAL)
		return err
	})
	return n, err
}

// gather reads the data of n iovecs at iov into one buffer, up to
// maxSend bytes (see sendSize).
func (c *netCall) gather(s *sock, iov, n uint64) ([]byte, error) {
	if n > seccompstream.IovMax {
		return nil, unix.EMSGSIZE
	}
	if n == 0 {
		return nil, nil
	}
	w, err := c.words(iov, int(2*n))
	if err != nil {
		return nil, err
	}
	var total uint64
	for i := 1; i < len(w); i += 2 {
		if w[i] > math.MaxInt64-total {
			return nil, unix.EINVAL
		}
		total += w[i]
	}
	size, err := c.sendSize(s, total)
	if err != nil {
		return nil, err
	}
	data := make([]byte, size)
	off := 0
	for i := 0; i < len(w) && off < size; i += 2 {
		l := int(min(w[i+1], uint64(size-off)))
		if l == 0 {
			continue
		}
		if err := c.read(data[off:off+l], w[i]); err != nil {
			return nil, err
		}
		off += l
	}
	return data, nil
}

// Control messages: the level and type of those sendmsg refuses.
const (
	solIP   = unix.SOL_IP
	solIPv6 = unix.SOL_IPV6
)

// controlMessages reads the caller's control messages (size bytes at
// addr, laid out for its ABI) and returns them laid out for the
// supervisor, with the descriptors of SCM_RIGHTS replaced by copies of
// the caller's (fds: to be closed after the send). Refused: explicit
// SCM_CREDENTIALS (EPERM: the kernel would check the claimed pid and ids
// against the supervisor's thread, not the caller), and the options that
// route a packet through other addresses, IP_RETOPTS, IPV6_RTHDR,
// IPV6_2292RTHDR and IPV6_NEXTHOP (EACCES).
func (c *netCall) controlMessages(addr, size uint64) (ctl []byte, fds []int, err error) {
	if addr == 0 || size == 0 {
		return nil, nil, nil
	}
	if size > maxControl {
		return nil, nil, unix.ENOBUFS
	}
	in := make([]byte, size)
	if err := c.read(in, addr); err != nil {
		return nil, nil, err
	}
	ps := c.sys.PointerSize()
	hdr, align := 16, 8
	if ps == 4 {
		hdr, align = 12, 4
	}
	bo := c.byteOrder()
	for off := 0; off+hdr <= len(in); {
		var l uint64
		if ps == 8 {
			l = bo.Uint64(in[off:])
		} else {
			l = uint64(bo.Uint32(in[off:]))
		}
		level := int32(bo.Uint32(in[off+hdr-8:]))
		typ := int32(bo.Uint32(in[off+hdr-4:]))
		if l < uint64(hdr) || l > uint64(len(in)-off) {
			return nil, fds, unix.EINVAL
		}
		data := in[off+hdr : off+int(l)]
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_RIGHTS:
			if len(data)%4 != 0 {
				return nil, fds, unix.EINVAL
			}
			ours := make([]byte, len(data))
			for i := 0; i < len(data); i += 4 {
				fd, err := c.rawFD(int(int32(bo.Uint32(data[i:]))))
				if err != nil {
					return nil, fds, err
				}
				fds = append(fds, fd)
				binary.NativeEndian.PutUint32(ours[i:], uint32(fd))
			}
			data = ours
		case level == unix.SOL_SOCKET && typ == unix.SCM_CREDENTIALS:
			c.denied = true
			return nil, fds, unix.EPERM
		case level == solIP && typ == unix.IP_RETOPTS,
			level == solIPv6 && (typ == unix.IPV6_RTHDR || typ == unix.IPV6_2292RTHDR || typ == unix.IPV6_NEXTHOP):
			return nil, fds, c.refused()
		}
		ctl = appendCmsg(ctl, level, typ, data)
		off += (int(l) + align - 1) &^ (align - 1)
	}
	return ctl, fds, nil
}

// appendCmsg appends a control message laid out for the supervisor.
func appendCmsg(b []byte, level, typ int32, data []byte) []byte {
	off := len(b)
	b = append(b, make([]byte, unix.CmsgSpace(len(data)))...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[off]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[off+unix.CmsgLen(0):], data)
	return b
}

// rawFD returns a copy of the caller's descriptor fd as a number of the
// supervisor's (close-on-exec), outside the runtime's poller: os.File
// would put a non-blocking socket in it, and its Fd method would clear
// O_NONBLOCK on the open file the caller shares.
func (c *netCall) rawFD(fd int) (int, error) {
	f, err := c.getFD(fd)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	raw := -1
	err = withFD(f, func(fd int) error {
		var err error
		raw, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return err
	})
	return raw, err
}

// createSocket carries out a socket call made through socketcall (whose
// family, type and protocol came from memory): the socket is made in the
// caller's namespaces with its credentials and installed in it.
func (c *netCall) createSocket(family, typ, proto int) seccompstream.Response {
	t, err := c.target()
	if err != nil {
		return answer(0, err)
	}
	fd := -1
	err = t.Do(c.ctx, func() error {
		var err error
		fd, err = unix.Socket(family, typ|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if fd >= 0 {
		defer unix.Close(fd)
	}
	if err != nil {
		return answer(0, err)
	}
	var opts []seccompstream.AddFDOption
	if typ&unix.SOCK_CLOEXEC != 0 {
		opts = append(opts, seccompstream.CloseOnExec())
	}
	newfd, err := c.n.AddFD(fd, opts...)
	return answer(int64(newfd), err)
}

// Socket options whose value is laid out differently for a 32-bit caller
// (the kernel translates them for compat callers, not for the
// supervisor): multicast group requests and socket filters, and
// netfilter's tables. Through socketcall they get ENOPROTOOPT.
var compatSockopts = []struct{ level, name int }{
	{unix.SOL_SOCKET, unix.SO_ATTACH_FILTER}, {unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF},
	{solIP, unix.MCAST_JOIN_GROUP}, {solIP, unix.MCAST_BLOCK_SOURCE}, {solIP, unix.MCAST_UNBLOCK_SOURCE},
	{solIP, unix.MCAST_LEAVE_GROUP}, {solIP, unix.MCAST_JOIN_SOURCE_GROUP}, {solIP, unix.MCAST_LEAVE_SOURCE_GROUP},
	{solIP, unix.MCAST_MSFILTER},
	{solIPv6, unix.MCAST_JOIN_GROUP}, {solIPv6, unix.MCAST_BLOCK_SOURCE}, {solIPv6, unix.MCAST_UNBLOCK_SOURCE},
	{solIPv6, unix.MCAST_LEAVE_GROUP}, {solIPv6, unix.MCAST_JOIN_SOURCE_GROUP}, {solIPv6, unix.MCAST_LEAVE_SOURCE_GROUP},
	{solIPv6, unix.MCAST_MSFILTER},
	{solIP, 64}, {solIP, 65}, {solIP, 96}, {solIP, 97}, {solIP, 128}, {solIP, 129}, // IPT, ARPT, EBT SO_SET_*
	{solIPv6, 64}, {solIPv6, 65}, // IP6T_SO_SET_*
}

// The old struct timeval options (SO_RCVTIMEO, SO_SNDTIMEO before the
// 64-bit time ones), which a 32-bit caller gives as two 32-bit longs.
const (
	soRcvtimeoOld = 20
	soSndtimeoOld = 21
)

// emulateSetsockopt carries out a setsockopt made through socketcall
// (whose level, option and value came from memory): the value read once
// and set on the caller's socket, with its credentials.
func (c *netCall) emulateSetsockopt(level, name int) seccompstream.Response {
	s, err := c.sock(c.int(sysargs.FD, 0))
	if err != nil {
		return answer(0, err)
	}
	defer s.close()
	optlen := c.int(sysargs.Int, 2)
	if optlen < 0 || optlen > maxSockopt {
		return seccompstream.Errno(unix.EINVAL)
	}
	val := make([]byte, optlen)
	if optlen > 0 {
		if err := c.read(val, c.value(sysargs.Pointer, 0)); err != nil {
			return answer(0, err)
		}
	}
	if c.sys.PointerSize() == 4 && unsafe.Sizeof(uintptr(0)) == 8 {
		for _, o := range compatSockopts {
			if o.level == level && o.name == name {
				return seccompstream.Errno(unix.ENOPROTOOPT)
			}
		}
		if level == unix.SOL_SOCKET && (name == soRcvtimeoOld || name == soSndtimeoOld) && len(val) >= 8 {
			bo := c.byteOrder()
			tv := make([]byte, 16)
			binary.NativeEndian.PutUint64(tv, uint64(int64(int32(bo.Uint32(val)))))
			binary.NativeEndian.PutUint64(tv[8:], uint64(int64(int32(bo.Uint32(val[4:])))))
			val = tv
		}
	}
	err = c.withCreds(false, func() error {
		var p unsafe.Pointer
		if len(val) > 0 {
			p = unsafe.Pointer(&val[0])
		}
		_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(s.fd), uintptr(level), uintptr(name), uintptr(p), uintptr(len(val)), 0)
		return errnoErr(e)
	})
	return answer(0, err)
}
