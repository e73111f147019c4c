package emulate

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/nsthread"
)

// A Device is a device node by type and number, written "c 1:3" (a
// character device) or "b 7:0" (a block device).
type Device struct {
	Block        bool
	Major, Minor uint32
}

// DefaultDevices are the nodes Mknod creates when given none: null, zero,
// full, random, urandom, tty, console, ptmx and fuse, the character
// devices a container commonly needs and may safely have.
var DefaultDevices = []Device{
	{Major: 1, Minor: 3}, {Major: 1, Minor: 5}, {Major: 1, Minor: 7}, {Major: 1, Minor: 8}, {Major: 1, Minor: 9},
	{Major: 5, Minor: 0}, {Major: 5, Minor: 1}, {Major: 5, Minor: 2}, {Major: 10, Minor: 229},
}

// String returns the device as ParseDevice reads it.
func (d Device) String() string {
	t := "c"
	if d.Block {
		t = "b"
	}
	return fmt.Sprintf("%s %d:%d", t, d.Major, d.Minor)
}

// ParseDevice parses "c MAJOR:MINOR" or "b MAJOR:MINOR" (Linux's majors
// have 12 bits, its minors 20).
func ParseDevice(s string) (Device, error) {
	t, num, ok := strings.Cut(strings.TrimSpace(s), " ")
	maj, min, ok2 := strings.Cut(strings.TrimSpace(num), ":")
	if !ok || !ok2 || (t != "c" && t != "b") {
		return Device{}, fmt.Errorf("device %q: want \"c MAJOR:MINOR\" or \"b MAJOR:MINOR\"", s)
	}
	ma, err1 := strconv.ParseUint(maj, 10, 12)
	mi, err2 := strconv.ParseUint(min, 10, 20)
	if err1 != nil || err2 != nil {
		return Device{}, fmt.Errorf("device %q: major must be 0..4095 and minor 0..1048575", s)
	}
	return Device{Block: t == "b", Major: uint32(ma), Minor: uint32(mi)}, nil
}

// Mknod returns a Handler for mknod and mknodat that creates the device
// nodes in devices (nil: DefaultDevices) for the caller, which could not
// create them itself (a container in a user namespace has no CAP_MKNOD in
// the initial one):
//
//   - the path is read once from the caller's memory and resolved as the
//     caller would, in its root and mounts, with its credentials
//     (Target.OpenParent);
//   - the node is created only where the caller could create a regular
//     file: write and search permission on the directory for its fsuid,
//     fsgid and groups, a mount that is not read-only, no existing name;
//   - the supervisor creates it (mknodat on the checked directory) with the
//     caller's umask, and gives it to the caller's fsuid and fsgid.
//
// A character or block device not in devices gets EPERM, as the kernel
// gives it to a caller without CAP_MKNOD. The kernel runs the call
// (Continue) for a caller that holds CAP_MKNOD in the supervisor's user
// namespace, which may create any device itself, and for an overlayfs
// whiteout (a character device 0:0), which needs no CAP_MKNOD since Linux
// 5.8; both are decided without reading the caller's memory. Other file
// types (FIFOs, sockets, regular files) are decided from the mode register
// alone and answered Continue: the kernel creates them as usual. A filter
// should not send those here at all: agent.InterceptRules notifies mknod
// only for devices.
//
// The supervisor needs CAP_MKNOD, CAP_CHOWN and what Target needs. A call
// of another name gets ENOSYS.
func Mknod(devices []Device) seccompstream.Handler {
	if devices == nil {
		devices = DefaultDevices
	}
	return &mknod{devices: slices.Clone(devices)}
}

type mknod struct {
	devices []Device

	afterCreate func(dirfd int, name string) // tests: runs between mknodat and the chown
}

