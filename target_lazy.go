package seccompstream

import (
	"errors"
	"fmt"
	"path"

	"golang.org/x/sys/unix"
)

// What a Target opens on first use, and what it remembers for the rest of
// its call.
//
// A Target serves one call of a thread stopped in it, and most calls need
// little of it: an emulated open of an absolute path needs the root, not
// the working directory nor a pidfd. Those are opened by the first method
// that needs them, through the pinned /proc/<tid> (which reaches that
// thread or fails, never a process that reused its id) or, for the pidfd,
// by thread id; each is followed by ID_VALID, as the pin itself is, so the
// call was still pending when it was read.

// cwdFD returns the target's working directory (O_PATH), opening it the
// first time.
func (t *Target) cwdFD() (int, error) {
	t.lazyMu.Lock()
	defer t.lazyMu.Unlock()
	if t.cwd >= 0 {
		return t.cwd, nil
	}
	if t.procDir < 0 {
		return -1, errTargetClosed
	}
	fd, err := openRetry(t.procDir, "cwd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		if verr := t.valid(); verr != nil {
			return -1, verr
		}
		return -1, fmt.Errorf("open /proc/%d/cwd: %w", t.tid, err)
	}
	if err := t.valid(); err != nil {
		unix.Close(fd)
		return -1, err
	}
	t.cwd = fd
	return fd, nil
}

// pidfdFD returns the Target's pidfd and whether it names the thread
// itself (see Target), opening it the first time. Before Linux 5.3 the
// error matches ErrNotSupported.
func (t *Target) pidfdFD() (fd int, thread bool, err error) {
	t.lazyMu.Lock()
	defer t.lazyMu.Unlock()
	if t.pidfdOpened {
		return t.pidfd, t.pidfdThread, t.pidfdErr
	}
	if t.procDir < 0 {
		return -1, false, errTargetClosed
	}
	fd, thread, err = openPidfd(t.tid, t.procDir)
	if err != nil {
		if verr := t.valid(); verr != nil {
			return -1, false, verr
		}
		if !errors.Is(err, ErrNotSupported) {
			return -1, false, err
		}
		t.pidfdOpened, t.pidfdErr = true, err
		return -1, false, err
	}
	// The pidfd was opened by thread id: it names the target only if the
	// call is still pending now.
	if err := t.valid(); err != nil {
		unix.Close(fd)
		return -1, false, err
	}
	t.pidfd, t.pidfdThread, t.pidfdOpened = fd, thread, true
	return fd, thread, nil
}

// rootDirPath returns the path of the target's root in the supervisor's
// view, read the first time. It can be out of date after a rename of one
// of the root's ancestors; its users check what it leads to.
func (t *Target) rootDirPath() (string, error) {
	t.lazyMu.Lock()
	defer t.lazyMu.Unlock()
	if t.rootPath != "" {
		return t.rootPath, nil
	}
	p, err := t.fdPath(t.root)
	if err != nil {
		return "", err
	}
	t.rootPath = p
	return p, nil
}

// dirHint is where a directory that a Target opened for an absolute path
// is, as the path says: fd is the descriptor handed out, loc the path
// cleaned (".." taken textually). It is only a guess (a symbolic link on
// the way makes it wrong, and fd may be closed and its number reused), so
// PathInRoot uses it only when it leads, from the root and without any
// symbolic link, to the very directory fd holds on the very mount.
type dirHint struct {
	fd  int
	loc string
}

// setHint records loc as the guessed location of the directory fd, when
// path (what was opened) is absolute.
func (t *Target) setHint(fd int, p string) {
	if fd < 0 || p == "" || p[0] != '/' {
		return
	}
	t.hintMu.Lock()
	t.hint = dirHint{fd: fd, loc: path.Clean(p)}
	t.hintMu.Unlock()
}

// hintFor returns the guessed location of fd, or "".
func (t *Target) hintFor(fd int) string {
	t.hintMu.Lock()
	defer t.hintMu.Unlock()
	if t.hint.fd != fd {
		return ""
	}
	return t.hint.loc
}

// hintLeadsTo reports whether loc, an absolute path, names the directory
// fd from the target's root: looked up with RESOLVE_IN_ROOT and
// RESOLVE_NO_SYMLINKS, it leads to a directory of the same mount, device
// and inode. A directory has one name per mount, so loc is then its path,
// as PathInRoot's reading of /proc/self/fd would have given it.
func (t *Target) hintLeadsTo(fd int, loc string) bool {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: resolveRoot | unix.RESOLVE_NO_SYMLINKS}
	found, err := openat2(t.root, loc, &how)
	if err != nil {
		return false
	}
	defer unix.Close(found)
	const mask = unix.STATX_TYPE | unix.STATX_INO | unix.STATX_MNT_ID
	var a, b unix.Statx_t
	if unix.Statx(found, "", unix.AT_EMPTY_PATH, mask, &a) != nil || unix.Statx(fd, "", unix.AT_EMPTY_PATH, mask, &b) != nil {
		return false
	}
	return a.Mask&b.Mask&mask == mask && b.Mode&unix.S_IFMT == unix.S_IFDIR &&
		a.Mnt_id == b.Mnt_id && a.Ino == b.Ino && a.Dev_major == b.Dev_major && a.Dev_minor == b.Dev_minor
}

// actingThread is a thread running a function with a Target's
// credentials: the function of WithCreds, DoWithCreds or Do. umask says
// whether it has the target's umask too.
type actingThread struct {
	tid   int
	umask bool
}

// markActing marks the calling thread as holding t's credentials (and its
// umask, when umask is set) until the returned function is called. The
// caller's goroutine must be locked to its thread (runtime.LockOSThread)
// from before markActing until after the returned function ran.
//
// The mark is valid for as long as it stands because nothing else can
// change those credentials meanwhile: a thread's credentials are changed
// only by the thread itself (setfsuid, setgroups and capset act on the
// calling thread; no other thread, process or the target can change them),
// a thread locked to a goroutine runs no other goroutine, and the function
// running there must leave the credentials as it found them (WithCreds's
// rule; Do's function owns its throwaway thread, which no other goroutine
// ever runs). The target's own credentials cannot change while its call is
// pending either: it is stopped in that call, and a task changes only its
// own credentials. Only the thread id is compared: a tid is unique among
// the supervisor's live threads, and the mark is removed before the thread
// can exit or go back to the pool.
func (t *Target) markActing(umask bool) (done func()) {
	tid := unix.Gettid()
	t.actMu.Lock()
	t.acting = append(t.acting, actingThread{tid: tid, umask: umask})
	t.actMu.Unlock()
	return func() {
		t.actMu.Lock()
		defer t.actMu.Unlock()
		for i := len(t.acting) - 1; i >= 0; i-- {
			if t.acting[i].tid == tid {
				t.acting = append(t.acting[:i], t.acting[i+1:]...)
				return
			}
		}
	}
}

// isActing reports whether the calling thread is marked as holding t's
// credentials (see markActing), with the target's umask too when umask is
// set. The caller's goroutine must be locked to its thread. With no thread
// marked it makes no system call.
func (t *Target) isActing(umask bool) bool {
	t.actMu.Lock()
	defer t.actMu.Unlock()
	if len(t.acting) == 0 {
		return false
	}
	tid := unix.Gettid()
	for _, a := range t.acting {
		if a.tid == tid && (a.umask || !umask) {
			return true
		}
	}
	return false
}
