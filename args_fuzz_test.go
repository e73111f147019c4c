package seccompstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// order is a byte order that can also append.
type order interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// orderOf returns the byte order a fuzzer's bool picks.
func orderOf(big bool) order {
	if big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// sockaddrSeeds are socket addresses as targets of either byte order lay
// them out.
func sockaddrSeeds(bo order) [][]byte {
	in4 := make([]byte, unix.SizeofSockaddrInet4)
	bo.PutUint16(in4, unix.AF_INET)
	binary.BigEndian.PutUint16(in4[2:], 8080)
	copy(in4[4:], []byte{127, 0, 0, 1})
	in6 := make([]byte, unix.SizeofSockaddrInet6)
	bo.PutUint16(in6, unix.AF_INET6)
	binary.BigEndian.PutUint16(in6[2:], 443)
	in6[8], in6[23] = 0xfe, 1
	in6[9] = 0x80
	bo.PutUint32(in6[24:], 2)
	un := append(bo.AppendUint16(nil, unix.AF_UNIX), "/run/x.sock\x00junk"...)
	abs := append(bo.AppendUint16(nil, unix.AF_UNIX), "\x00abstract\x00name"...)
	other := append(bo.AppendUint16(nil, unix.AF_NETLINK), make([]byte, 10)...)
	return [][]byte{in4, in6, in6[:24], un, abs, other, in4[:8], in6[:20], bo.AppendUint16(nil, unix.AF_UNIX), {1}}
}

func TestDecodeSockaddrByteOrders(t *testing.T) {
	for _, bo := range []order{binary.LittleEndian, binary.BigEndian} {
		seeds := sockaddrSeeds(bo)
		for i, want := range []string{"127.0.0.1:8080", "[fe80::1%2]:443", "[fe80::1]:443", "/run/x.sock",
			"@abstract\x00name", "family 16 (12 bytes)"} {
			sa, err := decodeSockaddr(seeds[i], bo)
			if err != nil || sa.String() != want {
				t.Errorf("%v seed %d: %q, %v; want %q", bo, i, sa.String(), err, want)
			}
		}
		if sa, err := decodeSockaddr(seeds[8], bo); err != nil || sa.String() != "(unnamed)" {
			t.Errorf("%v: unnamed AF_UNIX address: %q, %v", bo, sa.String(), err)
		}
		for _, raw := range [][]byte{seeds[6], seeds[7], seeds[9], make([]byte, sockaddrMax+1)} {
			if _, err := decodeSockaddr(raw, bo); !errors.Is(err, unix.EINVAL) {
				t.Errorf("%v: %x decoded with %v, want EINVAL", bo, raw, err)
			}
		}
	}
}

// FuzzDecodeSockaddr checks that the socket address decoder never panics,
// refuses what the kernel refuses with EINVAL, and decodes what it accepts
// faithfully: re-encoding the result gives the bytes back.
func FuzzDecodeSockaddr(f *testing.F) {
	for _, big := range []bool{false, true} {
		for _, s := range sockaddrSeeds(orderOf(big)) {
			f.Add(s, big)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, big bool) {
		bo := orderOf(big)
		sa, err := decodeSockaddr(raw, bo)
		_ = sa.String()
		if len(raw) < 2 || len(raw) > sockaddrMax {
			if !errors.Is(err, unix.EINVAL) {
				t.Fatalf("length %d accepted (%v)", len(raw), err)
			}
			return
		}
		if sa.Family != bo.Uint16(raw) || !bytes.Equal(sa.Raw, raw) {
			t.Fatalf("family %d, raw %x; want %d, %x", sa.Family, sa.Raw, bo.Uint16(raw), raw)
		}
		if err != nil {
			if !errors.Is(err, unix.EINVAL) {
				t.Fatalf("%x: error %v does not match EINVAL", raw, err)
			}
			if sa.Family != unix.AF_INET && sa.Family != unix.AF_INET6 {
				t.Fatalf("family %d refused: %v", sa.Family, err)
			}
			return
		}
		switch sa.Family {
		case unix.AF_INET:
			port := binary.BigEndian.Uint16(raw[2:])
			if a := sa.AddrPort.Addr(); !a.Is4() || a.As4() != [4]byte(raw[4:8]) || sa.AddrPort.Port() != port {
				t.Fatalf("%x decoded as %v", raw, sa.AddrPort)
			}
		case unix.AF_INET6:
			port := binary.BigEndian.Uint16(raw[2:])
			a := sa.AddrPort.Addr()
			if !a.Is6() || a.As16() != [16]byte(raw[8:24]) || sa.AddrPort.Port() != port {
				t.Fatalf("%x decoded as %v", raw, sa.AddrPort)
			}
			zone := ""
			if len(raw) >= unix.SizeofSockaddrInet6 && !a.Is4In6() {
				if scope := bo.Uint32(raw[24:]); scope != 0 {
					zone = strconv.FormatUint(uint64(scope), 10)
				}
			}
			if a.Zone() != zone {
				t.Fatalf("%x: zone %q, want %q", raw, a.Zone(), zone)
			}
		case unix.AF_UNIX:
			name := raw[2:]
			var want string
			switch {
			case len(name) == 0:
			case name[0] == 0:
				want = "@" + string(name[1:])
			default:
				if i := bytes.IndexByte(name, 0); i >= 0 {
					name = name[:i]
				}
				want = string(name)
			}
			if sa.Path != want {
				t.Fatalf("%x: path %q, want %q", raw, sa.Path, want)
			}
		default:
			if sa.AddrPort != (netip.AddrPort{}) || sa.Path != "" {
				t.Fatalf("family %d decoded as %v %q", sa.Family, sa.AddrPort, sa.Path)
			}
		}
	})
}

// FuzzDecodeIovecs checks that the iovec decoder never panics and decodes
// every whole struct: re-encoding the result gives the bytes back.
func FuzzDecodeIovecs(f *testing.F) {
	f.Add(make([]byte, 32), true, false)
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, false, true)
	f.Add([]byte{}, false, false)
	f.Fuzz(func(t *testing.T, raw []byte, is64, big bool) {
		bo := orderOf(big)
		iov := decodeIovecs(raw, is64, bo)
		size := iovecSize(is64)
		if len(iov) != len(raw)/size {
			t.Fatalf("%d bytes gave %d iovecs of %d bytes", len(raw), len(iov), size)
		}
		var back []byte
		for _, v := range iov {
			if is64 {
				back = bo.AppendUint64(bo.AppendUint64(back, v.Base), v.Len)
			} else {
				if v.Base > 1<<32-1 || v.Len > 1<<32-1 {
					t.Fatalf("32-bit iovec %+v", v)
				}
				back = bo.AppendUint32(bo.AppendUint32(back, uint32(v.Base)), uint32(v.Len))
			}
		}
		if !bytes.Equal(back, raw[:len(iov)*size]) {
			t.Fatalf("%x decoded as %+v", raw, iov)
		}
	})
}

