package emulate

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysargs"
)

// The calls that look at a file: the stat family, access, readlink, statfs
// and the xattr reads. Each resolves its path as a call that needs
// accessMeta (or, for access(R_OK|W_OK), what it asks about), looks at the
// file on an O_PATH descriptor of it, and writes the answer where the
// caller asked (writeOut).

// object resolves p for w and runs fn on an O_PATH descriptor of the file
// it leads to: the symbolic link itself when w.follow is false and the
// final name is one. With emptyPath (AT_EMPTY_PATH) and an empty path, the
// file is the caller's descriptor p.dirfd itself (its working directory
// for AT_FDCWD): looking at it needs no check, as for fstat; reading or
// changing it needs its location to allow that. fn runs with the caller's
// credentials when asCaller is set.
func (c *call) object(p pathArg, w want, emptyPath, asCaller bool, fn func(fd int, st *unix.Stat_t) error) error {
	t, err := c.target()
	if err != nil {
		return err
	}
	if emptyPath && p.path == "" {
		f, err := c.fdObject(p.dirfd, w.access)
		if err != nil {
			return err
		}
		defer f.Close()
		run := func() error {
			return withFD(f, func(fd int) error {
				var st unix.Stat_t
				if err := unix.Fstat(fd, &st); err != nil {
					return err
				}
				return fn(fd, &st)
			})
		}
		if asCaller {
			return t.WithCreds(false, run)
		}
		return run()
	}
	walk := func() error {
		return c.walk(p, w, func(pl *place) error {
			f, st, err := c.objectAt(pl, w.follow)
			if err != nil {
				return err
			}
			defer f.Close()
			return withFD(f, func(fd int) error { return fn(fd, st) })
		})
	}
	// The walk itself runs with the caller's credentials (its lookups are
	// the caller's), on one thread for the whole call.
	return t.WithCreds(false, walk)
}

