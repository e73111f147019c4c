package seccompstream

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/kernel"
)

// pidfdThread is PIDFD_THREAD (Linux 6.9): a pidfd for one thread rather
// than a thread group. It has the value of O_EXCL.
const pidfdThread = unix.O_EXCL

// OpenPidfd returns a pidfd (pidfd_open(2), Linux 5.3) for the target's
// process. A pidfd pins the process: it keeps naming that process after it
// exits, even if its pid is reused, so signals sent through it
// (unix.PidfdSendSignal) and descriptors taken through it (GetFD) reach the
// target or nothing. The notification is checked after opening, so the
// pidfd names the target and not a process that reused its thread id. The
// caller closes the file.
//
// Where the kernel has PIDFD_THREAD (6.9) and the target thread is not its
// process's main thread, the pidfd names the thread; otherwise the thread
// group, found through /proc/<tid>/status. Before Linux 5.3 OpenPidfd fails
// with an error matching ErrNotSupported: there is no way to pin a process
// there, and callers fall back to the thread id and ID_VALID checks.
func (n *Notification) OpenPidfd() (*os.File, error) {
	m, err := n.memory()
	if err != nil {
		return nil, err
	}
	fd, err := m.openPidfd()
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "pidfd:"+strconv.Itoa(m.tid)), nil
}

func (m *Memory) openPidfd() (int, error) {
	fd, err := pidfdOpen(m.tid, 0)
	if err == unix.EINVAL || err == unix.ENOENT {
		// Not a thread-group leader (EINVAL; ENOENT on recent kernels): a
		// thread pidfd (6.9), or else one for the leader.
		fd, err = pidfdOpen(m.tid, pidfdThread)
		if err == unix.EINVAL || err == unix.ENOENT {
			var tgid int
			tgid, err = threadGroup(m.tid)
			if err == nil {
				fd, err = pidfdOpen(tgid, 0)
			}
		}
	}
	if err != nil {
		if verr := m.s.idValid(m.id); verr != nil {
			return -1, verr
		}
		if err == unix.ENOSYS {
			return -1, fmt.Errorf("seccompstream: OpenPidfd: %w", &kernel.UnsupportedFeatureError{Name: "pidfd_open", MinimumVersion: "5.3"})
		}
		return -1, fmt.Errorf("seccompstream: pidfd_open(%d): %w", m.tid, err)
	}
	if err := m.s.idValid(m.id); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func pidfdOpen(pid, flags int) (int, error) {
	for {
		fd, err := unix.PidfdOpen(pid, flags)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// threadGroup returns the thread group id of thread tid.
func threadGroup(tid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, unix.ESRCH
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("Tgid:")); ok {
			return strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	return 0, unix.ESRCH
}

// GetFD returns a duplicate of the target's file descriptor fd, as the
// target has it open now (pidfd_getfd(2), Linux 5.6): the same open file,
// sharing offset and status flags, close-on-exec in the supervisor. Use it
// to act on the object a call names by descriptor, such as the socket of a
// connect or bind (net.FileConn turns it into a net.Conn). The target is
// pinned with a pidfd and checked with ID_VALID after the pidfd was opened
// and again after the duplicate was taken; on ErrGone no file is returned.
//
// Errors: one matching unix.EBADF when fd is not open in the target; one
// matching ErrNotSupported before Linux 5.6; ErrGone when the notification
// is no longer pending. The caller closes the file.
func (n *Notification) GetFD(fd int) (*os.File, error) {
	m, err := n.memory()
	if err != nil {
		return nil, err
	}
	if fd < 0 {
		return nil, fmt.Errorf("seccompstream: GetFD: fd %d of target %d: %w", fd, m.tid, unix.EBADF)
	}
	pidfd, err := m.openPidfd()
	if err != nil {
		return nil, err
	}
	defer unix.Close(pidfd)
	var dup int
	for {
		dup, err = unix.PidfdGetfd(pidfd, fd, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if verr := m.s.idValid(m.id); verr != nil {
			return nil, verr
		}
		switch err {
		case unix.ENOSYS:
			return nil, fmt.Errorf("seccompstream: GetFD: %w", &kernel.UnsupportedFeatureError{Name: "pidfd_getfd", MinimumVersion: "5.6"})
		case unix.EBADF:
			return nil, fmt.Errorf("seccompstream: GetFD: fd %d is not open in target %d: %w", fd, m.tid, err)
		case unix.ESRCH:
			return nil, ErrGone
		}
		return nil, fmt.Errorf("seccompstream: pidfd_getfd(target %d, fd %d): %w", m.tid, fd, err)
	}
	if err := m.s.idValid(m.id); err != nil {
		unix.Close(dup)
		return nil, err
	}
	return os.NewFile(uintptr(dup), "target-fd:"+strconv.Itoa(fd)), nil
}
