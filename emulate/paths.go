package emulate

import (
	"errors"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
)

// How a path is checked
//
// A path the caller gives is never checked as text. It is resolved in the
// caller's view, with its credentials, step by step, and the policy is
// applied to where it leads:
//
//  1. (*Target).OpenParent opens the directory that holds the final name
//     (openat2 from the caller's root or working directory, every symbolic
//     link and ".." on the way resolved by the kernel, RESOLVE_IN_ROOT or
//     RESOLVE_BENEATH and RESOLVE_NO_MAGICLINKS: never outside the root, no
//     /proc/<pid>/fd, root or cwd link).
//  2. (*Target).PathInRoot gives that directory's path from the root,
//     confirmed by looking it up again with RESOLVE_NO_SYMLINKS: the
//     location is the directory's path plus the final name, with no
//     symbolic link in it.
//  3. The location is checked against the policy.
//  4. The call is made on the directory descriptor with the final name,
//     never following a final symbolic link (O_NOFOLLOW,
//     AT_SYMLINK_NOFOLLOW, or on an O_PATH descriptor of the very file).
//     If the final name holds a symbolic link that the call follows, its
//     contents are read from the link's descriptor and resolved again
//     from step 1 (relative contents from the link's directory), at most
//     40 times, as the kernel does.
//
// So a rename or a symbolic link swapped between the check and the call
// can only make the call fail (ELOOP, ENOENT) or act on what was checked:
// what the call acts on is bound to the checked directory descriptor, and
// the final name in it is never followed. No file is created, truncated or
// changed before the check passed.
//
// The policy's own paths are resolved the same way, once per root the
// calls come from (the first time a call from it arrives): a policy path
// that is a symbolic link ("/lib" on a merged-/usr system) stands for
// where the link leads, and one that does not exist yet for the path as
// written below the part that does.

// maxSymlinks is the kernel's limit of symbolic links in one lookup
// (MAXSYMLINKS).
const maxSymlinks = 40

// access is what a call needs of the location its path leads to.
type access uint8

const (
	// accessMeta: look at it (stat, access, readlink, getxattr, statfs,
	// an O_PATH open). Allowed on readable and writable locations and on
	// the way to them: the directories above a policy path, and the policy
	// paths as written.
	accessMeta access = iota
	// accessRead: read it (open for reading, list a directory, watch it).
	accessRead
	// accessWrite: change it or the name (open for writing, create,
	// remove, rename, link, chmod, chown, utimes, truncate, setxattr).
	accessWrite
)

// want says what a call needs of the location its path leads to.
type want struct {
	access access
	// follow: a final symbolic link is followed.
	follow bool
	// create: the call may create the final name, so a refusal is EACCES
	// even when the name does not exist (otherwise ENOENT is answered for
	// a name that is not there, as the kernel would).
	create bool
	// readOnlyOK: a location that may only be read passes too, marked
	// readOnly, for the step to accept there only what changes no file
	// (opening /dev/null for writing, or an existing file with
	// O_RDONLY|O_CREAT).
	readOnlyOK bool
}

// A step carries out the call on a checked place. It must not follow the
// final name if that is a symbolic link: it returns errFollow instead
// (when it met ELOOP with O_NOFOLLOW, or found a link on an O_PATH
// descriptor).
type step func(p *place) error

// place is a checked location.
type place struct {
	// dir holds the final name, or is the object itself when name is ""
	// (a path such as "/", "." or ".." has no final name).
	dir  *os.File
	name string
	// slash reports that the path ended in "/".
	slash bool
	// loc is the location: the path from the caller's root, without
	// symbolic links.
	loc string
	// readOnly is set, for a want with readOnlyOK, when loc may only be
	// read.
	readOnly bool
}

// errFollow is what a step returns for a final name that holds a symbolic
// link it would follow.
var errFollow = errors.New("emulate: the final name is a symbolic link")

// rootKey tells the roots of callers apart: the root directory's device
// and inode, and its mount's id.
type rootKey struct{ dev, ino, mnt uint64 }

// view is the policy in the view of callers with one root: its paths
// resolved there.
type view struct {
	read, write []string        // where the paths lead, without symbolic links
	meta        map[string]bool // every directory above a path, and the paths as written
}

// allows reports whether loc, a location without symbolic links, may be
// used for a.
func (v *view) allows(loc string, a access) bool {
	if anyUnder(loc, v.write) {
		return true
	}
	if a == accessWrite {
		return false
	}
	return anyUnder(loc, v.read) || (a == accessMeta && v.meta[loc])
}

