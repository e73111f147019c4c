package seccompstream

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/kernel"
	"github.com/seccompstream/seccompstream/internal/nsthread"
	"github.com/seccompstream/seccompstream/internal/procstatus"
)

// How Open works
//
// The file is found with openat2(2) on descriptors the Target pinned, never
// by a path through /proc/<pid>/root: an absolute path from the target's
// root with RESOLVE_IN_ROOT, a relative one from its working directory (or
// the directory its dirfd names) with RESOLVE_BENEATH. When a relative path
// leaves that directory ("..", an absolute symbolic link), it is resolved
// again from the root, prefixed with the directory's path in the root
// (checked to name the same directory): RESOLVE_IN_ROOT from a working
// directory would stop ".." there. RESOLVE_NO_MAGICLINKS everywhere: the
// /proc/<pid>/fd, root and cwd links of a process other than the target
// lead anywhere. Measured here, openat2 from the host with these flags saw
// the target's mounts (its mount namespace's, even ones added later) and
// escaped its root 0 times under a rename race.
//
// Existing files are found first with O_PATH, which runs no driver and
// does not block, then looked at: per-process /proc entries of the
// supervisor, device nodes other than the harmless ones, and FIFOs are
// handled (refused, or waited for) before the file is opened for real by
// reopening the O_PATH descriptor through /proc/self/fd (which checks
// permissions again, as the thread doing it). Creations (O_CREAT on a
// missing name, O_EXCL, O_TMPFILE) are one openat2 that can only make a
// new regular file.
//
// All of it runs with the target's credentials: on the calling thread when
// that already has them (the same fsuid, fsgid, groups, capabilities and,
// for creations, umask), else on a throwaway thread that takes them.

// ErrSupervisorView reports a file that Open or OpenParent will not open
// for a target because the supervisor would get it in its own view, not
// the target's: a per-process /proc entry of the supervisor itself
// (/proc/self and /proc/thread-self lead there, as do the /proc/mounts and
// /etc/mtab links; the kernel would give the supervisor its own memory and
// environment without the ptrace checks the target would meet), a /proc
// entry reached through a symbolic link or a bind mount that cannot be
// told apart from one, a file under /proc/sys or /proc/sysvipc that
// belongs to the namespaces of the thread looking it up (the network, IPC
// and user namespace entries: the supervisor's thread would get its own,
// such as the host's network settings and interfaces) when the opening
// thread is not in the target's namespaces of that kind (Open inside Do
// is, but for the user and pid namespaces), or a device node other than
// /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom, /dev/ptmx
// and the /dev/pts terminals (the kernel checks device access against the
// cgroup of the opener, which is the supervisor's; /dev/tty and
// /dev/console would be the supervisor's terminal and console). Answer
// such calls some other way: deny them, or leave them to the kernel when
// the policy allows the call whatever file it ends up naming. ErrSupervisorView matches unix.EACCES
// too, so Error(err) answers the target "permission denied".
var ErrSupervisorView error = &kernelError{msg: "seccompstream: refusing to open a file in the supervisor's view for the target (its own /proc entries, its namespaces' /proc/sys, its device cgroup, its terminal)", errno: unix.EACCES}

// ErrNoFinalName reports a path given to OpenParent that does not end in a
// name: "/", or a final component "." or "..". The kernel refuses such a
// path for each call that creates or removes a name, with an errno that
// depends on the call (mkdir, mknod, link and symlink: EEXIST; unlink:
// EISDIR; rmdir: EINVAL for ".", ENOTEMPTY for "..", EBUSY for "/";
// rename: EBUSY). Calls that act on the file itself (chmod, stat) take such
// paths: resolve them with Open and O_PATH instead.
var ErrNoFinalName = errors.New("seccompstream: path has no final name (it is \"/\" or ends in \".\" or \"..\")")

// Flags open(2) accepts; others are ignored by open(2) and refused by
// openat2(2). O_LARGEFILE is 0 in x/sys on 64-bit platforms, where the
// kernel sets it anyway.
const (
	validOpenFlags = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC |
		unix.O_APPEND | unix.O_NONBLOCK | unix.O_DSYNC | unix.O_ASYNC | unix.O_DIRECT | unix.O_LARGEFILE |
		unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NOATIME | unix.O_CLOEXEC | unix.O_PATH |
		unix.O_TMPFILE | unix.O_SYNC
	// With O_PATH, open(2) keeps only these.
	pathOpenFlags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

	resolveRoot    = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS
	resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

	procRootIno = 1 // PROC_ROOT_INO
)

