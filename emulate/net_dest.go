package emulate

import (
	"errors"
	"net/netip"
	"os"
	"path"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
)

// dest is an address a call was checked for, ready to be used: the
// socket address to give the kernel and how the call must run.
type dest struct {
	// sa is the socket address for the kernel, nil for none. For a unix
	// socket found by path it names file through /proc/self/fd; for a
	// bind to a path it is the final name alone, used from parent.
	sa     []byte
	file   *os.File              // connect, send: the socket file, O_PATH
	parent *seccompstream.Parent // bind: the directory that gets the name
	// caller: run with all of the caller's ids (unix sockets, see
	// asCaller); creds: with its credentials (WithCreds: capabilities
	// the kernel checks, as for ports below 1024 and netlink groups).
	caller, creds bool
}

func (d *dest) close() {
	if d.file != nil {
		d.file.Close()
	}
	if d.parent != nil {
		d.parent.Close()
	}
}

// refused marks the call refused by the policy and returns EACCES.
func (c *netCall) refused() error {
	c.denied = true
	return unix.EACCES
}

// sockaddr reads the socket address of length bytes at addr.
func (c *netCall) sockaddr(addr uint64, length int) (seccompstream.Sockaddr, error) {
	m, err := c.memory()
	if err != nil {
		return seccompstream.Sockaddr{}, err
	}
	return m.ReadSockaddr(addr, length)
}

// connectDest checks a, the address of a connect (send set: the
// destination of a sendto, sendmsg or sendmmsg), against the connect
// list.
func (c *netCall) connectDest(a seccompstream.Sockaddr, send bool) (*dest, error) {
	switch a.Family {
	case unix.AF_INET, unix.AF_INET6:
		if !allowsInet(c.nw.connect, a) {
			return nil, c.refused()
		}
		return &dest{sa: sockaddrInet(a)}, nil
	case unix.AF_UNIX:
		switch {
		case a.Path == "":
			return nil, unix.EINVAL // as the kernel answers an unnamed destination
		case a.Path[0] == '@':
			if !allowsAbstract(c.nw.connect, a.Path) {
				return nil, c.refused()
			}
			return &dest{sa: sockaddrUnix(a.Path), caller: true}, nil
		}
		return c.unixSocketDest(a.Path)
	case unix.AF_NETLINK:
		// Netlink talks to the kernel (and to processes that listen on
		// netlink), not to the network: always allowed, with the caller's
		// credentials (the kernel checks capabilities for some
		// destinations and groups).
		return &dest{sa: a.Raw, creds: true}, nil
	case unix.AF_UNSPEC:
		if !send {
			// connect(AF_UNSPEC) dissolves an association: no destination.
			return &dest{sa: make([]byte, len(a.Raw))}, nil
		}
		// The kernel reads an AF_UNSPEC destination as IPv4 on some
		// sockets (udp_sendmsg): refused rather than guessed.
	}
	return nil, c.refused()
}

// bindDest checks a, the address of a bind, against the bind list.
func (c *netCall) bindDest(a seccompstream.Sockaddr) (*dest, error) {
	switch a.Family {
	case unix.AF_INET, unix.AF_INET6:
		if !allowsInet(c.nw.bind, a) {
			return nil, c.refused()
		}
		// Ports below net.ipv4.ip_unprivileged_port_start need the
		// caller's CAP_NET_BIND_SERVICE, not the supervisor's.
		return &dest{sa: sockaddrInet(a), creds: true}, nil
	case unix.AF_UNIX:
		switch {
		case a.Path == "":
			// Autobind: the kernel picks an unused abstract name.
			return &dest{sa: a.Raw[:2], caller: true}, nil
		case a.Path[0] == '@':
			if !allowsAbstract(c.nw.bind, a.Path) {
				return nil, c.refused()
			}
			return &dest{sa: sockaddrUnix(a.Path), caller: true}, nil
		}
		return c.unixBindDest(a.Path)
	case unix.AF_NETLINK:
		return &dest{sa: a.Raw, creds: true}, nil
	}
	// AF_UNSPEC included: an IPv4 socket binds INADDR_ANY with it.
	return nil, c.refused()
}

func allowsInet(list []netEntry, a seccompstream.Sockaddr) bool {
	ap := netip.AddrPortFrom(a.AddrPort.Addr().Unmap(), a.AddrPort.Port())
	for i := range list {
		if list[i].matchInet(ap) {
			return true
		}
	}
	return false
}

