package sysargs_test

import (
	"encoding/binary"
	"net/netip"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
)

// fakeMemory is a target's memory made of a few regions. Reads outside
// them fail with EFAULT, as process_vm_readv does; gone makes every read
// fail as for a notification that is no longer pending.
type fakeMemory struct {
	regions map[uint64][]byte
	gone    bool
	reads   int
}

func newMemory() *fakeMemory { return &fakeMemory{regions: map[uint64][]byte{}} }

// put places b at addr.
func (m *fakeMemory) put(addr uint64, b []byte) uint64 {
	m.regions[addr] = b
	return addr
}

func (m *fakeMemory) putString(addr uint64, s string) uint64 {
	return m.put(addr, append([]byte(s), 0))
}

// putWords places pointer-sized values (size 4 or 8) at addr.
func (m *fakeMemory) putWords(addr uint64, size int, bo binary.ByteOrder, words ...uint64) uint64 {
	b := make([]byte, size*len(words))
	for i, w := range words {
		if size == 4 {
			bo.PutUint32(b[i*4:], uint32(w))
		} else {
			bo.PutUint64(b[i*8:], w)
		}
	}
	return m.put(addr, b)
}

// region returns the bytes from addr to the end of its region.
func (m *fakeMemory) region(addr uint64) []byte {
	starts := make([]uint64, 0, len(m.regions))
	for s := range m.regions {
		starts = append(starts, s)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	for _, s := range starts {
		b := m.regions[s]
		if addr >= s && addr < s+uint64(len(b)) {
			return b[addr-s:]
		}
	}
	return nil
}

func (m *fakeMemory) ReadAt(p []byte, addr int64) (int, error) {
	m.reads++
	if m.gone {
		return 0, seccompstream.ErrGone
	}
	n := copy(p, m.region(uint64(addr)))
	if n < len(p) {
		return n, unix.EFAULT
	}
	return n, nil
}

func (m *fakeMemory) ReadString(addr uint64, max int) (string, error) {
	m.reads++
	if m.gone {
		return "", seccompstream.ErrGone
	}
	b := m.region(addr)
	for i, c := range b {
		if i >= max {
			return "", unix.ENAMETOOLONG
		}
		if c == 0 {
			return string(b[:i]), nil
		}
	}
	return "", unix.EFAULT
}

// ReadSockaddr decodes AF_INET and AF_UNIX addresses (little-endian family),
// enough for the tests; the real decoder is seccompstream.Memory's.
func (m *fakeMemory) ReadSockaddr(addr uint64, length int) (seccompstream.Sockaddr, error) {
	m.reads++
	if m.gone {
		return seccompstream.Sockaddr{}, seccompstream.ErrGone
	}
	if length < 2 || length > 128 {
		return seccompstream.Sockaddr{}, unix.EINVAL
	}
	raw := make([]byte, length)
	if n := copy(raw, m.region(addr)); n < length {
		return seccompstream.Sockaddr{}, unix.EFAULT
	}
	sa := seccompstream.Sockaddr{Family: binary.LittleEndian.Uint16(raw), Raw: raw}
	switch sa.Family {
	case unix.AF_INET:
		if length >= 8 {
			sa.AddrPort = netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[4:8])), binary.BigEndian.Uint16(raw[2:]))
		}
	case unix.AF_UNIX:
		name := raw[2:]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		sa.Path = string(name)
	}
	return sa, nil
}

// sockaddrIn builds a struct sockaddr_in for 127.0.0.1:port.
func sockaddrIn(port uint16) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], []byte{127, 0, 0, 1})
	return b
}