func (m *mknod) ServeNotification(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
	dirfd, pathAddr, mode, dev := unix.AT_FDCWD, n.Args[0], uint32(n.Args[1]), uint32(n.Args[2])
	switch n.SyscallName() {
	case "mknod":
	case "mknodat":
		dirfd, pathAddr, mode, dev = int(int32(n.Args[0])), n.Args[1], uint32(n.Args[2]), uint32(n.Args[3])
	default:
		return seccompstream.Errno(unix.ENOSYS)
	}
	typ := mode & unix.S_IFMT
	if typ != unix.S_IFCHR && typ != unix.S_IFBLK {
		// A register decision: the kernel may run it (see Continue).
		return seccompstream.Continue()
	}
	if typ == unix.S_IFCHR && dev == 0 {
		// An overlayfs whiteout: the kernel lets anyone who may create a
		// file make one (Linux 5.8), without CAP_MKNOD.
		return seccompstream.Continue()
	}
	t, err := n.Target()
	if err != nil {
		return seccompstream.Error(err)
	}
	defer t.Close()
	creds, err := t.Creds()
	if err != nil {
		return seccompstream.Error(err)
	}
	if creds.CapsInSupervisorNS().Has(unix.CAP_MKNOD) {
		// The caller may create any device itself: the kernel decides, as
		// it would without the intercept (a decision on the registers and
		// on credentials the waiting caller cannot change).
		return seccompstream.Continue()
	}
	d := Device{Block: typ == unix.S_IFBLK, Major: unix.Major(uint64(dev)), Minor: unix.Minor(uint64(dev))}
	if !slices.Contains(m.devices, d) {
		return seccompstream.Errno(unix.EPERM)
	}
	path, err := n.ReadString(pathAddr, seccompstream.PathMax)
	if err != nil {
		return seccompstream.Error(err)
	}
	if path == "" {
		return seccompstream.Errno(unix.ENOENT)
	}
	if err := m.create(ctx, n, t, creds, dirfd, path, mode, dev); err != nil {
		return seccompstream.Error(err)
	}
	return seccompstream.Return(0)
}

// create makes the node path (relative to the caller's dirfd) for the
// caller of n, t with credentials creds.
func (m *mknod) create(ctx context.Context, n *seccompstream.Notification, t *seccompstream.Target, creds seccompstream.Creds, dirfd int, path string, mode, dev uint32) error {
	// Resolve and check as the caller.
	var parent *seccompstream.Parent
	err := t.DoWithCreds(ctx, func() error {
		p, err := t.OpenParent(dirfd, path)
		if err != nil {
			return err
		}
		if p.TrailingSlash {
			p.Close()
			return unix.ENOENT
		}
		// Could the caller create a regular file here? Write and search
		// permission for its ids (AT_EACCESS: the thread's, which are the
		// caller's), and EROFS on a read-only mount.
		if err := unix.Faccessat2(int(p.Dir.Fd()), "", unix.W_OK|unix.X_OK, unix.AT_EACCESS|unix.AT_EMPTY_PATH); err != nil {
			p.Close()
			return err
		}
		parent = p
		return nil
	})
	if err != nil {
		return err
	}
	defer parent.Close()
	dirFD := int(parent.Dir.Fd())
	// Create with the supervisor's privileges, on a thread of its own
	// with the caller's umask (the umask is the whole process's otherwise).
	nsthread.Run(func() {
		if err = nsthread.UnshareFS(); err != nil {
			return
		}
		unix.Umask(int(creds.Umask))
		err = unix.Mknodat(dirFD, parent.Name, mode, int(dev))
	})
	if err != nil {
		return err
	}
	if m.afterCreate != nil {
		m.afterCreate(dirFD, parent.Name)
	}
	// Give the caller the node created, not whatever the name holds by
	// then: whoever may write to the directory can rename the node away
	// and put a hard link to another file (or a symbolic link) there.
	node, err := unix.Openat(dirFD, parent.Name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("emulate: mknod %q: open the new node: %w", path, err)
	}
	defer unix.Close(node)
	var st unix.Stat_t
	if err := unix.Fstat(node, &st); err != nil {
		return fmt.Errorf("emulate: mknod %q: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != mode&unix.S_IFMT || st.Rdev != unix.Mkdev(unix.Major(uint64(dev)), unix.Minor(uint64(dev))) ||
		st.Uid != uint32(os.Geteuid()) {
		// Not ours: leave it, and fail the call.
		return fmt.Errorf("emulate: mknod %q: the new node was replaced before it was given to the caller: %w", path, unix.EBUSY)
	}
	// remove unlinks the node if the name still holds it.
	remove := func() {
		var now unix.Stat_t
		if unix.Fstatat(dirFD, parent.Name, &now, unix.AT_SYMLINK_NOFOLLOW) == nil && now.Dev == st.Dev && now.Ino == st.Ino {
			_ = unix.Unlinkat(dirFD, parent.Name, 0)
		}
	}
	if err := unix.Fchownat(node, "", int(creds.FSUID), int(creds.FSGID), unix.AT_EMPTY_PATH); err != nil {
		remove()
		return fmt.Errorf("emulate: mknod %q: chown to the caller: %w", path, err)
	}
	if !n.Valid() {
		// The caller is gone (killed, interrupted): it will not see the
		// answer, and a restarted call would find the name taken.
		remove()
		return seccompstream.ErrGone
	}
	return nil
}
