package seccompstream

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/procstatus"
)

// Target is the thread that made a notified call, pinned so the supervisor
// can act as that thread would: open files in its view (Open, OpenParent),
// run code in its namespaces (Do) or with its credentials (DoWithCreds),
// read its credentials (Creds) and take copies of its file descriptors
// (GetFD). Get one with (*Notification).Target.
//
// Pinned means that everything a Target does reaches the thread that made
// the call or nothing: never a process that reused its thread id. Target
// holds its /proc/<tid> directory (which stops naming anything once the
// thread is gone) and its root directory, both opened before the
// notification was checked with ID_VALID, and opens its working directory
// and a pidfd when a method first needs them, checking the notification
// again after each. Its methods check the notification again after acting
// and report ErrGone once it is no longer pending (the target was killed,
// its call was interrupted, or the call was answered): a Target serves one
// call, and is meant to be used before that call is answered.
//
// Acting as the target uses the target's file-system uid and gid, its
// supplementary groups, its umask and its effective capabilities, but only
// when its user namespace is the supervisor's: the capabilities of a target
// in a child user namespace (a rootless container) are relative to that
// namespace and would mean far more here, so Open, Do and DoWithCreds act
// for it with no capability at all. Such a target can therefore do less
// through them than it could itself (its root cannot override file
// permissions), never more. Real and effective uids, security labels
// (SELinux, AppArmor), the device cgroup and Yama's ptrace relations are
// not taken from the target. Open refuses what depends on the device
// cgroup or leads to the supervisor's own /proc (see ErrSupervisorView),
// but does not check Yama: with kernel.yama.ptrace_scope at 1, a target
// can open /proc/<pid>/mem of a process of its uid that descends from the
// supervisor even when it does not descend from the target. The ids of a
// target whose user namespace is neither the supervisor's nor one below it
// may have no mapping in the supervisor's: they read, and are acted for,
// as the overflow ids (65534), as Creds shows them.
//
// Giving a thread another fsuid makes the whole supervisor process
// non-dumpable, for good (the kernel's rule for credential changes): its
// /proc files become owned by root and unprivileged debuggers cannot attach
// to it. That happens the first time a Target acts for a target whose fsuid
// differs from the supervisor's.
//
// The supervisor needs the privileges to do all this: root, or at least
// CAP_SYS_PTRACE (to open the target's /proc files), CAP_SETUID,
// CAP_SETGID (credentials) and, for Do, CAP_SYS_ADMIN and CAP_SYS_CHROOT.
//
// A Target is safe for concurrent use. Close releases it; methods called
// after Close fail with an error matching os.ErrClosed.
type Target struct {
	s   *Stream
	id  uint64
	tid int

	// procDir is /proc/<tid> (O_PATH) in the supervisor's procfs. Files
	// opened through it belong to the pinned thread or fail. Paths of the
	// supervisor's own /proc are reached through it too ("../self/..."),
	// so they resolve in the supervisor's procfs even on a thread that
	// joined the target's mount namespace.
	procDir int
	root    int // O_PATH|O_DIRECTORY

	mu     sync.Mutex // guards refs and closed
	refs   int        // methods running
	closed bool

	// lazyMu guards the descriptors opened on first use (cwdFD, pidfdFD,
	// rootDirPath) and the root's path. Every Open of a file needs
	// the root, few need the others.
	lazyMu sync.Mutex
	cwd    int // O_PATH|O_DIRECTORY, or -1 until needed
	// pidfd names the thread (pidfdThread true) or, before Linux 6.9 for
	// a thread that does not lead its group, the thread-group leader; -1
	// until needed, and before Linux 5.3 (pidfdErr says so).
	pidfd       int
	pidfdThread bool
	pidfdOpened bool
	pidfdErr    error
	rootPath    string // the root's path in the supervisor's view, once read

	credsMu  sync.Mutex // guards creds and credsErr
	creds    *Creds
	credsErr error // ErrGone, once seen

	cwdMu     sync.Mutex // guards the cwd path cache
	cwdPath   string     // the cwd's path in the root, when cwdKnown
	cwdInRoot bool
	cwdKnown  bool

	// actMu guards acting: the threads running a function of WithCreds,
	// DoWithCreds or Do with this target's credentials (see markActing).
	actMu  sync.Mutex
	acting []actingThread

	// hintMu guards hint: where the directory OpenParent or Open opened
	// last is, as its path says (see dirHint).
	hintMu sync.Mutex
	hint   dirHint
}