// Open opens path as the target thread would, and returns the file for the
// supervisor to use or to hand over with RespondFD (as the result of an
// emulated open or openat).
//
// dirfd and path are the call's arguments: dirfd is the target's own file
// descriptor (unix.AT_FDCWD: its working directory), and an absolute path
// starts from the target's root. Neither ".." nor symbolic links lead out
// of that root, and magic links (/proc/<pid>/fd/*, /proc/<pid>/root, ...)
// are refused with an error matching unix.ELOOP. The file is opened with
// the target's file-system uid and gid, supplementary groups and umask,
// and only with the capabilities the target holds in the supervisor's user
// namespace (see Target), on the calling thread when it already has those
// credentials and on a throwaway thread otherwise. Mount flags (nodev,
// noexec, ro) are the target's mounts'. The open file remembers who opened
// it, and a few files consult that later: ids that /proc files such as
// status and uid_map show are mapped into the supervisor's user namespace
// (for a target in a child user namespace, not its own), and checks of the
// real or effective uid see the supervisor's.
//
// flags and mode mean what they mean for open(2): bits open(2) ignores are
// ignored, mode only counts with O_CREAT or O_TMPFILE, O_PATH keeps only
// O_DIRECTORY and O_NOFOLLOW, and O_CREAT on an existing file meets the
// checks open(2) makes (EISDIR, fs.protected_regular and
// fs.protected_fifos in sticky directories, fs.protected_symlinks for a
// dangling link it follows). The supervisor's file is always close-on-exec
// and never becomes its controlling terminal, whatever flags say: pass
// CloseOnExec to RespondFD when flags has O_CLOEXEC, so the target's
// descriptor gets it. Opening a FIFO without O_NONBLOCK waits for the other
// end, as open(2) does, and gives up with ErrGone once the notification is
// withdrawn. Other waits are the file system's (a FUSE server, NFS).
//
// Open joins no namespace and makes no thread when the caller already has
// the target's credentials (a root target of a root supervisor, or a call
// from inside Do or DoWithCreds): it works through the Target's root and
// working directory descriptors, whose paths cross the target's mounts.
//
// Open refuses, with ErrSupervisorView, what the supervisor would open in
// its own view instead of the target's. It resolves a relative path that
// leaves its directory from the root, which needs search permission on the
// directory's ancestors where the kernel would not; it reports EXDEV when
// that directory is outside the target's root.
//
// Errors match the errno the kernel would return (Error(err) answers the
// target with it): ENOENT, EACCES, ELOOP, ENOTDIR, EEXIST, EBADF for a
// dirfd the target has not open. ErrGone when the notification is no
// longer pending (checked after the open: on ErrGone no file is returned);
// ErrNotSupported before Linux 5.6 (openat2). The caller closes the file.
func (t *Target) Open(dirfd int, path string, flags int, mode uint32) (*os.File, error) {
	if err := t.acquire(); err != nil {
		return nil, err
	}
	defer t.release()
	fd, err := t.open(dirfd, path, flags, mode)
	if fd, err = t.opened("Open", path, fd, err); err != nil {
		return nil, err
	}
	t.setHint(fd, path)
	return os.NewFile(uintptr(fd), path), nil
}

