package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultSocketMode is the permission of the socket file Listen creates
// unless SocketMode says otherwise: only the agent's user may connect.
const DefaultSocketMode os.FileMode = 0o600

// A ListenOption changes how Listen creates the socket.
type ListenOption func(*listenConfig)

type listenConfig struct {
	mode    os.FileMode
	modeSet bool
	gid     int
	gidSet  bool

	afterBind func() // tests: runs between bind(2) and the chown and chmod
}

// SocketMode sets the permission bits of the socket file (default
// DefaultSocketMode, 0600). Connecting to a unix socket file needs write
// permission on it, so 0660 with SocketGroup lets that group connect.
// Only the permission bits 0777 may be set.
//
// Widening the socket only lets more processes connect: which of them are
// served is decided by the Server's AllowUIDs or Authorize.
func SocketMode(mode os.FileMode) ListenOption {
	return func(c *listenConfig) { c.mode, c.modeSet = mode, true }
}

// SocketGroup sets the group of the socket file (default: the agent's
// own group, as the kernel creates the file). Combine it with
// SocketMode(0o660) to let that group's members connect.
func SocketGroup(gid int) ListenOption {
	return func(c *listenConfig) { c.gid, c.gidSet = gid, true }
}

// Listen listens on the unix socket path for runtime connections, the path
// a container's config.json names in linux.seccomp.listenerPath.
//
// The socket file is created with mode 0600 (or SocketMode's) and never
// exists with wider permissions than asked for: its mode is set on the
// socket before bind(2) creates the file (the process's umask may narrow
// it further; the final mode is then set exactly), and a group
// (SocketGroup) is applied before the mode is widened to let it in. The
// group and mode are set on the socket file itself, opened without
// following symbolic links: a link swapped in after bind(2) makes Listen
// fail rather than change what it points to. The directory holding the
// socket should still be writable by the agent's user only, as /run is:
// whoever can write to it can replace the socket file later, and
// runtimes connect by path.
//
// A path that starts with "@" is a name in the abstract namespace (no
// file; the runtime must be in the same network namespace; runc 1.1
// accepts such names in listenerPath, crun 1.8 does not). Abstract
// sockets have no permissions at all: any process in the network
// namespace can connect, so SocketMode and SocketGroup are refused there
// and only the Server's peer check (AllowUIDs, Authorize) keeps others
// out.
//
// A socket file left behind by an agent that is gone (nobody accepts on
// it) is replaced; a file that is not a socket, or a socket somebody
// still listens on, is an error. Closing the listener removes the socket
// file.
func Listen(path string, opts ...ListenOption) (*net.UnixListener, error) {
	cfg := listenConfig{mode: DefaultSocketMode, gid: -1}
	for _, o := range opts {
		o(&cfg)
	}
	if path == "" || path == "@" {
		return nil, fmt.Errorf("agent: listen: empty socket path %q", path)
	}
	if cfg.mode&^os.ModePerm != 0 {
		return nil, fmt.Errorf("agent: listen on %q: socket mode %#o has bits other than the permissions (0777)", path, uint32(cfg.mode))
	}
	if cfg.gidSet && cfg.gid < 0 {
		return nil, fmt.Errorf("agent: listen on %q: bad socket group %d", path, cfg.gid)
	}
	abstract := path[0] == '@'
	if abstract && (cfg.modeSet || cfg.gidSet) {
		return nil, fmt.Errorf("agent: listen on %q: an abstract socket has no file mode or group; "+
			"any process in the network namespace can connect, only Server.AllowUIDs decides who is served", path)
	}
	ln, err := listenUnix(path, cfg.mode)
	if err != nil && !abstract && errors.Is(err, unix.EADDRINUSE) {
		if err = removeStale(path, err); err == nil {
			ln, err = listenUnix(path, cfg.mode)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("agent: listen on %q: %w", path, err)
	}
	if abstract {
		return ln, nil
	}
	if cfg.afterBind != nil {
		cfg.afterBind()
	}
	// The file exists with at most mode&0600. Give it its group, then its
	// mode: a wider mode only ever applies to the group asked for. Both
	// act on the socket file found at path, never on what a symbolic link
	// put there in the meantime points to.
	f, err := openSocketFile(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("agent: listen on %q: %w", path, err)
	}
	defer unix.Close(f)
	if cfg.gidSet {
		if err := unix.Fchownat(f, "", -1, cfg.gid, unix.AT_EMPTY_PATH); err != nil {
			ln.Close()
			return nil, fmt.Errorf("agent: listen on %q: socket group: %w", path, err)
		}
	}
	if err := chmodFD(f, cfg.mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("agent: listen on %q: socket mode: %w", path, err)
	}
	return ln, nil
}

// openSocketFile opens the socket file at path with O_PATH, without
// following a symbolic link, and checks that it is a socket.
func openSocketFile(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket file: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("socket file: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		unix.Close(fd)
		return -1, fmt.Errorf("socket file: replaced by a file of mode %#o after bind", st.Mode)
	}
	return fd, nil
}

// chmodFD sets the mode of the file an O_PATH descriptor names:
// fchmodat2(AT_EMPTY_PATH) where the kernel has it (Linux 6.6), else
// through its /proc/self/fd link (fchmod refuses O_PATH descriptors).
func chmodFD(fd int, mode os.FileMode) error {
	err := unix.Fchmodat(fd, "", uint32(mode), unix.AT_EMPTY_PATH)
	if err != unix.EOPNOTSUPP && err != unix.EINVAL && err != unix.ENOSYS {
		return err
	}
	return unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), uint32(mode))
}

// listenUnix binds and listens on path, with the socket's inode mode set to
// mode&0600 before bind, so that the file bind creates has at most that
// mode (Linux creates a socket file with the socket inode's mode less the
// umask).
func listenUnix(path string, mode os.FileMode) (*net.UnixListener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.Fchmod(int(fd), uint32(mode&0o600))
		}); cerr != nil {
			return cerr
		}
		if err != nil {
			return fmt.Errorf("fchmod socket before bind: %w", err)
		}
		return nil
	}}
	l, err := lc.Listen(context.Background(), "unix", path)
	if err != nil {
		return nil, err
	}
	return l.(*net.UnixListener), nil
}

// removeStale removes the socket file at path if nobody accepts on it.
// inUse is the error the first bind gave.
func removeStale(path string, inUse error) error {
	fi, serr := os.Lstat(path)
	if serr != nil || fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%w (and it is not a socket: not removed)", inUse)
	}
	c, derr := net.Dial("unix", path)
	if derr == nil {
		c.Close()
		return fmt.Errorf("another process listens there: %w", inUse)
	}
	if !errors.Is(derr, unix.ECONNREFUSED) {
		return inUse
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}