// TestArchLayout checks the ABI helpers for a few AUDIT_ARCH values.
func TestArchLayout(t *testing.T) {
	for _, tc := range []struct {
		arch uint32
		big  bool
		is64 bool
	}{
		{unix.AUDIT_ARCH_X86_64, false, true},
		{unix.AUDIT_ARCH_I386, false, false},
		{unix.AUDIT_ARCH_AARCH64, false, true},
		{unix.AUDIT_ARCH_S390X, true, true},
		{unix.AUDIT_ARCH_PPC, true, false},
	} {
		if got := archByteOrder(tc.arch) == binary.BigEndian; got != tc.big {
			t.Errorf("arch %#x: big endian %v, want %v", tc.arch, got, tc.big)
		}
		if got := archIs64(tc.arch); got != tc.is64 {
			t.Errorf("arch %#x: 64-bit %v, want %v", tc.arch, got, tc.is64)
		}
	}
	// Per call: x32 calls (x86_64's arch, the x32 bit) take 32-bit pointers.
	for _, tc := range []struct {
		arch uint32
		nr   int32
		is64 bool
	}{
		{unix.AUDIT_ARCH_X86_64, 20, true},
		{unix.AUDIT_ARCH_X86_64, 0x40000000 | 516, false},
		{unix.AUDIT_ARCH_X86_64, 0x40000000 | 20, false},
		{unix.AUDIT_ARCH_X86_64, -1, true},
		{unix.AUDIT_ARCH_I386, 146, false},
		{unix.AUDIT_ARCH_AARCH64, 0x40000000 | 66, true},
	} {
		if got := callIs64(tc.arch, tc.nr); got != tc.is64 {
			t.Errorf("arch %#x call %#x: 64-bit %v, want %v", tc.arch, tc.nr, got, tc.is64)
		}
	}
}