// objectAt opens the file at a checked place with O_PATH, without following
// a final symbolic link (errFollow when follow or a trailing slash says to
// follow it).
func (c *call) objectAt(pl *place, follow bool) (*os.File, *unix.Stat_t, error) {
	t, err := c.target()
	if err != nil {
		return nil, nil, err
	}
	name := pl.name
	if name == "" {
		name = "."
	}
	f, err := t.OpenBeneath(pl.dir, name, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, err
	}
	st := new(unix.Stat_t)
	err = withFD(f, func(fd int) error { return unix.Fstat(fd, st) })
	switch {
	case err != nil:
	case st.Mode&unix.S_IFMT == unix.S_IFLNK && (follow || pl.slash):
		err = errFollow
	case pl.slash && st.Mode&unix.S_IFMT != unix.S_IFDIR:
		err = unix.ENOTDIR
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// fdObject returns a copy of the caller's descriptor fd (its working
// directory for AT_FDCWD), for a call made on it (AT_EMPTY_PATH, fchmod,
// fsetxattr). Looking at it (accessMeta) needs no check; otherwise its
// location must allow a: a file with no location (deleted, a pipe) is
// refused.
func (c *call) fdObject(fd int, a access) (*os.File, error) {
	t, err := c.target()
	if err != nil {
		return nil, err
	}
	var f *os.File
	if fd == unix.AT_FDCWD {
		f, err = t.Open(unix.AT_FDCWD, ".", unix.O_PATH|unix.O_DIRECTORY, 0)
	} else {
		f, err = t.GetFD(fd)
	}
	if err != nil {
		return nil, err
	}
	if a == accessMeta {
		return f, nil
	}
	v, err := c.view()
	if err != nil {
		f.Close()
		return nil, err
	}
	loc, err := t.PathInRoot(f)
	if err != nil {
		f.Close()
		return nil, c.unplaced(err)
	}
	if !v.allows(loc, a) {
		f.Close()
		return nil, c.deny()
	}
	return f, nil
}

// answerOut resolves p as object does, lets fn make from the file the
// bytes of the call's out-buffer (its first Pointer argument) and the
// call's value, writes the bytes there (as the kernel would: see
// writeOut) and answers the value.
func (c *call) answerOut(p pathArg, w want, emptyPath, asCaller bool, fn func(fd int, st *unix.Stat_t) (out []byte, val int64, err error)) seccompstream.Response {
	var out []byte
	var val int64
	err := c.object(p, w, emptyPath, asCaller, func(fd int, st *unix.Stat_t) error {
		var err error
		out, val, err = fn(fd, st)
		return err
	})
	if err == nil {
		err = c.writeOut(c.value(sysargs.Pointer, 0), out)
	}
	return c.fail(val, err)
}

// fail is answer for calls whose errors may be refusals of the
// supervisor's view (a device, the supervisor's own /proc): those count as
// denied.
func (c *call) fail(val int64, err error) seccompstream.Response {
	if err != nil && errors.Is(err, seccompstream.ErrSupervisorView) {
		c.denied = true
	}
	return answer(val, err)
}

// statCall carries out stat, lstat, newfstatat (fstatat), stat64, lstat64
// and fstatat64.
func (fs *Files) statCall(c *call) seccompstream.Response {
	abi := c.sys.ABI()
	if statLayout(abi, c.sys.Name) == 0 {
		return fs.unsupported(c)
	}
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	flags := 0
	switch c.sys.Name {
	case "lstat", "lstat64":
		flags = unix.AT_SYMLINK_NOFOLLOW
	case "newfstatat", "fstatat64":
		flags = c.int(sysargs.AtFlags, 0)
		if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT|unix.AT_EMPTY_PATH) != 0 {
			return seccompstream.Errno(unix.EINVAL)
		}
	}
	ids, err := c.ids()
	if err != nil {
		return answer(0, err)
	}
	return c.answerOut(p, want{access: accessMeta, follow: flags&unix.AT_SYMLINK_NOFOLLOW == 0}, flags&unix.AT_EMPTY_PATH != 0, false,
		func(_ int, st *unix.Stat_t) ([]byte, int64, error) {
			return encodeStat(abi, c.sys.Name, st, ids), 0, nil
		})
}

// statxCall carries out statx.
func (fs *Files) statxCall(c *call) seccompstream.Response {
	p, err := c.path(0)
	if err != nil {
		return answer(0, err)
	}
	flags := c.int(sysargs.AtFlags, 0)
	mask := uint32(c.value(sysargs.Hex, 0))
	const known = unix.AT_SYMLINK_NOFOLLOW | unix.AT_NO_AUTOMOUNT | unix.AT_EMPTY_PATH | atStatxSyncType
	if flags&^known != 0 || flags&atStatxSyncType == atStatxSyncType || mask&unix.STATX__RESERVED != 0 {
		return seccompstream.Errno(unix.EINVAL)
	}
	if p.null {
		// Only with AT_EMPTY_PATH, since Linux 6.11 (the kernel runs those:
		// see AddRules); otherwise EFAULT.
		if flags&unix.AT_EMPTY_PATH == 0 {
			return seccompstream.Errno(unix.EFAULT)
		}
	}
	ids, err := c.ids()
	if err != nil {
		return answer(0, err)
	}
	return c.answerOut(p, want{access: accessMeta, follow: flags&unix.AT_SYMLINK_NOFOLLOW == 0}, flags&unix.AT_EMPTY_PATH != 0, false,
		func(fd int, _ *unix.Stat_t) ([]byte, int64, error) {
			var st unix.Statx_t
			if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|flags&atStatxSyncType, int(mask), &st); err != nil {
				return nil, 0, err
			}
			return encodeStatx(&st, ids), 0, nil
		})
}

// accessCall carries out access, faccessat and faccessat2. Asking about
// reading needs a readable location, about writing a writable one; F_OK
// and X_OK look only (execve is not restricted). The check is the kernel's,
// made with the caller's file-system ids (AT_EACCESS): for a set-uid
// program, access(2) without AT_EACCESS would use its real ids instead.
func (fs *Files) accessCall(c *call) seccompstream.Response {
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	mode := uint32(c.value(sysargs.AccessMode, 0))
	flags := 0
	if c.sys.Name == "faccessat2" {
		flags = c.int(sysargs.AccessAtFlags, 0)
	}
	if mode&^uint32(unix.R_OK|unix.W_OK|unix.X_OK) != 0 || flags&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return seccompstream.Errno(unix.EINVAL)
	}
	w := want{access: accessMeta, follow: flags&unix.AT_SYMLINK_NOFOLLOW == 0}
	switch {
	case mode&unix.W_OK != 0:
		w.access = accessWrite
	case mode&unix.R_OK != 0:
		w.access = accessRead
	}
	err = c.object(p, w, flags&unix.AT_EMPTY_PATH != 0, true, func(fd int, st *unix.Stat_t) error {
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			// AT_SYMLINK_NOFOLLOW on a link: links grant everything; only
			// a read-only mount refuses writing.
			if mode&unix.W_OK != 0 {
				var sf unix.Statfs_t
				if err := unix.Fstatfs(fd, &sf); err == nil && sf.Flags&unix.ST_RDONLY != 0 {
					return unix.EROFS
				}
			}
			return nil
		}
		return unix.Faccessat(unix.AT_FDCWD, procFD(fd), mode, unix.AT_EACCESS)
	})
	return c.fail(0, err)
}

