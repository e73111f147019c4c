package seccompstream

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/internal/unotify"
	"golang.org/x/sys/unix"
)

// Limits the kernel applies to call arguments.
const (
	// PathMax is the kernel's limit on a path argument, NUL included
	// (PATH_MAX). Pass it as ReadString's max for paths.
	PathMax = unix.PathMax
	// IovMax is the most iovecs one call takes (UIO_MAXIOV).
	IovMax = 1024
	// sockaddrMax is sizeof(struct sockaddr_storage).
	sockaddrMax = unix.SizeofSockaddrAny
)

// ReadValue reads a value of type T at addr in the target's memory, laid out
// as the supervisor's Go (and C) compiler lays out T, and validates the
// notification afterwards (as ReadAt does). T must hold plain data only:
// integers, floats, bools, and arrays and structs of them, such as
// unix.RawSockaddrInet4 or unix.Timespec. Pointers, strings, slices, maps,
// channels, funcs and interfaces are refused with an error, since their bytes
// mean nothing in the supervisor.
//
// The layout is the supervisor's: a target of another ABI (i386 on x86_64,
// see Notification.Arch) lays some structs out differently.
func ReadValue[T any](m *Memory, addr uint64) (T, error) {
	var v T
	if err := checkPlain(reflect.TypeFor[T]()); err != nil {
		return v, fmt.Errorf("seccompstream: ReadValue[%v]: %w", reflect.TypeFor[T](), err)
	}
	b := unotify.Bytes(&v)
	if _, err := m.readValid(b, addr); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// checkPlain reports whether values of t are plain bytes.
func checkPlain(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return nil
	case reflect.Array:
		return checkPlain(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if err := checkPlain(t.Field(i).Type); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("type %v holds a %v, which is not plain data: %w", t, t.Kind(), unix.EINVAL)
}

// archByteOrder returns the byte order of the ABI arch (an AUDIT_ARCH_*
// value; 0, unknown, means the supervisor's own, little endian on every
// architecture this package runs on).
func archByteOrder(arch uint32) binary.ByteOrder {
	if sysnames.IsLE(arch) || arch == 0 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// archIs64 reports whether the ABI arch has 64-bit pointers (arch 0: the
// supervisor's).
func archIs64(arch uint32) bool {
	if arch == 0 {
		return bits.UintSize == 64
	}
	return sysnames.Is64(arch)
}

// callIs64 reports whether call nr of the ABI arch takes 64-bit pointers:
// archIs64, except for x32 calls (x86_64's arch, the x32 bit in the
// number), whose pointers, longs and struct iovec are 32-bit.
func callIs64(arch uint32, nr int32) bool {
	return archIs64(arch) && !sysnames.IsX32(arch, nr)
}

// Sockaddr is a socket address read from the target's memory, as connect,
// bind, sendto and sendmsg take it.
type Sockaddr struct {
	// Family is the address family (unix.AF_INET, unix.AF_INET6,
	// unix.AF_UNIX, ...).
	Family uint16
	// AddrPort is the address of an AF_INET or AF_INET6 socket address. An
	// IPv6 scope id is kept as a numeric zone (e.g. "fe80::1%2"): interface
	// names belong to the target's network namespace.
	AddrPort netip.AddrPort
	// Path is the name of an AF_UNIX socket address: a file system path, an
	// abstract name written with a leading "@" (its NULs kept as they are),
	// or "" for an unnamed address.
	Path string
	// Raw holds the bytes as read (length as given to ReadSockaddr).
	Raw []byte
}

// String formats the address as "127.0.0.1:80", "[::1]:80", "/run/x.sock",
// "@abstract" or "family 16 (12 bytes)".
func (a Sockaddr) String() string {
	switch a.Family {
	case unix.AF_INET, unix.AF_INET6:
		return a.AddrPort.String()
	case unix.AF_UNIX:
		if a.Path == "" {
			return "(unnamed)"
		}
		return a.Path
	}
	return "family " + strconv.Itoa(int(a.Family)) + " (" + strconv.Itoa(len(a.Raw)) + " bytes)"
}

// ReadSockaddr reads the socket address of length bytes at addr (the
// address and length arguments of connect, bind, sendto) and decodes
// AF_INET, AF_INET6 and AF_UNIX addresses; other families come back with
// Family and Raw only. The notification is validated after the read.
//
// A length the kernel would refuse (below 2 or above 128, or too short for
// the family) fails with an error matching unix.EINVAL, an unreadable
// address with one matching unix.EFAULT: Error(err) answers the target as
// the kernel would.
func (m *Memory) ReadSockaddr(addr uint64, length int) (Sockaddr, error) {
	if err := checkSockaddrLen(length); err != nil {
		return Sockaddr{}, err
	}
	raw := make([]byte, length)
	if _, err := m.readValid(raw, addr); err != nil {
		return Sockaddr{}, err
	}
	return decodeSockaddr(raw, archByteOrder(m.arch))
}

// checkSockaddrLen refuses a socket address length the kernel would refuse
// before looking at the address.
func checkSockaddrLen(length int) error {
	if length < 2 || length > sockaddrMax {
		return fmt.Errorf("seccompstream: socket address length %d out of range 2..%d: %w", length, sockaddrMax, unix.EINVAL)
	}
	return nil
}

// decodeSockaddr decodes the socket address raw, as read from a target
// whose ABI has byte order bo (the family and the IPv6 scope id are in it;
// ports and addresses are in network order). It is ReadSockaddr without
// the read, and returns the same errors. The result keeps raw as Raw.
func decodeSockaddr(raw []byte, bo binary.ByteOrder) (Sockaddr, error) {
	length := len(raw)
	if err := checkSockaddrLen(length); err != nil {
		return Sockaddr{}, err
	}
	sa := Sockaddr{Family: bo.Uint16(raw), Raw: raw}
	switch sa.Family {
	case unix.AF_INET:
		if length < unix.SizeofSockaddrInet4 {
			return sa, fmt.Errorf("seccompstream: AF_INET socket address of %d bytes, want %d: %w", length, unix.SizeofSockaddrInet4, unix.EINVAL)
		}
		port := binary.BigEndian.Uint16(raw[2:])
		sa.AddrPort = netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[4:8])), port)
	case unix.AF_INET6:
		// 24 bytes (RFC 2133, without the scope id) is the least the
		// kernel takes.
		if length < 24 {
			return sa, fmt.Errorf("seccompstream: AF_INET6 socket address of %d bytes, want at least 24: %w", length, unix.EINVAL)
		}
		port := binary.BigEndian.Uint16(raw[2:])
		ip := netip.AddrFrom16([16]byte(raw[8:24]))
		if length >= unix.SizeofSockaddrInet6 {
			if scope := bo.Uint32(raw[24:]); scope != 0 && ip.Is6() && !ip.Is4In6() {
				ip = ip.WithZone(strconv.FormatUint(uint64(scope), 10))
			}
		}
		sa.AddrPort = netip.AddrPortFrom(ip, port)
	case unix.AF_UNIX:
		name := raw[2:]
		switch {
		case len(name) == 0:
			// unnamed
		case name[0] == 0:
			sa.Path = "@" + string(name[1:])
		default:
			if i := indexNUL(name); i >= 0 {
				name = name[:i]
			}
			sa.Path = string(name)
		}
	}
	return sa, nil
}

