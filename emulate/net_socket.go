package emulate

import (
	"encoding/binary"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// netCall is one network call being decided.
type netCall struct {
	*call
	nw *Network
	// viaMemory is set for a call made through socketcall: its arguments
	// were read from the caller's memory, so no decision on them may be
	// answered with Continue, not even one that would rest on registers
	// for the direct call.
	viaMemory bool
}

// deny marks the call refused by the policy and returns EACCES.
func (c *netCall) deny() seccompstream.Response {
	c.denied = true
	return seccompstream.Errno(unix.EACCES)
}

// sockTypeMask is SOCK_TYPE_MASK: socket's type without SOCK_NONBLOCK
// and SOCK_CLOEXEC.
const sockTypeMask = 0xf

// allowedSockets are the sockets a program under a network policy may
// create: unix and netlink sockets of any type, TCP (and MPTCP) and UDP
// sockets. Everything else is refused with EACCES, because it would reach
// the network around connect, bind and sendto: raw IP and packet sockets
// (they write their own headers, with any destination), SCTP (it connects
// and binds through setsockopt), and the families the policy has no
// address syntax for (vsock, bluetooth, CAN, XDP, ...).
var allowedSockets = []struct {
	family int
	typ    int // -1: any
	protos []int
}{
	{unix.AF_UNIX, -1, nil},
	{unix.AF_NETLINK, -1, nil},
	{unix.AF_INET, unix.SOCK_STREAM, []int{0, unix.IPPROTO_TCP, unix.IPPROTO_MPTCP}},
	{unix.AF_INET, unix.SOCK_DGRAM, []int{0, unix.IPPROTO_UDP}},
	{unix.AF_INET6, unix.SOCK_STREAM, []int{0, unix.IPPROTO_TCP, unix.IPPROTO_MPTCP}},
	{unix.AF_INET6, unix.SOCK_DGRAM, []int{0, unix.IPPROTO_UDP}},
}

func socketAllowed(family, typ, proto int) bool {
	for _, a := range allowedSockets {
		if a.family != family {
			continue
		}
		if a.typ < 0 {
			return true
		}
		if typ&sockTypeMask == a.typ {
			for _, p := range a.protos {
				if p == proto {
					return true
				}
			}
		}
	}
	return false
}

// refusedSockopts are the socket options a program under a network
// policy may not set (EACCES): they send packets by way of other
// addresses than the destination the policy checked. IP_OPTIONS with a
// source route (LSRR, SSRR) makes the kernel send to the route's first
// hop; IPV6_RTHDR, and IPV6_2292RTHDR and IPV6_2292PKTOPTIONS (which
// carry one), do the same for IPv6.
var refusedSockopts = []struct{ level, name int }{
	{unix.IPPROTO_IP, unix.IP_OPTIONS},
	{unix.IPPROTO_IPV6, unix.IPV6_RTHDR},
	{unix.IPPROTO_IPV6, unix.IPV6_2292RTHDR},
	{unix.IPPROTO_IPV6, unix.IPV6_2292PKTOPTIONS},
}

func sockoptRefused(level, name int) bool {
	for _, o := range refusedSockopts {
		if o.level == level && o.name == name {
			return true
		}
	}
	return false
}

// socket decides socket: a family, type and protocol of allowedSockets
// runs, others get EACCES.
func (c *netCall) socket() seccompstream.Response {
	family, typ, proto := c.int(sysargs.SocketFamily, 0), c.int(sysargs.SocketType, 0), c.int(sysargs.Int, 0)
	if !socketAllowed(family, typ, proto) {
		return c.deny()
	}
	if c.viaMemory {
		return c.createSocket(family, typ, proto)
	}
	// The decision rests on the call's registers, which the program cannot
	// change once it made the call: the kernel may run it.
	return seccompstream.Continue()
}

// setsockopt decides setsockopt: refusedSockopts get EACCES, the others
// run.
func (c *netCall) setsockopt() seccompstream.Response {
	level, name := c.int(sysargs.Int, 0), c.int(sysargs.Int, 1)
	if sockoptRefused(level, name) {
		return c.deny()
	}
	if c.viaMemory {
		return c.emulateSetsockopt(level, name)
	}
	// Registers only, as for socket.
	return seccompstream.Continue()
}

// The calls socketcall multiplexes that take no address (linux/net.h).
const (
	sysListen     = 4
	sysAccept     = 5
	sysGetsock    = 6
	sysGetpeer    = 7
	sysSocketpair = 8
	sysSend       = 9
	sysRecv       = 10
	sysRecvfrom   = 12
	sysShutdown   = 13
	sysGetsockopt = 15
	sysRecvmsg    = 17
	sysAccept4    = 18
	sysRecvmmsg   = 19
)

// plainSocketCalls are the socketcall calls that take no address and
// create nothing the policy decides: whatever arguments the caller puts in
// memory, they cannot reach another destination. socketpair makes only
// connected pairs of local sockets.
var plainSocketCalls = []int{
	sysListen, sysAccept, sysGetsock, sysGetpeer, sysSocketpair, sysSend, sysRecv,
	sysRecvfrom, sysShutdown, sysGetsockopt, sysRecvmsg, sysAccept4, sysRecvmmsg,
}

// socketcall decides socketcall (i386 and the other ABIs that have it):
// the call its number names is decided like the direct call, with the
// arguments read once from the caller's memory and never read again.
// The calls that take no address run.
func (c *netCall) socketcall() seccompstream.Response {
	nr := c.value(sysargs.SocketCall, 0)
	name := strings.ToLower(strings.TrimPrefix(sysargs.Format(c.n.Arch, sysargs.SocketCall, nr), "SYS_"))
	var h netHandler
	switch name {
	case "socket":
		h = (*netCall).socket
	case "setsockopt":
		h = (*netCall).setsockopt
	case "connect":
		h = (*netCall).connect
	case "bind":
		h = (*netCall).bind
	case "sendto":
		h = (*netCall).sendto
	case "sendmsg":
		h = (*netCall).sendmsg
	case "sendmmsg":
		h = (*netCall).sendmmsg
	}
	if h == nil {
		// The call number is a register: a call that takes no address (or
		// one the kernel refuses, EINVAL) cannot become another.
		return seccompstream.Continue()
	}
	sub, ok := sysargs.LookupName(c.n.Arch, name)
	if !ok {
		c.denied = true
		return seccompstream.Errno(unix.ENOSYS)
	}
	nargs := 0
	for _, p := range sub.Params {
		nargs = max(nargs, int(p.Reg)+1, int(p.Hi)+1)
	}
	w, err := c.words(c.value(sysargs.SocketCallArgs, 0), nargs)
	if err != nil {
		return answer(0, err)
	}
	args := c.n.Args
	copy(args[:], w)
	n := *c.n
	n.Args = args
	saveN, saveSys := c.n, c.sys
	c.n, c.sys = &n, sub
	defer func() { c.n, c.sys = saveN, saveSys }()
	sc := &netCall{call: c.call, nw: c.nw, viaMemory: true}
	return h(sc)
}

// words reads n words of the ABI's pointer size (and byte order) at
// addr: struct members and argument arrays of the caller.
func (c *netCall) words(addr uint64, n int) ([]uint64, error) {
	ps := c.sys.PointerSize()
	b := make([]byte, n*ps)
	if err := c.read(b, addr); err != nil {
		return nil, err
	}
	return decodeWords(b, ps, c.byteOrder()), nil
}

func (c *netCall) byteOrder() binary.ByteOrder {
	if sysnames.IsLE(c.n.Arch) {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// decodeWords splits b into words of size ps (4 or 8).
func decodeWords(b []byte, ps int, bo binary.ByteOrder) []uint64 {
	w := make([]uint64, len(b)/ps)
	for i := range w {
		if ps == 8 {
			w[i] = bo.Uint64(b[i*8:])
		} else {
			w[i] = uint64(bo.Uint32(b[i*4:]))
		}
	}
	return w
}