// anyUnder reports whether loc is one of roots or below one.
func anyUnder(loc string, roots []string) bool {
	for _, r := range roots {
		if r == "/" || loc == r || (strings.HasPrefix(loc, r) && loc[len(r)] == '/') {
			return true
		}
	}
	return false
}

// maxViews bounds the views a Files keeps (one per root it has served).
const maxViews = 64

// view returns the policy as the caller's root sees it.
func (c *call) view() (*view, error) {
	if c.v != nil {
		return c.v, nil
	}
	t, err := c.target()
	if err != nil {
		return nil, err
	}
	key, err := rootOf(t)
	if err != nil {
		return nil, err
	}
	fs := c.fs
	fs.mu.Lock()
	v := fs.views[key]
	fs.mu.Unlock()
	if v == nil {
		if v, err = fs.resolvePolicy(t); err != nil {
			return nil, err
		}
		fs.mu.Lock()
		if len(fs.views) >= maxViews {
			clear(fs.views)
		}
		fs.views[key] = v
		fs.mu.Unlock()
	}
	c.v = v
	return v, nil
}

func rootOf(t *seccompstream.Target) (rootKey, error) {
	root, err := t.Root()
	if err != nil {
		return rootKey{}, err
	}
	defer root.Close()
	var st unix.Statx_t
	err = withFD(root, func(fd int) error {
		return unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_INO|unix.STATX_MNT_ID, &st)
	})
	if err != nil {
		return rootKey{}, err
	}
	k := rootKey{dev: unix.Mkdev(st.Dev_major, st.Dev_minor), ino: st.Ino}
	if st.Mask&unix.STATX_MNT_ID != 0 {
		k.mnt = st.Mnt_id
	}
	return k, nil
}

// resolvePolicy resolves the policy's paths in t's root.
func (fs *Files) resolvePolicy(t *seccompstream.Target) (*view, error) {
	v := &view{meta: map[string]bool{"/": true}}
	addMeta := func(p string) {
		v.meta[p] = true
		for p != "/" {
			p = path.Dir(p)
			v.meta[p] = true
		}
	}
	for _, l := range []struct {
		in  []string
		out *[]string
	}{{fs.policy.Read, &v.read}, {fs.policy.Write, &v.write}} {
		for _, p := range l.in {
			loc, err := whereLeads(t, p)
			if err != nil {
				return nil, err
			}
			*l.out = append(*l.out, loc)
			addMeta(p)
			addMeta(loc)
		}
	}
	return v, nil
}

// whereLeads returns where the policy path p leads in t's root: the
// location of its longest part that exists, followed by the rest as
// written. Only ErrGone is an error.
func whereLeads(t *seccompstream.Target, p string) (string, error) {
	if p == "/" {
		return "/", nil
	}
	comps := strings.Split(p[1:], "/")
	for i := len(comps); i > 0; i-- {
		f, err := t.Open(unix.AT_FDCWD, "/"+strings.Join(comps[:i], "/"), unix.O_PATH, 0)
		if err != nil {
			if errors.Is(err, seccompstream.ErrGone) {
				return "", err
			}
			continue
		}
		loc, err := t.PathInRoot(f)
		f.Close()
		if err != nil {
			if errors.Is(err, seccompstream.ErrGone) {
				return "", err
			}
			continue
		}
		return path.Join(append([]string{loc}, comps[i:]...)...), nil
	}
	return p, nil
}

// deny marks the call refused by the policy and returns EACCES.
func (c *call) deny() error {
	c.denied = true
	return unix.EACCES
}

// walk resolves p in the caller's view, checks where it leads against the
// policy for w, and runs do there (see "How a path is checked"). It
// returns do's error, the kernel's error for a path that cannot be
// resolved, EACCES (marking the call denied) for a location the policy
// does not allow, or ELOOP after too many symbolic links.
func (c *call) walk(p pathArg, w want, do step) error {
	t, err := c.target()
	if err != nil {
		return err
	}
	v, err := c.view()
	if err != nil {
		return err
	}
	dirfd, pth := p.dirfd, p.path
	for range maxSymlinks + 1 {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if rest, _, ok := cutSelf(pth); ok && (rest != "" || w.follow) {
			pth, _ = c.selfPath(pth)
		}
		par, err := t.OpenParent(dirfd, pth)
		if errors.Is(err, seccompstream.ErrNoFinalName) {
			return c.walkDir(t, v, dirfd, pth, w, do)
		}
		if err != nil {
			return c.resolveFailed(err)
		}
		next, err := c.walkName(t, v, par, w, do)
		par.Close()
		if next == "" {
			return err
		}
		dirfd, pth = unix.AT_FDCWD, next
	}
	return unix.ELOOP
}