// Iovec is one element of an iovec array (struct iovec), as readv, writev,
// sendmsg and recvmsg take them.
type Iovec struct {
	Base uint64 // address in the target
	Len  uint64
}

// ReadIovecs reads the array of count iovecs at addr, in the layout of the
// calling ABI (16 bytes each for 64-bit ABIs, 8 for 32-bit ones: i386, arm
// and x32, whose calls have x86_64's Arch and the x32 bit in Syscall), and
// validates the notification after the read. A count outside 0..IovMax
// fails with an error matching unix.EINVAL, as the kernel would. Read the
// buffers the iovecs point to with ReadAt.
func (m *Memory) ReadIovecs(addr uint64, count int) ([]Iovec, error) {
	if count < 0 || count > IovMax {
		return nil, fmt.Errorf("seccompstream: iovec count %d out of range 0..%d: %w", count, IovMax, unix.EINVAL)
	}
	if count == 0 {
		return nil, nil
	}
	is64 := m.ptr64
	raw := make([]byte, count*iovecSize(is64))
	if _, err := m.readValid(raw, addr); err != nil {
		return nil, err
	}
	return decodeIovecs(raw, is64, archByteOrder(m.arch)), nil
}

// iovecSize returns the size of a struct iovec in an ABI with 64-bit
// pointers (is64) or 32-bit ones.
func iovecSize(is64 bool) int {
	if is64 {
		return 16
	}
	return 8
}