// errTargetClosed is returned by Target methods after Close. It matches
// os.ErrClosed.
var errTargetClosed = fmt.Errorf("seccompstream: target closed: %w", os.ErrClosed)

// Target pins the thread that made the call: it opens the thread's
// /proc/<tid> directory and its root directory (O_PATH), and then checks
// the notification with ID_VALID, so everything the Target does afterwards
// acts on the thread that made this call, never on a process that reused
// its thread id. The caller closes the Target.
//
// What only some methods need is opened by the first of them, each checked
// with ID_VALID afterwards: the thread's working directory (through the
// pinned /proc/<tid>; for relative paths and Do), a pidfd for the thread
// (PIDFD_THREAD, Linux 6.9; before that, for a thread that is not its
// process's main thread, a pidfd for the process; for GetFD and Do), and
// the thread's namespace files (for Do). They are the ones of the call:
// only a task changes its own namespaces, and the thread is stopped in its
// call (other threads of its process sharing its working directory may
// change that meanwhile, as they may while the kernel carries out a call).
//
// Before Linux 6.9, GetFD of a thread that does not lead its process takes
// descriptors from the process's main thread (the same table unless the
// thread unshared it with CLONE_FILES), and fails once that thread has
// exited. Do and Creds read the thread itself on every kernel.
//
// The thread is found as /proc/<PID> in the supervisor's root: that must be
// a procfs of the supervisor's pid namespace, in which the kernel reports
// PID (it is, unless the supervisor mounted another one there, or calls
// Target from inside Do).
//
// Errors: ErrGone when the target is gone at any step (killed, its call
// interrupted or already answered); an error saying why when the target is
// not visible in the supervisor's pid namespace (PID 0), when the
// Notification did not come from a Stream, or when the supervisor may not
// open the target's /proc files (it needs CAP_SYS_PTRACE, or to be root).
func (n *Notification) Target() (*Target, error) {
	if n == nil {
		return nil, errNilNotification
	}
	if n.s == nil {
		return nil, fmt.Errorf("seccompstream: notification %d did not come from a Stream", n.ID)
	}
	if n.PID <= 0 {
		return nil, fmt.Errorf("seccompstream: target of notification %d is not visible in the supervisor's pid namespace (pid 0): it cannot be pinned", n.ID)
	}
	t := &Target{s: n.s, id: n.ID, tid: n.PID, procDir: -1, root: -1, cwd: -1, pidfd: -1}
	if err := t.pin(); err != nil {
		t.closeFDs()
		if verr := t.valid(); verr != nil {
			return nil, verr
		}
		return nil, err
	}
	if err := t.valid(); err != nil {
		t.closeFDs()
		return nil, err
	}
	return t, nil
}

func (t *Target) pin() error {
	var err error
	dir := "/proc/" + strconv.Itoa(t.tid)
	if t.procDir, err = openRetry(unix.AT_FDCWD, dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("seccompstream: Target: open %s: %w", dir, err)
	}
	if t.root, err = openRetry(t.procDir, "root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("seccompstream: Target: open %s/root: %w", dir, err)
	}
	return nil
}

// PID returns the thread id of the target, as Notification.PID.
func (t *Target) PID() int { return t.tid }

// Close releases the Target's descriptors; calls in progress finish first
// (the last one releases them). Close is safe to call more than once.
func (t *Target) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	last := t.refs == 0
	t.mu.Unlock()
	if last {
		t.closeFDs()
	}
	return nil
}

// acquire marks a method running; it fails after Close. Pair it with
// release.
func (t *Target) acquire() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errTargetClosed
	}
	t.refs++
	return nil
}

func (t *Target) release() {
	t.mu.Lock()
	t.refs--
	last := t.closed && t.refs == 0
	t.mu.Unlock()
	if last {
		t.closeFDs()
	}
}

