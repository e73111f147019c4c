package seccompstream

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/unotify"
)

// listeners records the listener fds of the open Streams of this process.
// It mirrors the process's own fd table, which is why it is per process:
// New refuses an fd number that an open Stream owns (closing it would
// break that Stream), and Streams whose fds are dups of one another (one
// open file description, one listener) share a listenerFile, so that no
// two receivers of this process race for one notification.
var listeners struct {
	mu    sync.Mutex
	byFD  map[int]*Stream
	files []*listenerFile // sorted by the kcmp order of their files
	// noKcmp: kcmp(2) is unavailable (CONFIG_KCMP off, or forbidden), so
	// dups are not recognised; each Stream then has its own listenerFile.
	noKcmp bool
}

// A listenerFile is what the open Streams over one open file description
// of a listener share: the lock a receiver holds from the poll that saw a
// notification to the RECV that takes it. Without it, a receiver of another
// Stream could take the notification in between, and the RECV, which the
// kernel lets block whatever the fd's flags, would wait for the next one,
// deaf to its context and to Close.
type listenerFile struct {
	fds []int // the fds of its Streams; fds[0] stands for the file in kcmp

	// recvMu is held around RECV. shared says there is, or was, more than
	// one Stream: the receiver then polls again under recvMu before its
	// RECV. A Stream's New sets it before the Stream's first receive, which
	// takes recvMu, so a receiver that could have been overtaken sees it.
	recvMu sync.Mutex
	shared atomic.Bool
}

// register adds s, whose fd has passed every check, to the registry. The
// caller holds listeners.mu.
func register(s *Stream) {
	if listeners.byFD == nil {
		listeners.byFD = make(map[int]*Stream)
	}
	listeners.byFD[s.fd] = s
	lf := s.lf
	lf.fds = append(lf.fds, s.fd)
	if len(lf.fds) == 1 {
		if i, ok := findFile(s.fd); !ok {
			listeners.files = slices.Insert(listeners.files, i, lf)
		}
		return
	}
	lf.shared.Store(true)
}

// lookupFile returns the listenerFile for fd: that of an open Stream over
// the same file, or a new one. The caller holds listeners.mu.
func lookupFile(fd int) *listenerFile {
	if i, ok := findFile(fd); ok {
		return listeners.files[i]
	}
	return new(listenerFile)
}

// findFile finds fd's file among listeners.files by binary search in kcmp
// order: its index and true, or where to insert it and false.
func findFile(fd int) (int, bool) {
	if listeners.noKcmp {
		return len(listeners.files), false
	}
	lo, hi := 0, len(listeners.files)
	for lo < hi {
		m := (lo + hi) / 2
		c, err := unotify.CompareFiles(fd, listeners.files[m].fds[0])
		if err != nil {
			// ENOSYS, EPERM: no kcmp here. Stop using it; the files
			// found so far stay as they are.
			listeners.noKcmp = true
			return len(listeners.files), false
		}
		switch c {
		case 0:
			return m, true
		case 1:
			hi = m
		default:
			lo = m + 1
		}
	}
	return lo, false
}

// unregister removes s from the registry once its fd is closed. The caller
// holds listeners.mu.
func unregister(s *Stream) {
	delete(listeners.byFD, s.fd)
	lf := s.lf
	i := slices.Index(lf.fds, s.fd)
	if i < 0 {
		return
	}
	if len(lf.fds) == 1 {
		if j := slices.Index(listeners.files, lf); j >= 0 {
			listeners.files = slices.Delete(listeners.files, j, j+1)
		}
		lf.fds = nil
		return
	}
	// Another open fd of the file stands for it from now on: its kcmp
	// order is the file's, so the slice stays sorted.
	lf.fds = slices.Delete(lf.fds, i, i+1)
}

// errOwned reports an fd that an open Stream owns.
func errOwned(fd int) error {
	return fmt.Errorf("seccompstream: fd %d already belongs to an open Stream: %w", fd, unix.EBUSY)
}
