package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// message is what one runtime connection delivered.
type message struct {
	data []byte
	fds  []int // from the first message that carried any, in order
}

// closeFDs closes every descriptor in fds.
func closeFDs(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// readMessage reads conn to EOF, or until the bytes read form a whole JSON
// object: the JSON text, possibly split over several messages, and the
// SCM_RIGHTS descriptors. Descriptors that arrive after
// the first batch are closed, and make the message invalid (the protocol
// sends them only with the first part). On error every received descriptor
// is closed. The descriptors are close-on-exec (net sets MSG_CMSG_CLOEXEC).
//
// The caller sets conn's read deadline.
func readMessage(conn *net.UnixConn, maxBytes, maxFDs int) (_ *message, err error) {
	var (
		m       message
		extra   int  // descriptors beyond the first batch (closed at once)
		trunc   bool // control data was cut: the kernel dropped descriptors
		batches int
	)
	defer func() {
		if err != nil {
			closeFDs(m.fds)
		}
	}()
	// No buffer until the runtime has sent something: idle connections
	// cost a goroutine and a descriptor, not 64 KiB each.
	if err := waitReadable(conn); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("%w: nothing sent by the deadline", ErrStalled)
		}
		return nil, fmt.Errorf("agent: read from runtime: %w", err)
	}
	buf := make([]byte, min(maxBytes+1, 64<<10))
	oob := make([]byte, unix.CmsgSpace(4*maxFDs))
	for {
		n, oobn, flags, _, rerr := conn.ReadMsgUnix(buf, oob)
		n, oobn = max(n, 0), max(oobn, 0) // -1 with some errors
		if oobn > 0 {
			fds, perr := parseRights(oob[:oobn])
			if len(fds) > 0 {
				batches++
				if batches == 1 && len(m.data) == 0 {
					m.fds = fds
				} else {
					extra += len(fds)
					closeFDs(fds)
				}
			}
			if perr != nil && rerr == nil {
				rerr = perr
			}
		}
		if flags&unix.MSG_CTRUNC != 0 {
			trunc = true
		}
		if len(m.data)+n > maxBytes {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrMessageTooLarge, maxBytes)
		}
		m.data = append(m.data, buf[:n]...)
		if rerr != nil {
			if errors.Is(rerr, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("%w: no end of message after %d bytes by the deadline", ErrStalled, len(m.data))
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			return nil, fmt.Errorf("agent: read from runtime: %w", rerr)
		}
		if n == 0 && oobn == 0 {
			break // EOF
		}
		if n > 0 && complete(m.data) {
			// runc 1.1 keeps its end open until it exits: a whole JSON
			// object is the end of the message.
			break
		}
	}
	if trunc {
		return nil, fmt.Errorf("%w: more than %d file descriptors", ErrMessageTooLarge, maxFDs)
	}
	if extra > 0 {
		return nil, fmt.Errorf("%w: %d file descriptors arrived after the first part of the message", ErrFDMismatch, extra)
	}
	return &m, nil
}

// waitReadable waits until conn has data, a hang-up or an error to read,
// or its read deadline passes.
func waitReadable(conn *net.UnixConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var b [1]byte
	return rc.Read(func(fd uintptr) bool {
		for {
			_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			if err != unix.EINTR {
				return err != unix.EAGAIN
			}
		}
	})
}

// parseRights returns the descriptors in SCM_RIGHTS control messages. It
// returns every descriptor it could parse, also with an error.
func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("agent: parse control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		// Whole descriptors only: x/sys's ParseUnixRights panics on a
		// partial one. The kernel builds SCM_RIGHTS messages itself and
		// never sends one, but the parser must not trust its input
		// (found by FuzzParseRights).
		msgs[i].Data = msgs[i].Data[:len(msgs[i].Data)&^3]
		r, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		fds = append(fds, r...)
	}
	return fds, nil
}

// complete reports whether data holds one whole JSON object, possibly
// followed by white space. The costly check runs only when data ends with
// the closing brace.
func complete(data []byte) bool {
	t := bytes.TrimRight(data, " \t\r\n")
	if len(t) == 0 || t[len(t)-1] != '}' {
		return false
	}
	return json.Valid(t)
}