// readlinkCall carries out readlink and readlinkat.
func (fs *Files) readlinkCall(c *call) seccompstream.Response {
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	size := c.int(sysargs.Int, 0)
	if size <= 0 {
		return seccompstream.Errno(unix.EINVAL)
	}
	// readlinkat with an empty path reads the link its dirfd names (an
	// O_PATH descriptor of one), without AT_EMPTY_PATH.
	emptyPath := c.sys.Name == "readlinkat"
	return c.answerOut(p, want{access: accessMeta}, emptyPath, false, func(fd int, st *unix.Stat_t) ([]byte, int64, error) {
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			if p.path == "" {
				return nil, 0, unix.ENOENT
			}
			return nil, 0, unix.EINVAL
		}
		buf := make([]byte, min(size, seccompstream.PathMax))
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return nil, 0, err
		}
		return buf[:n], int64(n), nil
	})
}

// statfsCall carries out statfs and statfs64.
func (fs *Files) statfsCall(c *call) seccompstream.Response {
	abi := c.sys.ABI()
	size := statfsLayout(abi, c.sys.Name)
	if size == 0 {
		return fs.unsupported(c)
	}
	if c.sys.Name == "statfs64" && c.value(sysargs.Size, 0) != uint64(size) {
		return seccompstream.Errno(unix.EINVAL)
	}
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	return c.answerOut(p, want{access: accessMeta, follow: true}, false, false, func(fd int, _ *unix.Stat_t) ([]byte, int64, error) {
		var st unix.Statfs_t
		if err := unix.Fstatfs(fd, &st); err != nil {
			return nil, 0, err
		}
		return encodeStatfs(abi, c.sys.Name, &st), 0, nil
	})
}

// The kernel's xattr limits.
const (
	xattrNameMax = 255   // XATTR_NAME_MAX
	xattrSizeMax = 65536 // XATTR_SIZE_MAX
	xattrListMax = 65536 // XATTR_LIST_MAX
)

// xattrName reads the name argument of an xattr call: ERANGE when it is
// empty or longer than XATTR_NAME_MAX, as for the kernel.
func (c *call) xattrName() (string, error) {
	name, err := c.str(0, xattrNameMax+1)
	if errors.Is(err, unix.ENAMETOOLONG) || (err == nil && name == "") {
		return "", unix.ERANGE
	}
	return name, err
}

// getxattrCall carries out getxattr and lgetxattr. Extended attributes are
// the file's metadata: reading them needs accessMeta, and the kernel's own
// checks, with the caller's credentials.
func (fs *Files) getxattrCall(c *call) seccompstream.Response {
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	name, err := c.xattrName()
	if err != nil {
		return answer(0, err)
	}
	size := min(c.value(sysargs.Size, 0), xattrSizeMax)
	return c.answerOut(p, want{access: accessMeta, follow: c.sys.Name == "getxattr"}, false, true, func(fd int, _ *unix.Stat_t) ([]byte, int64, error) {
		val := make([]byte, size)
		n, err := unix.Getxattr(procFD(fd), name, val)
		if err != nil {
			return nil, 0, err
		}
		return val[:min(n, len(val))], int64(n), nil
	})
}

// listxattrCall carries out listxattr and llistxattr.
func (fs *Files) listxattrCall(c *call) seccompstream.Response {
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	size := min(c.value(sysargs.Size, 0), xattrListMax)
	return c.answerOut(p, want{access: accessMeta, follow: c.sys.Name == "listxattr"}, false, true, func(fd int, _ *unix.Stat_t) ([]byte, int64, error) {
		list := make([]byte, size)
		n, err := unix.Listxattr(procFD(fd), list)
		if err != nil {
			return nil, 0, err
		}
		return list[:min(n, len(list))], int64(n), nil
	})
}

// AT_STATX_SYNC_TYPE, which x/sys does not name: AT_STATX_FORCE_SYNC and
// AT_STATX_DONT_SYNC (both set is EINVAL).
const atStatxSyncType = unix.AT_STATX_FORCE_SYNC | unix.AT_STATX_DONT_SYNC