// opened finishes an open for the call op: it checks the notification
// after the open, preferring ErrGone to the open's own error (a failure in
// the view of a target that is gone says nothing), and closes fd on
// ErrGone.
func (t *Target) opened(op, path string, fd int, err error) (int, error) {
	if err != nil {
		if verr := t.valid(); verr != nil {
			return -1, verr
		}
		return -1, fmt.Errorf("seccompstream: %s(%q) as target %d: %w", op, path, t.tid, err)
	}
	if err := t.valid(); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// Parent is the directory that holds the final name of a path, opened in a
// target's view by (*Target).OpenParent.
type Parent struct {
	// Dir is the directory, opened O_PATH|O_DIRECTORY: use it as the dirfd
	// of mkdirat, unlinkat, renameat2, linkat, symlinkat, mknodat,
	// fchownat and other calls given Name.
	Dir *os.File
	// Name is the final component of the path: never empty, ".", ".." or
	// holding a "/".
	Name string
	// TrailingSlash reports that the path ended in "/": the kernel then
	// requires the name to be a directory (or, for mkdir, to become one),
	// and most calls fail with ENOTDIR on anything else.
	TrailingSlash bool
}

// Close closes Dir.
func (p *Parent) Close() error { return p.Dir.Close() }

// OpenParent resolves path as Open does, except for its final name: it
// opens the directory that holds that name, as the target (its
// credentials, root and mounts; search permission is checked on the way),
// and returns it with the name. It is the safe start of calls that create,
// remove or rename names: done on Dir with Name, they act inside the
// target's root.
//
// Use Name only with calls that do not follow a final symbolic link, or
// with AT_SYMLINK_NOFOLLOW: a call that follows one would resolve it from
// the supervisor's root, outside the target's. For calls that act on the
// file a path names (stat, chmod, chown without AT_SYMLINK_NOFOLLOW,
// truncate), open the path with Open and O_PATH and use the descriptor.
// Do the call itself with the target's credentials: DoWithCreds, with
// OpenParent called inside it, opens and acts on one thread.
//
// OpenParent joins no namespace, as Open.
//
// A path that has no final name ("/", or ending in "." or "..") fails with
// ErrNoFinalName; other errors are Open's. The caller closes the Parent.
func (t *Target) OpenParent(dirfd int, path string) (*Parent, error) {
	if err := t.acquire(); err != nil {
		return nil, err
	}
	defer t.release()
	dir, name, slash, err := splitParent(path)
	if err != nil {
		return nil, fmt.Errorf("seccompstream: OpenParent(%q) as target %d: %w", path, t.tid, err)
	}
	fd, err := t.open(dirfd, dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if fd, err = t.opened("OpenParent", path, fd, err); err != nil {
		return nil, err
	}
	t.setHint(fd, dir)
	return &Parent{Dir: os.NewFile(uintptr(fd), dir), Name: name, TrailingSlash: slash}, nil
}

// OpenBeneath opens path relative to dir as Open opens a path of the
// target (its credentials and mounts, no magic links, the same refusals of
// the supervisor's view), except that path may not leave dir: an absolute
// path, ".." above dir or a symbolic link leading out of it fails with an
// error matching unix.EXDEV (RESOLVE_BENEATH). dir is a directory the
// supervisor holds that leads into this target's view: the Dir of a Parent
// from OpenParent, or a directory from Open.
//
// It is how an emulator opens exactly what it checked: resolve the path's
// directory with OpenParent, decide on it, then open Parent.Name in
// Parent.Dir with O_NOFOLLOW, so that neither a renamed directory nor a
// final symbolic link can change what the decision was about. Errors and
// the returned file are as for Open; the caller closes the file.
func (t *Target) OpenBeneath(dir *os.File, path string, flags int, mode uint32) (*os.File, error) {
	if err := t.acquire(); err != nil {
		return nil, err
	}
	defer t.release()
	fd, err := t.openBeneath(dir, path, flags, mode)
	if err != nil {
		if verr := t.valid(); verr != nil {
			return nil, verr
		}
		return nil, fmt.Errorf("seccompstream: OpenBeneath(%q) as target %d: %w", path, t.tid, err)
	}
	if err := t.valid(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

func (t *Target) openBeneath(dir *os.File, path string, flags int, mode uint32) (int, error) {
	switch {
	case dir == nil:
		return -1, unix.EBADF
	case path == "":
		return -1, unix.ENOENT
	case path[0] == '/':
		return -1, unix.EXDEV
	case len(path) >= PathMax:
		return -1, unix.ENAMETOOLONG
	case strings.IndexByte(path, 0) >= 0:
		return -1, unix.EINVAL
	}
	rc, err := dir.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	cerr := rc.Control(func(dfd uintptr) {
		fd, err = t.openBase(base{dir: int(dfd), beneath: true}, path, openHow(flags, mode))
	})
	if cerr != nil {
		return -1, cerr
	}
	return fd, err
}

// PathInRoot returns the path of f, a file that leads into the target's
// view (from Open, OpenParent, OpenBeneath or GetFD), from the target's
// root: absolute, clean and without symbolic links. The path is read from
// the supervisor's /proc/self/fd and confirmed by looking it up again from
// the target's root without following any symbolic link (RESOLVE_IN_ROOT,
// RESOLVE_NO_SYMLINKS) and finding f's very file there, so it named f when
// PathInRoot looked; a rename afterwards can change that, as for any path.
//
// Errors: one matching unix.EXDEV when f is not inside the target's root
// (a chroot the target left without chdir, another mount namespace), one
// matching unix.ENOENT when f has no path that leads to it (deleted,
// renamed meanwhile, a pipe or a socket), ErrGone when the notification is
// no longer pending.
func (t *Target) PathInRoot(f *os.File) (string, error) {
	if err := t.acquire(); err != nil {
		return "", err
	}
	defer t.release()
	rc, err := f.SyscallConn()
	if err != nil {
		return "", err
	}
	var path string
	var ok bool
	cerr := rc.Control(func(fd uintptr) {
		if loc := t.hintFor(int(fd)); loc != "" && t.hintLeadsTo(int(fd), loc) {
			path, ok = loc, true
			return
		}
		path, ok = t.inRoot(int(fd), true)
	})
	if cerr != nil {
		return "", cerr
	}
	if verr := t.valid(); verr != nil {
		return "", verr
	}
	if !ok {
		return "", fmt.Errorf("seccompstream: PathInRoot(%s) of target %d: %w", f.Name(), t.tid, t.notInRoot(path))
	}
	return path, nil
}

// notInRoot is PathInRoot's error for a file inRoot did not place.
func (t *Target) notInRoot(path string) error {
	if path == "" {
		return fmt.Errorf("no path from the target's root leads to the file: %w", unix.ENOENT)
	}
	return fmt.Errorf("%s is outside the target's root: %w", path, unix.EXDEV)
}

// Root returns the target's root directory (O_PATH), as it was when the
// Target was made: a copy of the descriptor the Target pinned. Its device
// and inode tell targets with different roots apart. The caller closes
// the file.
func (t *Target) Root() (*os.File, error) {
	if err := t.acquire(); err != nil {
		return nil, err
	}
	defer t.release()
	fd, err := unix.FcntlInt(uintptr(t.root), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("seccompstream: Root of target %d: %w", t.tid, err)
	}
	return os.NewFile(uintptr(fd), "/proc/"+strconv.Itoa(t.tid)+"/root"), nil
}

// splitParent splits path into the directory that holds its final name
// and that name.
func splitParent(path string) (dir, name string, trailingSlash bool, err error) {
	if path == "" {
		return "", "", false, unix.ENOENT
	}
	trimmed := strings.TrimRight(path, "/")
	if trimmed == "" {
		return "", "", false, ErrNoFinalName
	}
	trailingSlash = len(trimmed) < len(path)
	i := strings.LastIndexByte(trimmed, '/')
	name = trimmed[i+1:]
	switch {
	case i < 0:
		dir = "."
	case strings.TrimRight(trimmed[:i], "/") == "":
		dir = "/"
	default:
		dir = trimmed[:i]
	}
	if name == "." || name == ".." {
		return "", "", false, ErrNoFinalName
	}
	return dir, name, trailingSlash, nil
}

// base is where a path of the target starts from: its root for absolute
// paths, else dir (its working directory, or a copy of its dirfd).
type base struct {
	abs     bool
	dir     int
	own     bool // dir is ours to close
	isCwd   bool // dir is t.cwd
	beneath bool // path may not leave dir (OpenBeneath): no retry from the root
}

func (b *base) close() {
	if b.own {
		unix.Close(b.dir)
	}
}

// open is Open without the final validation and wrapping.
func (t *Target) open(dirfd int, path string, flags int, mode uint32) (int, error) {
	how := openHow(flags, mode)
	switch {
	case path == "":
		return -1, unix.ENOENT
	case len(path) >= PathMax:
		return -1, unix.ENAMETOOLONG
	case strings.IndexByte(path, 0) >= 0:
		return -1, unix.EINVAL
	}
	b, err := t.base(dirfd, path)
	if err != nil {
		return -1, err
	}
	defer b.close()
	return t.openBase(b, path, how)
}

// openBase opens path from b as how says, as the target.
func (t *Target) openBase(b base, path string, how unix.OpenHow) (int, error) {
	c, err := t.credentials()
	if err != nil {
		return -1, err
	}
	creating := how.Flags&unix.O_CREAT != 0 || how.Flags&unix.O_TMPFILE == unix.O_TMPFILE
	fd, fifo := -1, -1
	err = t.asTarget(c, creating, false, func() error {
		var err error
		fd, fifo, err = t.openAs(b, path, how, c.FSUID)
		return err
	})
	if err != nil {
		return -1, err
	}
	if fifo >= 0 {
		defer unix.Close(fifo)
		return t.openFIFO(c, fifo, int(how.Flags))
	}
	return fd, nil
}

// openHow turns open(2) arguments into what openat2 takes, as open(2)
// reads them, for the supervisor's descriptor (always O_CLOEXEC and
// O_NOCTTY).
func openHow(flags int, mode uint32) unix.OpenHow {
	f := flags & validOpenFlags
	if f&unix.O_PATH != 0 {
		f &= pathOpenFlags
	}
	f |= unix.O_CLOEXEC
	if f&unix.O_PATH == 0 {
		f |= unix.O_NOCTTY
	}
	how := unix.OpenHow{Flags: uint64(f)}
	if f&unix.O_CREAT != 0 || f&unix.O_TMPFILE == unix.O_TMPFILE {
		how.Mode = uint64(mode & 0o7777)
	}
	return how
}

// base finds where path starts from. It opens the target's dirfd (as the
// supervisor: it reads /proc/<tid>/fd).
func (t *Target) base(dirfd int, path string) (base, error) {
	if path[0] == '/' {
		return base{abs: true, dir: -1}, nil
	}
	if dirfd == unix.AT_FDCWD {
		cwd, err := t.cwdFD()
		if err != nil {
			return base{}, err
		}
		return base{dir: cwd, isCwd: true}, nil
	}
	if dirfd < 0 {
		return base{}, fmt.Errorf("dirfd %d: %w", dirfd, unix.EBADF)
	}
	fd, err := openRetry(t.procDir, "fd/"+strconv.Itoa(dirfd), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		if err == unix.ENOENT {
			err = unix.EBADF
		}
		return base{}, fmt.Errorf("dirfd %d: %w", dirfd, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		unix.Close(fd)
		return base{}, fmt.Errorf("dirfd %d is not a directory: %w", dirfd, unix.ENOTDIR)
	}
	return base{dir: fd, own: true}, nil
}

// WithCreds runs fn with the target thread's credentials, the way Open
// acts: its file-system uid and gid, supplementary groups and the
// capabilities it holds in the supervisor's user namespace (see Target),
// and its umask too when creating is set. When the calling goroutine's
// thread has them already (a supervisor serving a target with its own
// credentials), fn runs there, with the goroutine locked to the thread;
// otherwise on a throwaway thread that takes them (as DoWithCreds does,
// about 60 µs). fn runs in the supervisor's namespaces, root and working
// directory.
//
// Because fn may run on a thread that goes back to the runtime, fn must
// leave the thread as it found it: no credential, namespace, root,
// working-directory, umask or signal-mask changes (use DoWithCreds or Do
// for those). It is meant for calls the kernel checks against the
// caller's credentials on descriptors that already lead into the target's
// view: mkdirat or unlinkat on the Dir of a Parent, fchownat on a file
// from Open. Open, OpenParent and OpenBeneath called inside fn run on fn's
// thread, without checking its credentials again (one check per WithCreds:
// the thread had them when fn started, and only fn could change them). WithCreds returns fn's error, or ErrGone when the notification is
// no longer pending after fn ran.
func (t *Target) WithCreds(creating bool, fn func() error) error {
	if err := t.acquire(); err != nil {
		return err
	}
	defer t.release()
	c, err := t.credentials()
	if err != nil {
		return err
	}
	if err := t.asTarget(c, creating, true, fn); err != nil {
		return err
	}
	return t.valid()
}

// asTarget runs fn with the target's credentials c: on the calling thread
// when it has them already (with the target's umask too when creating),
// else on a throwaway thread that takes them. With mark set, fn's thread is
// marked as acting for t while fn runs (see markActing), so that Open and
// the others called by fn do not check the thread's credentials again;
// Target's own functions, which call no other method, go unmarked.
func (t *Target) asTarget(c *Creds, creating, mark bool, fn func() error) error {
	runtime.LockOSThread()
	if t.isActing(creating) {
		defer runtime.UnlockOSThread()
		return fn()
	}
	want := nsthread.Creds{FSUID: c.FSUID, FSGID: c.FSGID, Groups: c.Groups, Caps: uint64(c.CapsInSupervisorNS())}
	if t.threadHas(want, creating, c.Umask) {
		defer runtime.UnlockOSThread()
		if mark {
			done := t.markActing(creating)
			defer done()
		}
		return fn()
	}
	runtime.UnlockOSThread()
	var err error
	nsthread.Run(func() {
		if err = nsthread.UnshareFS(); err != nil {
			err = fmt.Errorf("acting as target %d: %w", t.tid, err)
			return
		}
		if err = nsthread.SetCreds(want, int(c.Umask), false); err != nil {
			err = fmt.Errorf("acting as target %d: %w", t.tid, err)
			return
		}
		if mark {
			done := t.markActing(true)
			defer done()
		}
		err = fn()
	})
	return err
}

// threadHas reports whether the calling thread has the credentials want
// (and, when umask matters, the umask).
func (t *Target) threadHas(want nsthread.Creds, umaskToo bool, umask uint32) bool {
	cur, err := nsthread.ThreadCreds()
	if err != nil || cur.FSUID != want.FSUID || cur.FSGID != want.FSGID || cur.Caps != want.Caps || !nsthread.SameGroups(cur.Groups, want.Groups) {
		return false
	}
	if !umaskToo {
		return true
	}
	// The supervisor's procfs, whatever root this thread has.
	b, err := readProc(t.procDir, t.tid, "../thread-self/status")
	if err != nil {
		return false
	}
	v, ok := procstatus.Field(b, "Umask")
	if !ok {
		return false
	}
	n, err := strconv.ParseUint(string(v), 8, 32)
	return err == nil && uint32(n) == umask
}

// openAs opens path from b as how says; it runs with the target's
// credentials (fsuid is its file-system uid). A FIFO that must be waited
// for comes back as fifo, an O_PATH descriptor for openFIFO.
func (t *Target) openAs(b base, path string, how unix.OpenHow, fsuid uint32) (fd, fifo int, err error) {
	flags := int(how.Flags)
	switch {
	case flags&unix.O_TMPFILE == unix.O_TMPFILE, flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL,
		flags&unix.O_CREAT != 0 && strings.HasSuffix(path, "/"):
		// One open that can only make a new regular file: O_TMPFILE,
		// O_EXCL (which follows no final symbolic link), or O_CREAT of a
		// path ending in "/", which the kernel always refuses (EISDIR,
		// or the error of a missing directory).
		fd, err := t.resolve(b, path, how)
		if err != nil {
			return -1, -1, err
		}
		if err := checkCreated(fd); err != nil {
			unix.Close(fd)
			return -1, -1, err
		}
		return fd, -1, nil
	case flags&unix.O_CREAT != 0:
		return t.openCreate(b, path, how, fsuid)
	}
	find := unix.OpenHow{Flags: uint64(unix.O_PATH | unix.O_CLOEXEC | flags&(unix.O_NOFOLLOW|unix.O_DIRECTORY))}
	p, err := t.resolve(b, path, find)
	if err != nil {
		return -1, -1, err
	}
	return t.reopen(b, path, p, how)
}

// maxSymlinks is the kernel's limit on symbolic links followed in one
// lookup (MAXSYMLINKS).
const maxSymlinks = 40

// openCreate is openAs for O_CREAT without O_EXCL. It does the last step
// of the lookup itself, as the kernel's open does, so that it never opens
// a file it has not looked at: one open(O_CREAT) would open whatever a
// racing process put at the name between a look and the open (a link to a
// device node, opened under the supervisor's device cgroup). See
// createIn for each round.
func (t *Target) openCreate(b base, path string, how unix.OpenHow, fsuid uint32) (fd, fifo int, err error) {
	// The directory a followed link's relative text starts from: ours to
	// close.
	owned := -1
	defer func() {
		if owned >= 0 {
			unix.Close(owned)
		}
	}()
	hops, changes := 0, 0
	for {
		dir, name, _, err := splitParent(path)
		if err != nil {
			// "/", "." or "..": a directory, once the path resolves.
			d, err := t.resolve(b, path, unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
			if err != nil {
				return -1, -1, err
			}
			unix.Close(d)
			return -1, -1, unix.EISDIR
		}
		d, err := t.resolve(b, dir, unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
		if err != nil {
			return -1, -1, err
		}
		fd, fifo, link, err := t.createIn(b, path, d, name, how, fsuid)
		switch {
		case err != nil || fd >= 0 || fifo >= 0:
			unix.Close(d)
			return fd, fifo, err
		case link == "":
			// The name changed while it was looked at: again.
			unix.Close(d)
			if changes++; changes > 8 {
				return -1, -1, fmt.Errorf("%q kept changing while it was opened: %w", path, unix.EAGAIN)
			}
		case hops >= maxSymlinks:
			unix.Close(d)
			return -1, -1, unix.ELOOP
		case link[0] == '/':
			hops++
			unix.Close(d)
			b, path = base{abs: true, dir: -1}, link
		default:
			hops++
			if owned >= 0 {
				unix.Close(owned)
			}
			owned = d
			b, path = base{dir: d}, link
		}
	}
}

// testHookCreate, when not nil, runs in createIn between the lookup that
// found no file and the creation. It is a seam for tests: a file appearing
// at the name in that window is a race no kernel can be made to hit on
// cue.
var testHookCreate func()

// createIn does one round of openCreate: the final name of path (from b)
// in d, the directory that holds it. A missing name is created with
// O_EXCL, which makes a new file or fails when a name appeared meanwhile.
// A symbolic link there comes back as link, to be followed from d, once
// the kernel has confirmed that it may be followed (fs.protected_symlinks).
// Any other file is looked at and reopened, after the checks open(2) makes
// for O_CREAT on an existing file: EISDIR for a directory, and those of
// fs.protected_regular and fs.protected_fifos in sticky directories.
// Nothing at all comes back (no file, no link, no error) when the name
// changed between two looks.
func (t *Target) createIn(b base, path string, d int, name string, how unix.OpenHow, fsuid uint32) (fd, fifo int, link string, err error) {
	p, err := openat2(d, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: resolveBeneath})
	if err == unix.ENOENT {
		if testHookCreate != nil {
			testHookCreate()
		}
		excl := how
		excl.Flags |= unix.O_EXCL
		excl.Resolve = resolveBeneath
		fd, err := openat2(d, name, &excl)
		switch err {
		case nil:
			if err := checkCreated(fd); err != nil {
				unix.Close(fd)
				return -1, -1, "", err
			}
			return fd, -1, "", nil
		case unix.EEXIST:
			return -1, -1, "", nil
		}
		return -1, -1, "", err
	}
	if err != nil {
		return -1, -1, "", err
	}
	var st unix.Stat_t
	if err := unix.Fstat(p, &st); err != nil {
		unix.Close(p)
		return -1, -1, "", err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		unix.Close(p)
		if how.Flags&unix.O_NOFOLLOW != 0 {
			return -1, -1, "", unix.ELOOP
		}
		link, err := linkToFollow(d, name, &st)
		return -1, -1, link, err
	case unix.S_IFDIR:
		unix.Close(p)
		return -1, -1, "", unix.EISDIR
	}
	if ok, err := t.stickyCreateAllowed(d, &st, fsuid); !ok || err != nil {
		unix.Close(p)
		if err == nil {
			err = unix.EACCES
		}
		return -1, -1, "", err
	}
	fd, fifo, err = t.reopen(b, path, p, how)
	return fd, fifo, "", err
}

// linkToFollow returns the text of the symbolic link name in d (whose
// lstat is st) if the kernel lets the calling thread follow it: it tries
// to, with O_PATH, which fails with EACCES where fs.protected_symlinks
// forbids it. The name must still hold the same link afterwards: when it
// does not, linkToFollow returns "" and no error.
func linkToFollow(d int, name string, st *unix.Stat_t) (string, error) {
	buf := make([]byte, PathMax)
	n, err := unix.Readlinkat(d, name, buf)
	switch {
	case err == unix.ENOENT || err == unix.EINVAL:
		return "", nil // gone, or no longer a link
	case err != nil:
		return "", err
	case n == 0:
		return "", unix.ENOENT
	case n >= PathMax:
		return "", unix.ENAMETOOLONG
	}
	p, err := openat2(d, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolveBeneath})
	switch err {
	case nil:
		unix.Close(p) // its target exists now: the next round opens it
	case unix.EACCES, unix.ELOOP:
		return "", err // not to be followed, a loop, or a magic link
	}
	var again unix.Stat_t
	if err := unix.Fstatat(d, name, &again, unix.AT_SYMLINK_NOFOLLOW); err != nil ||
		again.Dev != st.Dev || again.Ino != st.Ino || again.Ctim != st.Ctim {
		return "", nil
	}
	return string(buf[:n]), nil
}

// stickyCreateAllowed reports whether open(2) with O_CREAT may open the
// existing file st, found in the directory d, for a caller with the
// file-system uid fsuid. The kernel's rule (may_create_in_sticky): in a
// sticky directory, a file owned neither by the directory's owner nor by
// the caller is refused when the directory is world-writable, and also
// when it is group-writable and the file is a regular file (a FIFO) with
// fs.protected_regular (fs.protected_fifos) set to 2; regular files
// (FIFOs) are never refused with that setting at 0. The settings are read
// when they matter; one that cannot be read counts as 2.
func (t *Target) stickyCreateAllowed(d int, st *unix.Stat_t, fsuid uint32) (bool, error) {
	if st.Uid == fsuid {
		return true, nil
	}
	var dir unix.Stat_t
	if err := unix.Fstat(d, &dir); err != nil {
		return false, err
	}
	if dir.Mode&unix.S_ISVTX == 0 || st.Uid == dir.Uid {
		return true, nil
	}
	level := 1 // the world-writable rule only
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		level = t.sysctl("fs/protected_regular")
	case unix.S_IFIFO:
		level = t.sysctl("fs/protected_fifos")
	}
	return stickyAllows(dir.Mode, level), nil
}

// stickyAllows is the end of stickyCreateAllowed: whether a directory of
// mode dirMode lets another user's file be opened with O_CREAT, with the
// protection level given.
func stickyAllows(dirMode uint32, level int) bool {
	switch {
	case level == 0:
		return true
	case dirMode&0o002 != 0:
		return false
	case dirMode&0o020 != 0 && level >= 2:
		return false
	}
	return true
}

// sysctl reads an integer setting of the supervisor's /proc/sys (a global
// one), or returns 2 when it cannot.
func (t *Target) sysctl(name string) int {
	b, err := readProc(t.procDir, t.tid, "../sys/"+name)
	if err != nil {
		return 2
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 2
	}
	return n
}

// checkCreated checks a file that an open with O_CREAT or O_TMPFILE
// returned: a regular file outside /proc, as a new one is.
func checkCreated(fd int) error {
	var st unix.Stat_t
	var sf unix.Statfs_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if err := unix.Fstatfs(fd, &sf); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || sf.Type == unix.PROC_SUPER_MAGIC {
		return ErrSupervisorView
	}
	return nil
}

// reopen turns p, the O_PATH descriptor of an existing file, into the open
// that how asks for, after looking at what p is. It takes p.
func (t *Target) reopen(b base, path string, p int, how unix.OpenHow) (fd, fifo int, err error) {
	keep := false
	defer func() {
		if !keep {
			unix.Close(p)
		}
	}()
	var st unix.Stat_t
	var sf unix.Statfs_t
	if err := unix.Fstat(p, &st); err != nil {
		return -1, -1, err
	}
	if err := unix.Fstatfs(p, &sf); err != nil {
		return -1, -1, err
	}
	if sf.Type == unix.PROC_SUPER_MAGIC {
		if err := t.checkProc(b, path, p, &st); err != nil {
			return -1, -1, err
		}
	}
	flags := int(how.Flags)
	if flags&unix.O_PATH != 0 {
		keep = true
		return p, -1, nil
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		// O_NOFOLLOW met a symbolic link.
		return -1, -1, unix.ELOOP
	case unix.S_IFCHR, unix.S_IFBLK:
		if !harmlessDevice(&st) {
			return -1, -1, fmt.Errorf("device %d:%d: %w", unix.Major(st.Rdev), unix.Minor(st.Rdev), ErrSupervisorView)
		}
	case unix.S_IFIFO:
		if flags&unix.O_ACCMODE != unix.O_RDWR && flags&unix.O_NONBLOCK == 0 {
			keep = true
			return -1, p, nil
		}
	}
	fd, err = reopenFD(t.procDir, p, flags)
	return fd, -1, err
}

// reopenFD opens the file of the O_PATH descriptor p anew with flags,
// through the supervisor's /proc/self/fd (reached from procDir, an open
// /proc/<tid> of the supervisor's procfs, so it works on a thread with
// another root). Permissions are checked as for any open, with the calling
// thread's credentials.
func reopenFD(procDir, p, flags int) (int, error) {
	// O_NOFOLLOW would stop at the /proc/self/fd link itself; p was found
	// with it already. The file exists: O_CREAT and O_EXCL are spent.
	flags &^= unix.O_NOFOLLOW | unix.O_CREAT | unix.O_EXCL
	return openRetry(procDir, "../self/fd/"+strconv.Itoa(p), flags|unix.O_CLOEXEC)
}

// harmlessDevice reports whether a device node is one that every container
// may open and that means the same for the supervisor: the memory devices
// null, zero, full, random and urandom, the pty multiplexer and the pty
// terminals.
func harmlessDevice(st *unix.Stat_t) bool {
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return false
	}
	major, minor := unix.Major(st.Rdev), unix.Minor(st.Rdev)
	switch {
	case major == 1:
		return minor == 3 || minor == 5 || minor == 7 || minor == 8 || minor == 9
	case major == 5:
		return minor == 2 // /dev/ptmx
	case major >= 136 && major <= 143:
		return true // UNIX98_PTY_SLAVE_MAJOR: /dev/pts/*
	}
	return false
}

// resolve opens path from b with openat2, retrying EINTR and EAGAIN (a
// rename or mount raced a ".." step). A relative path that leaves its
// directory (EXDEV under RESOLVE_BENEATH) is resolved again from the root,
// prefixed with the directory's path there.
func (t *Target) resolve(b base, path string, how unix.OpenHow) (int, error) {
	if b.abs {
		how.Resolve = resolveRoot
		return openat2(t.root, path, &how)
	}
	how.Resolve = resolveBeneath
	fd, err := openat2(b.dir, path, &how)
	if err != unix.EXDEV || b.beneath {
		return fd, err
	}
	prefix, ok := t.pathInRoot(b)
	if !ok {
		return -1, fmt.Errorf("%q leaves a directory that is not inside the target's root: %w", path, unix.EXDEV)
	}
	how.Resolve = resolveRoot
	return openat2(t.root, prefix+"/"+path, &how)
}

func openat2(dirfd int, path string, how *unix.OpenHow) (int, error) {
	for range 64 {
		fd, err := unix.Openat2(dirfd, path, how)
		switch err {
		case unix.EINTR, unix.EAGAIN:
			continue
		case unix.ENOSYS:
			return -1, &kernel.UnsupportedFeatureError{Name: "openat2", MinimumVersion: "5.6"}
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// pathInRoot returns the path, from the target's root, of the directory a
// relative path of b starts from, and whether there is one: the directory
// can be outside the root (a chroot without chdir) or deleted. The path is
// read from the supervisor's /proc and confirmed by opening it from the
// root. The working directory's is cached: it is pinned.
func (t *Target) pathInRoot(b base) (string, bool) {
	if !b.isCwd {
		return t.findInRoot(b.dir)
	}
	t.cwdMu.Lock()
	defer t.cwdMu.Unlock()
	if !t.cwdKnown {
		t.cwdPath, t.cwdInRoot = t.findInRoot(b.dir)
		t.cwdKnown = true
	}
	return t.cwdPath, t.cwdInRoot
}

func (t *Target) findInRoot(dir int) (string, bool) {
	if rel, ok := t.inRoot(dir, false); ok {
		return rel, true
	}
	return "", false
}

// inRoot returns the path of fd from the target's root, checked by opening
// it from there and comparing the files: a directory when any is false,
// without following symbolic links at all when it is true (then fd may be
// any file). When fd is outside the root, it returns fd's path in the
// supervisor's view and false; when fd has no path, "" and false.
func (t *Target) inRoot(fd int, any bool) (string, bool) {
	rootPath, err1 := t.rootDirPath()
	dirPath, err2 := t.fdPath(fd)
	if err1 != nil || err2 != nil || !strings.HasPrefix(dirPath, "/") {
		return "", false
	}
	var rel string
	switch {
	case rootPath == "/":
		rel = dirPath
	case dirPath == rootPath:
		rel = "/"
	case strings.HasPrefix(dirPath, rootPath+"/"):
		rel = dirPath[len(rootPath):]
	default:
		return dirPath, false
	}
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolveRoot}
	if any {
		how = unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: resolveRoot | unix.RESOLVE_NO_SYMLINKS}
	}
	found, err := openat2(t.root, rel, &how)
	if err != nil {
		return "", false
	}
	defer unix.Close(found)
	var a, c unix.Stat_t
	if unix.Fstat(found, &a) != nil || unix.Fstat(fd, &c) != nil || a.Dev != c.Dev || a.Ino != c.Ino {
		return "", false
	}
	return rel, true
}

// fdPath reads the path of the supervisor's descriptor fd from its
// /proc/self/fd.
func (t *Target) fdPath(fd int) (string, error) {
	buf := make([]byte, PathMax)
	n, err := unix.Readlinkat(t.procDir, "../self/fd/"+strconv.Itoa(fd), buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// checkProc refuses p, a /proc file found by resolving path from b, when it
// belongs to the supervisor's own process (the kernel lets a process open
// all of its own /proc files, whatever its credentials), or when that
// cannot be told.
//
// A /proc entry is the supervisor's when the directory right below the
// procfs root on its way up is a task directory whose Tgid is the
// supervisor's pid in that procfs (its "self"). The way up from a
// directory is "..". A file's directory is found by resolving path's
// directory part again and checking that it holds this very file; a file
// reached through a final symbolic link fails that check and is refused.
// A task that exits after the check leaves files that can no longer be
// opened, so the reopen that follows the check cannot reach it either.
func (t *Target) checkProc(b base, path string, p int, st *unix.Stat_t) error {
	dir := p
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		parent, name, _, err := splitParent(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, ErrSupervisorView)
		}
		d, err := t.resolve(b, parent, unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
		if err != nil {
			return fmt.Errorf("%s: %w", path, ErrSupervisorView)
		}
		defer unix.Close(d)
		var in unix.Stat_t
		if err := unix.Fstatat(d, name, &in, unix.AT_SYMLINK_NOFOLLOW); err != nil || in.Dev != st.Dev || in.Ino != st.Ino {
			return fmt.Errorf("%s reached through a symbolic link: %w", path, ErrSupervisorView)
		}
		dir = d
	}
	// Walk up to the procfs root. cur and child are ours to close, except
	// dir.
	cur, child := dir, -1
	closeFD := func(fd int) {
		if fd >= 0 && fd != dir {
			unix.Close(fd)
		}
	}
	defer func() { closeFD(cur); closeFD(child) }()
	for range 64 {
		var cst unix.Stat_t
		if err := unix.Fstat(cur, &cst); err != nil {
			return err
		}
		if cst.Dev != st.Dev {
			return fmt.Errorf("%s is in a part of /proc mounted elsewhere: %w", path, ErrSupervisorView)
		}
		if cst.Ino == procRootIno {
			switch {
			case child < 0:
				return nil
			case t.ownTask(cur, child):
				return fmt.Errorf("%s is the supervisor's own: %w", path, ErrSupervisorView)
			}
			return t.checkLookupNamespaces(path, cur, child, p)
		}
		up, err := openRetry(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
		if err != nil {
			return err
		}
		closeFD(child)
		child, cur = cur, up
	}
	return fmt.Errorf("%s is too deep in /proc: %w", path, ErrSupervisorView)
}

// checkLookupNamespaces refuses p, a /proc entry below top (a directory
// right below the procfs root root), when what it is depends on
// namespaces of the thread that looked it up and the calling thread is not
// in the target's: files under /proc/sys belong to the network, IPC or
// user namespace of the thread that looks them up, not to the procfs (a
// supervisor thread would find its own namespace's, the host's network
// settings and interfaces for a target in a network namespace of its
// own), and /proc/sysvipc lists the IPC objects of the opener's IPC
// namespace with pids of its pid namespace. Inside Do the thread is in the
// target's network and IPC namespaces.
func (t *Target) checkLookupNamespaces(path string, root, top, p int) error {
	var tst, s unix.Stat_t
	if err := unix.Fstat(top, &tst); err != nil {
		return err
	}
	var kinds []string
	switch {
	case unix.Fstatat(root, "sysvipc", &s, unix.AT_SYMLINK_NOFOLLOW) == nil && s.Ino == tst.Ino && s.Dev == tst.Dev:
		kinds = []string{"ipc", "pid"}
	case unix.Fstatat(root, "sys", &s, unix.AT_SYMLINK_NOFOLLOW) == nil && s.Ino == tst.Ino && s.Dev == tst.Dev:
		// Which part of /proc/sys: the entry's path below it.
		topPath, err1 := t.fdPath(top)
		pPath, err2 := t.fdPath(p)
		if err1 != nil || err2 != nil || !strings.HasPrefix(pPath, topPath) {
			kinds = []string{"net", "ipc", "user"}
		} else {
			kinds = sysctlNamespaces(pPath[len(topPath):])
		}
	}
	for _, kind := range kinds {
		theirs, err1 := nsLink(t.procDir, "ns/"+kind)
		ours, err2 := nsLink(t.procDir, "../thread-self/ns/"+kind)
		if err1 == unix.ENOENT && err2 == unix.ENOENT {
			continue // a kernel without this kind of namespace
		}
		if err1 != nil || err2 != nil || theirs != ours {
			return fmt.Errorf("%s is looked up in the %s namespace of the thread opening it, which is not the target's (open it inside Do): %w", path, kind, ErrSupervisorView)
		}
	}
	return nil
}

// sysctlNamespaces returns the kinds of namespace that the /proc/sys entry
// at rel (its path below /proc/sys, "" for /proc/sys itself) belongs to
// once looked up. The kernel keeps a set of entries per network namespace
// (net/), user namespace (user/) and IPC namespace (fs/mqueue/ and the
// System V IPC limits in kernel/: shm*, msg*, sem*, auto_msgmni); the
// other entries are global, or mean the namespace of whoever reads them
// (kernel/hostname).
func sysctlNamespaces(rel string) []string {
	first, rest, _ := strings.Cut(strings.TrimPrefix(rel, "/"), "/")
	switch first {
	case "net":
		return []string{"net"}
	case "user":
		return []string{"user"}
	case "fs":
		if rest == "mqueue" || strings.HasPrefix(rest, "mqueue/") {
			return []string{"ipc"}
		}
	case "kernel":
		for _, prefix := range []string{"shm", "msg", "sem", "auto_msgmni"} {
			if strings.HasPrefix(rest, prefix) {
				return []string{"ipc"}
			}
		}
	}
	return nil
}

// ownTask reports whether dir, a directory right below the procfs root
// root, is a task of the calling process: its Tgid is the caller's pid in
// that procfs. A procfs where the caller has no pid (another pid namespace)
// holds nothing of it.
func (t *Target) ownTask(root, dir int) bool {
	buf := make([]byte, 32)
	n, err := unix.Readlinkat(root, "self", buf)
	if err != nil {
		return err != unix.ENOENT
	}
	self := string(buf[:n])
	status, err := readProc(dir, t.tid, "status")
	if err != nil {
		return false // not a task directory, or one of a task that is gone
	}
	tgid, ok := procstatus.Field(status, "Tgid")
	return ok && string(tgid) == self
}

// openFIFO opens the FIFO of the O_PATH descriptor p with flags, as the
// target, waiting for the other end as open(2) does. While it waits, the
// notification is checked now and then; once it is gone, the wait is ended
// by opening the other end (as the supervisor), and openFIFO returns
// ErrGone.
func (t *Target) openFIFO(c *Creds, p, flags int) (int, error) {
	type result struct {
		fd  int
		err error
	}
	// The supervisor's /proc/self/fd, pinned now: the way there through
	// procDir closes when the target dies, and the other end is opened
	// after that.
	selfFD, err := openRetry(t.procDir, "../self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(selfFD)
	done := make(chan result, 1)
	go func() {
		fd := -1
		err := t.asTarget(c, false, false, func() error {
			var err error
			fd, err = reopenFD(t.procDir, p, flags)
			return err
		})
		done <- result{fd, err}
	}()
	wait := time.Millisecond
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case r := <-done:
			return r.fd, r.err
		case <-timer.C:
		}
		if err := t.valid(); err != nil {
			other := unix.O_RDONLY
			if flags&unix.O_ACCMODE == unix.O_RDONLY {
				other = unix.O_WRONLY
			}
			for {
				peer, _ := openRetry(selfFD, strconv.Itoa(p), other|unix.O_NONBLOCK|unix.O_CLOEXEC)
				select {
				case r := <-done:
					if peer >= 0 {
						unix.Close(peer)
					}
					if r.fd >= 0 {
						unix.Close(r.fd)
					}
					return -1, err
				case <-time.After(10 * time.Millisecond):
				}
				if peer >= 0 {
					unix.Close(peer)
				}
			}
		}
		wait = min(2*wait, 100*time.Millisecond)
		timer.Reset(wait)
	}
}