func (t *Target) closeFDs() {
	t.lazyMu.Lock()
	defer t.lazyMu.Unlock()
	for _, fd := range []*int{&t.procDir, &t.pidfd, &t.root, &t.cwd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

// valid checks that the notification is still pending.
func (t *Target) valid() error { return t.s.idValid(t.id) }

// GetFD returns a duplicate of the target's file descriptor fd, as
// (*Notification).GetFD does, through the Target's pidfd (see Target for
// what that pidfd names before Linux 6.9). Errors: one matching unix.EBADF
// when fd is not open in the target, one matching ErrNotSupported before
// Linux 5.6, ErrGone when the notification is no longer pending. The caller
// closes the file.
func (t *Target) GetFD(fd int) (*os.File, error) {
	if err := t.acquire(); err != nil {
		return nil, err
	}
	defer t.release()
	if fd < 0 {
		return nil, badTargetFD(fd, t.tid)
	}
	pidfd, _, err := t.pidfdFD()
	if err != nil {
		return nil, fmt.Errorf("seccompstream: GetFD: %w", err)
	}
	return getFD(pidfd, fd, t.tid, t.valid)
}

// CapSet is a set of capabilities: bit n stands for capability n
// (unix.CAP_CHOWN is 0), as /proc/<pid>/status and capget(2) lay them out.
type CapSet uint64

// Has reports whether the set holds capability c (a unix.CAP_* value).
func (s CapSet) Has(c int) bool { return c >= 0 && c < 64 && s&(1<<c) != 0 }

// Creds are the credentials of a target thread, as the supervisor sees
// them: user and group ids are mapped into the supervisor's user namespace
// (an id with no mapping there reads as the overflow id, 65534), and the
// capability sets are relative to the target's own user namespace.
type Creds struct {
	UID, EUID, SUID, FSUID uint32
	GID, EGID, SGID, FSGID uint32
	// Groups are the supplementary groups.
	Groups []uint32

	CapInheritable, CapPermitted, CapEffective, CapBounding, CapAmbient CapSet

	// NoNewPrivs reports the thread's no_new_privs flag.
	NoNewPrivs bool
	// Umask is the thread's file mode creation mask.
	Umask uint32
	// SameUserNS reports whether the target's user namespace is the
	// supervisor's. When it is not, the capability sets mean nothing to
	// the supervisor (see CapsInSupervisorNS).
	SameUserNS bool
}

// CapsInSupervisorNS returns the capabilities the target holds in the
// supervisor's user namespace, the ones Open, Do and DoWithCreds act with:
// CapEffective when the target's user namespace is the supervisor's, and
// none otherwise.
func (c *Creds) CapsInSupervisorNS() CapSet {
	if !c.SameUserNS {
		return 0
	}
	return c.CapEffective
}

// Creds returns the target thread's credentials: real, effective, saved and
// file-system uid and gid, supplementary groups, the capability sets,
// no_new_privs, umask, and whether its user namespace is the supervisor's.
// They are read from /proc/<tid>/status and validated afterwards; while the
// call waits the thread cannot change them (a task changes only its own
// credentials), so they are read once and cached. Errors: ErrGone when the
// notification is no longer pending.
func (t *Target) Creds() (Creds, error) {
	if err := t.acquire(); err != nil {
		return Creds{}, err
	}
	defer t.release()
	c, err := t.credentials()
	if err != nil {
		return Creds{}, err
	}
	out := *c
	out.Groups = slices.Clone(c.Groups)
	return out, nil
}

// credentials returns the cached Creds, reading them first if needed. The
// result must not be modified.
func (t *Target) credentials() (*Creds, error) {
	t.credsMu.Lock()
	defer t.credsMu.Unlock()
	if t.creds != nil {
		return t.creds, nil
	}
	if t.credsErr != nil {
		return nil, t.credsErr
	}
	c, err := t.readCreds()
	if err == nil {
		err = t.valid()
	}
	if err != nil {
		if verr := t.valid(); verr != nil {
			t.credsErr = verr
			return nil, verr
		}
		return nil, err
	}
	t.creds = c
	return c, nil
}

func (t *Target) readCreds() (*Creds, error) {
	b, err := readProc(t.procDir, t.tid, "status")
	if err != nil {
		return nil, fmt.Errorf("seccompstream: Creds: %w", err)
	}
	c, err := parseStatus(b)
	if err != nil {
		return nil, fmt.Errorf("seccompstream: Creds: /proc/%d/status: %w", t.tid, err)
	}
	their, err := nsLink(t.procDir, "ns/user")
	if err != nil {
		return nil, fmt.Errorf("seccompstream: Creds: /proc/%d/ns/user: %w", t.tid, err)
	}
	ours, err := supervisorUserNS(t.procDir)
	if err != nil {
		return nil, fmt.Errorf("seccompstream: Creds: /proc/self/ns/user: %w", err)
	}
	c.SameUserNS = their == ours
	return c, nil
}

// nsLink reads a /proc/<pid>/ns link, such as "user:[4026531837]": the
// kind and inode number name the namespace. (Reading the link costs a
// fraction of stat through it.)
func nsLink(dir int, name string) (string, error) {
	var buf [64]byte
	n, err := unix.Readlinkat(dir, name, buf[:])
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// ownUserNS caches the supervisor's user namespace, which never changes: a
// multithreaded process cannot join or make another.
var ownUserNS struct {
	sync.Mutex
	link string
}

// supervisorUserNS returns the supervisor's user namespace link, read
// through procDir (an open /proc/<tid> of the supervisor's procfs) the
// first time.
func supervisorUserNS(procDir int) (string, error) {
	ownUserNS.Lock()
	defer ownUserNS.Unlock()
	if ownUserNS.link == "" {
		l, err := nsLink(procDir, "../self/ns/user")
		if err != nil {
			return "", err
		}
		ownUserNS.link = l
	}
	return ownUserNS.link, nil
}

// parseStatus reads the credential lines of a /proc/<pid>/status file, in
// one pass.
func parseStatus(b []byte) (*Creds, error) {
	c := new(Creds)
	const (
		haveUID = 1 << iota
		haveGID
		haveGroups
		haveCaps // CapInh, CapPrm, CapEff, CapBnd
		haveUmask
	)
	seen := 0
	for key, v := range procstatus.Lines(b) {
		var err error
		switch string(key) {
		case "Uid":
			err = parseIDs(v, &c.UID, &c.EUID, &c.SUID, &c.FSUID)
			seen |= haveUID
		case "Gid":
			err = parseIDs(v, &c.GID, &c.EGID, &c.SGID, &c.FSGID)
			seen |= haveGID
		case "Groups":
			for _, f := range bytes.Fields(v) {
				var g uint32
				if err = parseIDs(f, &g); err != nil {
					break
				}
				c.Groups = append(c.Groups, g)
			}
			seen |= haveGroups
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb": // CapAmb: Linux 4.3
			var n uint64
			n, err = strconv.ParseUint(string(v), 16, 64)
			switch key[3] {
			case 'I':
				c.CapInheritable = CapSet(n)
			case 'P':
				c.CapPermitted = CapSet(n)
			case 'E':
				c.CapEffective = CapSet(n)
			case 'B':
				c.CapBounding = CapSet(n)
			case 'A':
				c.CapAmbient = CapSet(n)
			}
			if key[3] == 'E' {
				seen |= haveCaps
			}
		case "NoNewPrivs":
			c.NoNewPrivs = string(v) == "1"
		case "Umask": // Linux 4.7
			var n uint64
			n, err = strconv.ParseUint(string(v), 8, 32)
			c.Umask = uint32(n)
			seen |= haveUmask
		}
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", key, v, err)
		}
	}
	if seen != haveUID|haveGID|haveGroups|haveCaps|haveUmask {
		return nil, fmt.Errorf("a credential line is missing (Uid, Gid, Groups, CapEff or Umask)")
	}
	return c, nil
}

// parseIDs reads the decimal ids of a status line into dst, one each.
func parseIDs(v []byte, dst ...*uint32) error {
	f := bytes.Fields(v)
	if len(f) != len(dst) {
		return fmt.Errorf("want %d values", len(dst))
	}
	for i, s := range f {
		n, err := strconv.ParseUint(string(s), 10, 32)
		if err != nil {
			return err
		}
		*dst[i] = uint32(n)
	}
	return nil
}

// openRetry is openat(2) retried on EINTR.
func openRetry(dirfd int, path string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, path, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// readProc reads the file name of /proc/<tid>, through procDir when it is
// not negative.
//
// A read that returns less than it was given room for has returned the
// whole file: /proc's status files and sysctls are made whole on the first
// read (seq_file's single_open, proc_sys_read) and handed out as far as the
// buffer goes. So a file that fits is read with one read(2), not two.
func readProc(procDir, tid int, name string) ([]byte, error) {
	dir, path := procDir, name
	if dir < 0 {
		dir, path = unix.AT_FDCWD, "/proc/"+strconv.Itoa(tid)+"/"+name
	}
	fd, err := openRetry(dir, path, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open /proc/%d/%s: %w", tid, name, err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		room := cap(buf) - len(buf)
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, fmt.Errorf("read /proc/%d/%s: %w", tid, name, err)
		case n == 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
		if n < room {
			return buf, nil
		}
	}
}