// decodeIovecs decodes the iovec array raw, as read from a target whose ABI
// has 64-bit pointers (is64) or 32-bit ones and byte order bo: one Iovec
// per whole struct in raw (trailing bytes are ignored). It is ReadIovecs
// without the read.
func decodeIovecs(raw []byte, is64 bool, bo binary.ByteOrder) []Iovec {
	size := iovecSize(is64)
	count := len(raw) / size
	if count == 0 {
		return nil
	}
	iov := make([]Iovec, count)
	for i := range iov {
		b := raw[i*size:]
		if is64 {
			iov[i] = Iovec{Base: bo.Uint64(b), Len: bo.Uint64(b[8:])}
		} else {
			iov[i] = Iovec{Base: uint64(bo.Uint32(b)), Len: uint64(bo.Uint32(b[4:]))}
		}
	}
	return iov
}

// ResolvePath reads the path argument at addr of a call that takes a
// directory file descriptor (openat's first two arguments; pass
// unix.AT_FDCWD for calls without one, such as open or mkdir) and returns it
// as a path the supervisor can use: an absolute path joined to the target's
// root directory (/proc/<tid>/root), a relative one to the directory dirfd
// names in the target (its working directory, /proc/<tid>/cwd, for
// AT_FDCWD; /proc/<tid>/fd/<dirfd> otherwise). The notification is
// validated after all of that was read, so the answer describes the target
// and not a process that reused its thread id.
//
// The path is not cleaned: ".." and symbolic links are for the kernel to
// resolve, and a lexical clean would get them wrong. An empty path returns
// the directory itself (as AT_EMPTY_PATH means). The result is a snapshot:
// the target's other threads can change directories, and its memory, at any
// time. To act on the directory itself rather than a name, open it with
// OpenDir.
//
// Errors match the errno the kernel would return to the target: EFAULT for
// a bad pointer, ENAMETOOLONG for an over-long path, EBADF for a dirfd the
// target has not open, ENOTDIR for one that is not a directory, ENOENT for
// a directory that was deleted. Pass dirfd as int(int32(n.Args[0])).
func (n *Notification) ResolvePath(dirfd int, addr uint64) (string, error) {
	m, err := n.memory()
	if err != nil {
		return "", err
	}
	defer m.Close()
	path, err := m.ReadString(addr, PathMax)
	if err != nil {
		return "", err
	}
	var dir string
	if strings.HasPrefix(path, "/") {
		dir, err = m.targetDir(rootDirFD)
	} else {
		dir, err = m.targetDir(dirfd)
	}
	if err != nil {
		return "", err
	}
	if err := m.s.idValid(m.id); err != nil {
		return "", err
	}
	switch {
	case path == "":
		return dir, nil
	case strings.HasPrefix(path, "/"):
		if dir == "/" {
			return path, nil
		}
		return dir + path, nil
	case dir == "/":
		return "/" + path, nil
	}
	return dir + "/" + path, nil
}

