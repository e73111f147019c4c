package emulate

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
)

// NetworkPolicy says where a program may connect and send datagrams
// (Connect) and which local addresses it may bind (Bind). Each item is one
// of:
//
//	127.0.0.1:8080      an IPv4 address and a port
//	[::1]:443           an IPv6 address and a port
//	127.0.0.1:*         an address and any port
//	10.0.0.0/8:53       every address of a prefix (CIDR), a port or *
//	[fd00::/8]:*        the same for IPv6
//	/run/app.sock       a unix socket, by the path the program sees
//	@app                a unix socket in the abstract namespace
//
// Host names are not accepted: the policy checks addresses, and a name can
// resolve to others tomorrow. An IPv4-mapped IPv6 address
// ([::ffff:127.0.0.1]) is the IPv4 address, in the policy and in the
// calls: an item for 127.0.0.1 also allows an IPv6 socket to reach it
// that way. 0.0.0.0 and [::] as a destination are the local host to the
// kernel; they match only items that name them (or a prefix holding
// them). Ports are the same for TCP and UDP. Everything the lists do not
// name is refused with EACCES; see the package documentation for the calls
// and what is guaranteed.
type NetworkPolicy struct {
	// Connect are the destinations of connect, and of sendto, sendmsg and
	// sendmmsg with an address.
	Connect []string
	// Bind are the local addresses that bind may give a socket. Port 0
	// (the kernel picks one) is allowed by an item with port 0 or *.
	Bind []string
}

// An AddressError reports an item of a NetworkPolicy that cannot be used.
type AddressError struct {
	List  string // "connect" or "bind"
	Index int    // in that list
	Item  string
	Err   error
}

// Error names the list, the item and what is wrong with it.
func (e *AddressError) Error() string {
	return fmt.Sprintf("emulate: network policy: %s item %q: %v", e.List, e.Item, e.Err)
}

// Unwrap returns what is wrong with the item.
func (e *AddressError) Unwrap() error { return e.Err }

// Validate reports the first item of p that cannot be used, as an
// *AddressError naming it: an empty item, a host name, a missing or bad
// port, a prefix with host bits set, an IPv6 zone, a relative unix socket
// path or one with a "." or ".." component, or a unix name longer than a
// socket address holds (107 bytes).
func (p NetworkPolicy) Validate() error {
	_, _, err := p.entries()
	return err
}

// unixPathMax is the longest unix socket name: sun_path is 108 bytes and
// a path needs its NUL.
const unixPathMax = 107

// entryKind is what a policy item names.
type entryKind uint8

const (
	entryInet     entryKind = iota // an address prefix and a port
	entryPath                      // a unix socket path
	entryAbstract                  // an abstract unix name
)

// netEntry is a parsed policy item.
type netEntry struct {
	kind    entryKind
	prefix  netip.Prefix // entryInet: unmapped, no zone
	port    uint16
	anyPort bool
	name    string // entryPath: the cleaned path; entryAbstract: the name without "@"
}

func (p NetworkPolicy) entries() (connect, bind []netEntry, err error) {
	if connect, err = parseEntries("connect", p.Connect); err != nil {
		return nil, nil, err
	}
	if bind, err = parseEntries("bind", p.Bind); err != nil {
		return nil, nil, err
	}
	return connect, bind, nil
}