func allowsAbstract(list []netEntry, name string) bool {
	for _, e := range list {
		if e.kind == entryAbstract && "@"+e.name == name {
			return true
		}
	}
	return false
}

// namesPath reports whether list has the path p as written (an absolute
// path, cleaned): then a lookup error is the kernel's to report, since the
// program may use that path, and otherwise a refusal.
func namesPath(list []netEntry, p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	p = path.Clean(p)
	for _, e := range list {
		if e.kind == entryPath && e.name == p {
			return true
		}
	}
	return false
}

// fileID is what tells files apart.
type fileID struct{ dev, ino uint64 }

func idOf(f *os.File) (fileID, unix.Stat_t, error) {
	var st unix.Stat_t
	err := withFD(f, func(fd int) error { return unix.Fstat(fd, &st) })
	return fileID{dev: st.Dev, ino: st.Ino}, st, err
}

// unixSocketDest resolves the unix socket path p as the caller would (its
// root, working directory and mounts; symbolic links followed inside its
// root, magic links refused) and allows it when it is the very socket file
// that a path of the connect list leads to, resolved the same way now.
// The call then names the file it checked (/proc/self/fd/N of an O_PATH
// descriptor): a rename or a symbolic link swapped afterwards changes
// nothing.
func (c *netCall) unixSocketDest(p string) (*dest, error) {
	t, err := c.target()
	if err != nil {
		return nil, err
	}
	f, err := t.Open(unix.AT_FDCWD, p, unix.O_PATH, 0)
	if err != nil {
		if errors.Is(err, seccompstream.ErrGone) || namesPath(c.nw.connect, p) {
			return nil, err
		}
		return nil, c.refused()
	}
	id, st, err := idOf(f)
	if err == nil {
		var ok bool
		if ok, err = c.leadsTo(c.nw.connect, id); err == nil && !ok {
			err = c.refused()
		}
	}
	if err == nil && st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		err = unix.ECONNREFUSED // as the kernel answers for a file that is no socket
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	var sa []byte
	withFD(f, func(fd int) error { sa = sockaddrUnix(procFD(fd)); return nil })
	return &dest{sa: sa, file: f, caller: true}, nil
}

// leadsTo reports whether a path of list leads to the file id in the
// caller's view.
func (c *netCall) leadsTo(list []netEntry, id fileID) (bool, error) {
	t, err := c.target()
	if err != nil {
		return false, err
	}
	for _, e := range list {
		if e.kind != entryPath {
			continue
		}
		g, err := t.Open(unix.AT_FDCWD, e.name, unix.O_PATH, 0)
		if err != nil {
			if errors.Is(err, seccompstream.ErrGone) {
				return false, err
			}
			continue
		}
		gid, _, err := idOf(g)
		g.Close()
		if err == nil && gid == id {
			return true, nil
		}
	}
	return false, nil
}

// unixBindDest resolves the directory that is to hold the unix socket p
// as the caller would, and allows the bind when a path of the bind list
// names the same final name in the same directory (resolved the same way
// now). The socket is then made with that name in that directory (the
// descriptor checked): nothing swapped afterwards can move it.
func (c *netCall) unixBindDest(p string) (*dest, error) {
	t, err := c.target()
	if err != nil {
		return nil, err
	}
	par, err := t.OpenParent(unix.AT_FDCWD, p)
	if err != nil {
		switch {
		case errors.Is(err, seccompstream.ErrGone):
			return nil, err
		case !namesPath(c.nw.bind, p):
			return nil, c.refused()
		case errors.Is(err, seccompstream.ErrNoFinalName):
			return nil, unix.EEXIST
		}
		return nil, err
	}
	id, _, err := idOf(par.Dir)
	allowed := false
	for _, e := range c.nw.bind {
		if err != nil || e.kind != entryPath || path.Base(e.name) != par.Name {
			continue
		}
		ep, perr := t.OpenParent(unix.AT_FDCWD, e.name)
		if perr != nil {
			if errors.Is(perr, seccompstream.ErrGone) {
				err = perr
			}
			continue
		}
		eid, _, ierr := idOf(ep.Dir)
		ep.Close()
		if ierr == nil && eid == id {
			allowed = true
			break
		}
	}
	if err == nil && !allowed {
		err = c.refused()
	}
	if err == nil && par.TrailingSlash {
		err = unix.ENOENT // as the kernel answers a name that must be a directory
	}
	if err != nil {
		par.Close()
		return nil, err
	}
	return &dest{sa: sockaddrUnix(par.Name), parent: par, caller: true}, nil
}