// rootDirFD is a dirfd value no call uses: it stands for the target's root.
const rootDirFD = -1 << 31

// procDir names the /proc link for a directory of the target.
func (m *Memory) procDir(dirfd int) string {
	base := "/proc/" + strconv.Itoa(m.tid)
	switch dirfd {
	case unix.AT_FDCWD:
		return base + "/cwd"
	case rootDirFD:
		return base + "/root"
	}
	return base + "/fd/" + strconv.Itoa(dirfd)
}

// targetDir returns the path of a directory of the target, not validated.
func (m *Memory) targetDir(dirfd int) (string, error) {
	if dirfd < 0 && dirfd != unix.AT_FDCWD && dirfd != rootDirFD {
		return "", m.stringError(fmt.Errorf("seccompstream: dirfd %d of target %d: %w", dirfd, m.tid, unix.EBADF))
	}
	link := m.procDir(dirfd)
	dir, err := os.Readlink(link)
	if err != nil {
		if verr := m.s.idValid(m.id); verr != nil {
			return "", verr
		}
		if os.IsNotExist(err) && dirfd >= 0 {
			return "", fmt.Errorf("seccompstream: dirfd %d is not open in target %d: %w", dirfd, m.tid, unix.EBADF)
		}
		return "", fmt.Errorf("seccompstream: %w", err)
	}
	if !strings.HasPrefix(dir, "/") {
		return "", m.stringError(fmt.Errorf("seccompstream: dirfd %d of target %d is %q, not a directory: %w", dirfd, m.tid, dir, unix.ENOTDIR))
	}
	if strings.HasSuffix(dir, " (deleted)") {
		return "", m.stringError(fmt.Errorf("seccompstream: directory %s of target %d was deleted: %w", link, m.tid, unix.ENOENT))
	}
	if dirfd >= 0 {
		var st unix.Stat_t
		if err := unix.Stat(link, &st); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return "", m.stringError(fmt.Errorf("seccompstream: dirfd %d of target %d (%s) is not a directory: %w", dirfd, m.tid, dir, unix.ENOTDIR))
		}
	}
	return dir, nil
}

// OpenDir opens, for the supervisor, the directory that a path argument of
// the target's call is relative to: the directory open as dirfd in the
// target, or its working directory for unix.AT_FDCWD. The file is opened
// with O_PATH|O_DIRECTORY (use it as the directory of openat and friends,
// or os.Root) and the notification is validated after opening it, so it is
// the target's directory even if the target died and its thread id was
// reused right before. The caller closes the file. Errors are those of
// ResolvePath.
func (n *Notification) OpenDir(dirfd int) (*os.File, error) {
	m, err := n.memory()
	if err != nil {
		return nil, err
	}
	if dirfd < 0 && dirfd != unix.AT_FDCWD {
		return nil, fmt.Errorf("seccompstream: OpenDir: dirfd %d of target %d: %w", dirfd, m.tid, unix.EBADF)
	}
	return m.openDir(dirfd)
}

// OpenRoot opens the target's root directory (/proc/<tid>/root) as OpenDir
// does: the directory absolute path arguments of its calls start from.
func (n *Notification) OpenRoot() (*os.File, error) {
	m, err := n.memory()
	if err != nil {
		return nil, err
	}
	return m.openDir(rootDirFD)
}

func (m *Memory) openDir(dirfd int) (*os.File, error) {
	link := m.procDir(dirfd)
	var fd int
	var err error
	for {
		fd, err = unix.Open(link, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if verr := m.s.idValid(m.id); verr != nil {
			return nil, verr
		}
		if err == unix.ENOENT && dirfd >= 0 {
			err = unix.EBADF
		}
		return nil, fmt.Errorf("seccompstream: open %s: %w", link, err)
	}
	if err := m.s.idValid(m.id); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), link), nil
}
