package seccompstream

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/kernel"
	"github.com/seccompstream/seccompstream/internal/procstatus"
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

// openPidfd opens a pidfd for the target and validates the notification
// afterwards.
func (m *Memory) openPidfd() (int, error) {
	fd, _, err := openPidfd(m.tid, -1)
	if err != nil {
		if verr := m.s.idValid(m.id); verr != nil {
			return -1, verr
		}
		return -1, err
	}
	if err := m.s.idValid(m.id); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// openPidfd opens a pidfd for thread tid, not validated: one for the thread
// itself where the kernel can (tid leads its thread group, or PIDFD_THREAD,
// Linux 6.9), with thread true; else one for its thread-group leader. The
// leader is found through the thread's status file, read through procDir
// (an open /proc/<tid>) when it is not negative.
func openPidfd(tid, procDir int) (fd int, thread bool, err error) {
	fd, err = pidfdOpen(tid, 0)
	if err == nil {
		return fd, true, nil
	}
	if err == unix.EINVAL || err == unix.ENOENT {
		// Not a thread-group leader (EINVAL; ENOENT on recent kernels): a
		// thread pidfd (6.9), or else one for the leader.
		fd, err = pidfdOpen(tid, pidfdThread)
		if err == nil {
			return fd, true, nil
		}
		if err == unix.EINVAL || err == unix.ENOENT {
			var tgid int
			tgid, err = threadGroup(tid, procDir)
			if err == nil {
				fd, err = pidfdOpen(tgid, 0)
			}
		}
	}
	if err != nil {
		if err == unix.ENOSYS {
			return -1, false, fmt.Errorf("seccompstream: pidfd_open: %w", &kernel.UnsupportedFeatureError{Name: "pidfd_open", MinimumVersion: "5.3"})
		}
		return -1, false, fmt.Errorf("seccompstream: pidfd_open(%d): %w", tid, err)
	}
	return fd, false, nil
}

func pidfdOpen(pid, flags int) (int, error) {
	for {
		fd, err := unix.PidfdOpen(pid, flags)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// threadGroup returns the thread group id of thread tid, from its status
// file (read through procDir when it is not negative).
func threadGroup(tid, procDir int) (int, error) {
	b, err := readProc(procDir, tid, "status")
	if err != nil {
		return 0, unix.ESRCH
	}
	if n, ok := procstatus.Int(b, "Tgid"); ok {
		return n, nil
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
// (*Target).GetFD does the same with the Target's pidfd.
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
		return nil, badTargetFD(fd, m.tid)
	}
	pidfd, err := m.openPidfd()
	if err != nil {
		return nil, err
	}
	defer unix.Close(pidfd)
	return getFD(pidfd, fd, m.tid, func() error { return m.s.idValid(m.id) })
}

func badTargetFD(fd, tid int) error {
	return fmt.Errorf("seccompstream: GetFD: fd %d of target %d: %w", fd, tid, unix.EBADF)
}

// getFD duplicates fd of the process pidfd names (thread tid, for
// messages) and calls valid afterwards: on failure no file is returned.
func getFD(pidfd, fd, tid int, valid func() error) (*os.File, error) {
	var dup int
	var err error
	for {
		dup, err = unix.PidfdGetfd(pidfd, fd, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if verr := valid(); verr != nil {
			return nil, verr
		}
		switch err {
		case unix.ENOSYS:
			return nil, fmt.Errorf("seccompstream: GetFD: %w", &kernel.UnsupportedFeatureError{Name: "pidfd_getfd", MinimumVersion: "5.6"})
		case unix.EBADF:
			return nil, fmt.Errorf("seccompstream: GetFD: fd %d is not open in target %d: %w", fd, tid, err)
		case unix.ESRCH:
			return nil, ErrGone
		}
		return nil, fmt.Errorf("seccompstream: pidfd_getfd(target %d, fd %d): %w", tid, fd, err)
	}
	if err := valid(); err != nil {
		unix.Close(dup)
		return nil, err
	}
	return os.NewFile(uintptr(dup), "target-fd:"+strconv.Itoa(fd)), nil
}