func parseEntries(list string, items []string) ([]netEntry, error) {
	out := make([]netEntry, 0, len(items))
	for i, s := range items {
		e, err := parseEntry(s)
		if err != nil {
			return nil, &AddressError{List: list, Index: i, Item: s, Err: err}
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

func parseEntry(s string) (netEntry, error) {
	switch {
	case s == "":
		return netEntry{}, errors.New("empty item")
	case strings.TrimSpace(s) != s:
		return netEntry{}, errors.New("spaces around the item")
	case s[0] == '/':
		if err := checkPolicyPath(s); err != nil {
			return netEntry{}, err
		}
		clean := path.Clean(s)
		if len(clean) > unixPathMax {
			return netEntry{}, fmt.Errorf("unix socket path longer than %d bytes", unixPathMax)
		}
		return netEntry{kind: entryPath, name: clean}, nil
	case s[0] == '@':
		name := s[1:]
		switch {
		case name == "":
			return netEntry{}, errors.New("empty abstract name")
		case strings.IndexByte(name, 0) >= 0:
			return netEntry{}, errors.New("holds a NUL byte")
		case len(name)+1 > unixPathMax+1:
			return netEntry{}, fmt.Errorf("abstract name longer than %d bytes", unixPathMax)
		}
		return netEntry{kind: entryAbstract, name: name}, nil
	}
	host, port, ok := cutPort(s)
	if !ok {
		_, err := netip.ParseAddr(s)
		switch {
		case err == nil || strings.Count(s, ":") > 1:
			return netEntry{}, errors.New("missing port (write IP:PORT, [IPv6]:PORT or IP:*; IPv6 addresses go in brackets)")
		case !strings.Contains(s, ":") && strings.ContainsAny(s, "./"):
			return netEntry{}, errors.New("missing port (write IP:PORT or IP:*), or a relative path (unix socket paths are absolute)")
		}
		return netEntry{}, errors.New("not an address (IP:PORT, [IPv6]:PORT, IP:*, /unix/path or @abstract)")
	}
	e := netEntry{kind: entryInet}
	if port == "*" {
		e.anyPort = true
	} else {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || (len(port) > 1 && port[0] == '0') {
			return netEntry{}, fmt.Errorf("bad port %q (a number 0..65535, or *)", port)
		}
		e.port = uint16(n)
	}
	var err error
	if e.prefix, err = parseHost(host); err != nil {
		return netEntry{}, err
	}
	return e, nil
}

// cutPort splits "HOST:PORT" and "[HOST]:PORT"; ok is false when there is
// no port (or an IPv6 address without brackets).
func cutPort(s string) (host, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 || len(s) < end+2 || s[end+1] != ':' {
			return "", "", false
		}
		return s[1:end], s[end+2:], true
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.Count(s, ":") != 1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// parseHost parses an address or a prefix. Mapped IPv4 addresses become
// IPv4; zones and host bits beyond the prefix are errors.
func parseHost(h string) (netip.Prefix, error) {
	if h == "" {
		return netip.Prefix{}, errors.New("missing address (a port needs an address: 0.0.0.0 is the IPv4 any-address)")
	}
	if strings.Contains(h, "%") {
		return netip.Prefix{}, errors.New("an IPv6 zone (%interface) is not accepted: interface names belong to the program's network namespace")
	}
	if strings.Contains(h, "/") {
		p, err := netip.ParsePrefix(h)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad prefix %q", h)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("prefix %s has host bits set (did you mean %s?)", p, p.Masked())
		}
		if a := p.Addr(); a.Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, fmt.Errorf("prefix %s is wider than the IPv4-mapped range", p)
			}
			p = netip.PrefixFrom(a.Unmap(), bits)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address (host names are not accepted: the policy checks addresses)", h)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// matchInet reports whether e allows the address ap (unmapped, zone
// ignored).
func (e *netEntry) matchInet(ap netip.AddrPort) bool {
	if e.kind != entryInet {
		return false
	}
	return e.prefix.Contains(ap.Addr().WithZone("")) && (e.anyPort || e.port == ap.Port())
}

// String writes e back in the policy syntax, cleaned.
func (e *netEntry) String() string {
	switch e.kind {
	case entryPath:
		return e.name
	case entryAbstract:
		return "@" + e.name
	}
	host := e.prefix.Addr().String()
	if e.prefix.Bits() != e.prefix.Addr().BitLen() {
		host = e.prefix.String()
	}
	if e.prefix.Addr().Is6() {
		host = "[" + host + "]"
	}
	if e.anyPort {
		return host + ":*"
	}
	return host + ":" + strconv.Itoa(int(e.port))
}