// walkName checks the final name of par and runs do on it, or returns the
// path to resolve next: where a final symbolic link leads.
func (c *call) walkName(t *seccompstream.Target, v *view, par *seccompstream.Parent, w want, do step) (next string, err error) {
	dirLoc, err := t.PathInRoot(par.Dir)
	if err != nil {
		return "", c.unplaced(err)
	}
	loc := path.Join(dirLoc, par.Name)
	follow := w.follow || par.TrailingSlash
	allowed := v.allows(loc, w.access)
	readOnly := !allowed && w.readOnlyOK && v.allows(loc, accessRead)
	if allowed || readOnly {
		err := do(&place{dir: par.Dir, name: par.Name, slash: par.TrailingSlash, loc: loc, readOnly: readOnly})
		if err != errFollow {
			return "", err
		}
		if !follow {
			return "", unix.ELOOP
		}
	} else if !follow && w.create {
		return "", c.deny()
	}
	// Refused, or a symbolic link to follow: what is there?
	text, kind, err := readLinkIn(t, par.Dir, par.Name)
	switch {
	case err != nil:
		if errors.Is(err, seccompstream.ErrSupervisorView) {
			return "", c.deny()
		}
		return "", err
	case kind == kindMissing && !allowed && !readOnly:
		c.deny()
		if w.create {
			return "", unix.EACCES
		}
		// Refused, answered as the kernel would answer for a name that is
		// not there (whether it is there is not hidden: see the package
		// documentation).
		return "", unix.ENOENT
	case kind != kindLink || !follow:
		if allowed || readOnly {
			// The link do saw is gone: look again.
			next := path.Join(dirLoc, par.Name)
			if par.TrailingSlash {
				next += "/"
			}
			return next, nil
		}
		return "", c.deny()
	}
	if text[0] != '/' {
		text = dirLoc + "/" + text
	}
	if par.TrailingSlash {
		text += "/"
	}
	return text, nil
}

// walkDir is walk for a path without a final name: the directory it names
// is the location.
func (c *call) walkDir(t *seccompstream.Target, v *view, dirfd int, pth string, w want, do step) error {
	d, err := t.Open(dirfd, pth, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return c.resolveFailed(err)
	}
	defer d.Close()
	loc, err := t.PathInRoot(d)
	if err != nil {
		return c.unplaced(err)
	}
	if !v.allows(loc, w.access) {
		if !w.readOnlyOK || !v.allows(loc, accessRead) {
			return c.deny()
		}
		return do(&place{dir: d, loc: loc, readOnly: true})
	}
	return do(&place{dir: d, loc: loc})
}

// resolveFailed passes on the error of resolving a path's directories.
// ELOOP counts as a refusal: it is what a magic link on the way gives
// (/proc/self/root, /proc/<pid>/fd/N; RESOLVE_NO_MAGICLINKS), as well as
// a loop of symbolic links. So does a refusal of the supervisor's view (a
// path through /proc/self).
func (c *call) resolveFailed(err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, seccompstream.ErrSupervisorView) {
		c.denied = true
	}
	return err
}

// unplaced answers a directory whose location cannot be told (outside the
// caller's root, deleted, renamed meanwhile): refused.
func (c *call) unplaced(err error) error {
	if errors.Is(err, seccompstream.ErrGone) {
		return err
	}
	return c.deny()
}

// What readLinkIn found.
const (
	kindMissing = iota
	kindLink
	kindOther
)

// readLinkIn looks at name in dir as the caller: missing, something other
// than a symbolic link, or a link with its contents. A symbolic link on
// procfs is refused (ErrSupervisorView): the magic links there
// (/proc/<pid>/fd/*, exe, cwd, root, ns/*) lead to objects, not to their
// contents as a path, and "self" and "thread-self" would name the
// supervisor.
func readLinkIn(t *seccompstream.Target, dir *os.File, name string) (string, int, error) {
	f, err := t.OpenBeneath(dir, name, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "", kindMissing, nil
		}
		return "", 0, err
	}
	defer f.Close()
	var text string
	kind := kindOther
	err = withFD(f, func(fd int) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return nil
		}
		var sf unix.Statfs_t
		if err := unix.Fstatfs(fd, &sf); err != nil {
			return err
		}
		if sf.Type == unix.PROC_SUPER_MAGIC {
			return seccompstream.ErrSupervisorView
		}
		buf := make([]byte, seccompstream.PathMax)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return err
		}
		if n == 0 {
			return unix.ENOENT
		}
		text, kind = string(buf[:n]), kindLink
		return nil
	})
	return text, kind, err
}
