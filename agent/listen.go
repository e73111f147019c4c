package agent

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Listen listens on the unix socket path for runtime connections, the path
// a container's config.json names in linux.seccomp.listenerPath. A path
// that starts with "@" is a name in the abstract namespace (no file; the
// runtime must be in the same network namespace; runc 1.1 accepts such
// names in listenerPath, crun 1.8 does not). A socket file left behind
// by an agent that is gone (nobody accepts on it) is replaced; a file that
// is not a socket, or a socket somebody still listens on, is an error.
// Closing the listener removes the socket file.
func Listen(path string) (*net.UnixListener, error) {
	if path == "" || path == "@" {
		return nil, fmt.Errorf("agent: listen: empty socket path %q", path)
	}
	addr := &net.UnixAddr{Name: path, Net: "unix"}
	ln, err := net.ListenUnix("unix", addr)
	if err == nil || path[0] == '@' || !errors.Is(err, unix.EADDRINUSE) {
		if err != nil {
			return nil, fmt.Errorf("agent: listen on %q: %w", path, err)
		}
		return ln, nil
	}
	fi, serr := os.Lstat(path)
	if serr != nil || fi.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("agent: listen on %q: %w (and it is not a socket: not removed)", path, err)
	}
	c, derr := net.Dial("unix", path)
	if derr == nil {
		c.Close()
		return nil, fmt.Errorf("agent: listen on %q: another process listens there: %w", path, err)
	}
	if !errors.Is(derr, unix.ECONNREFUSED) {
		return nil, fmt.Errorf("agent: listen on %q: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return nil, fmt.Errorf("agent: remove stale socket: %w", err)
	}
	ln, err = net.ListenUnix("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("agent: listen on %q: %w", path, err)
	}
	return ln, nil
}
