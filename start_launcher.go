package seccompstream

import (
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/launcher"
)

// launcherConn is the parent's end of the socket to a launcher, in the
// runtime poller so that waiting on it holds no thread and Close wakes it.
// The messages are internal/launcher's.
type launcherConn struct {
	file      *os.File
	rc        syscall.RawConn
	closeOnce sync.Once
}

type launcherEvent struct {
	fd  int   // the listener, with err == nil
	err error // io.EOF: the launcher closed its end (exec or death)
}

func newLauncherConn(fd int) (*launcherConn, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, startError("launcher socket", err)
	}
	f := os.NewFile(uintptr(fd), "seccompstream-launcher")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, startError("launcher socket", err)
	}
	return &launcherConn{file: f, rc: rc}, nil
}

func (c *launcherConn) close() { c.closeOnce.Do(func() { c.file.Close() }) }

func (c *launcherConn) send(b []byte) error {
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		_, werr = unix.Write(int(fd), b)
		return werr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return werr
}

// recv returns the launcher's next message.
func (c *launcherConn) recv() launcherEvent {
	var (
		buf  [launcher.MaxMessage]byte
		oob  = make([]byte, unix.CmsgSpace(4))
		n    int
		oobn int
		rerr error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf[:], oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return launcherEvent{fd: -1, err: err}
	}
	if n == 0 {
		return launcherEvent{fd: -1, err: io.EOF}
	}
	var fds []int
	if oobn > 0 {
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if got, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	if buf[0] == launcher.MsgListener && len(fds) == 1 {
		return launcherEvent{fd: fds[0]}
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	if buf[0] == launcher.MsgError {
		return launcherEvent{fd: -1, err: launcher.DecodeError(buf[:n])}
	}
	return launcherEvent{fd: -1, err: fmt.Errorf("unexpected message from the launcher (%d bytes, %d fds)", n, len(fds))}
}
