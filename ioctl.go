package seccompstream

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// request names one of the listener's ioctls.
type request uint8

const (
	reqRecv request = iota
	reqSend
	reqIDValid
	reqAddFD
	reqSetFlags
)

var requestNames = [...]string{
	reqRecv:     "SECCOMP_IOCTL_NOTIF_RECV",
	reqSend:     "SECCOMP_IOCTL_NOTIF_SEND",
	reqIDValid:  "SECCOMP_IOCTL_NOTIF_ID_VALID",
	reqAddFD:    "SECCOMP_IOCTL_NOTIF_ADDFD",
	reqSetFlags: "SECCOMP_IOCTL_NOTIF_SET_FLAGS",
}

func (q request) String() string { return requestNames[q] }

// ioctl is the one path of every ioctl on the listener: it refuses after
// Close (errClosed), holds mu for reading so that Close cannot close the fd
// while f uses it, retries f while a signal interrupts it (EINTR), and maps
// the expected errnos to the package's errors without allocating:
//
//   - ENOENT: ErrGone (for RECV: the notification was withdrawn before it
//     could be received; the receiver skips it);
//   - ESRCH from ADDFD: ErrGone (the target was interrupted before it took
//     the file);
//   - EINPROGRESS from SEND and ADDFD: ErrAlreadyAnswered.
//
// Any other errno is returned as it is, a unix.Errno, for the caller to
// wrap once with wrap (or, for ADDFD, with an explanation in terms of its
// inputs, see addFDError).
//
// f must not block unless something is sure to wake it: Close waits for
// it (the receiver only issues RECV after poll(2) saw a notification).
func (s *Stream) ioctl(q request, f func(fd int) (int, error)) (int, error) {
	s.mu.RLock()
	if s.closed.Load() {
		s.mu.RUnlock()
		return -1, errClosed
	}
	r, err := s.do(q, f)
	s.mu.RUnlock()
	return r, err
}

// do is ioctl without the lock and the closed check, for the receiver:
// it holds the turn, and Close takes the turn before it closes fd.
func (s *Stream) do(q request, f func(fd int) (int, error)) (int, error) {
	var r int
	var err error
	for {
		r, err = f(s.fd)
		if err != unix.EINTR {
			break
		}
	}
	switch err {
	case nil:
		return r, nil
	case unix.ENOENT:
		return -1, ErrGone
	case unix.ESRCH:
		if q == reqAddFD {
			return -1, ErrGone
		}
	case unix.EINPROGRESS:
		if q == reqSend || q == reqAddFD {
			return -1, ErrAlreadyAnswered
		}
	}
	return -1, err
}

// wrap turns an error from ioctl into the error a caller returns: the
// package's errors as they are, an errno wrapped once with the request's
// name.
func (q request) wrap(err error) error {
	if _, ok := err.(unix.Errno); ok {
		return fmt.Errorf("seccompstream: ioctl(%s): %w", q, err)
	}
	return err
}
