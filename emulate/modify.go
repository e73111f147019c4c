package emulate

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysargs"
)

// The calls that change names and files. Each needs accessWrite at every
// location it changes, runs on the checked directory with the final name
// (or on an O_PATH descriptor of the very file) with the caller's
// credentials and umask, and never follows a final symbolic link it did
// not check.

// dirFD runs fn with the descriptor number of a place's directory.
func dirFD(pl *place, fn func(dfd int) error) error { return withFD(pl.dir, fn) }

// withCreds runs fn with the caller's credentials (and its umask when
// creating), on one thread for the whole call.
func (c *call) withCreds(creating bool, fn func() error) error {
	t, err := c.target()
	if err != nil {
		return err
	}
	return t.WithCreds(creating, fn)
}

// noFinalName is the kernel's errno for a path without a final name given
// to a call that creates (EEXIST), removes or renames names.
func noFinalName(call, path string) error {
	trimmed := strings.TrimRight(path, "/")
	last := trimmed[strings.LastIndexByte(trimmed, '/')+1:]
	switch call {
	case "mkdir", "mknod", "link", "symlink":
		return unix.EEXIST
	case "unlink":
		return unix.EISDIR
	case "rmdir":
		switch {
		case trimmed == "":
			return unix.EBUSY
		case last == ".":
			return unix.EINVAL
		}
		return unix.ENOTEMPTY
	}
	return unix.EBUSY // rename
}

// mkdirCall carries out mkdir and mkdirat.
func (fs *Files) mkdirCall(c *call) seccompstream.Response {
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	mode := uint32(c.value(sysargs.Mode, 0))
	err = c.withCreds(true, func() error {
		return c.walk(p, want{access: accessWrite, create: true}, func(pl *place) error {
			if pl.name == "" {
				return noFinalName("mkdir", p.path)
			}
			return dirFD(pl, func(dfd int) error { return unix.Mkdirat(dfd, pl.name, mode) })
		})
	})
	return c.fail(0, err)
}

// mknodCall carries out mknod and mknodat, for regular files, FIFOs and
// sockets. Device nodes are refused (EPERM): the kernel checks their
// creation against the supervisor's device cgroup, not the caller's.
func (fs *Files) mknodCall(c *call) seccompstream.Response {
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	mode := uint32(c.value(sysargs.NodeMode, 0))
	dev := c.value(sysargs.Hex, 0)
	switch mode & unix.S_IFMT {
	case 0:
		mode |= unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFCHR, unix.S_IFBLK:
		c.denied = true
		return seccompstream.Errno(unix.EPERM)
	default:
		return seccompstream.Errno(unix.EINVAL)
	}
	err = c.withCreds(true, func() error {
		return c.walk(p, want{access: accessWrite, create: true}, func(pl *place) error {
			if pl.name == "" {
				return noFinalName("mknod", p.path)
			}
			return dirFD(pl, func(dfd int) error { return unix.Mknodat(dfd, pl.name, mode, int(dev)) })
		})
	})
	return c.fail(0, err)
}

// unlinkCall carries out unlink, unlinkat and rmdir.
func (fs *Files) unlinkCall(c *call) seccompstream.Response {
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	flags, call := 0, "unlink"
	switch c.sys.Name {
	case "rmdir":
		flags, call = unix.AT_REMOVEDIR, "rmdir"
	case "unlinkat":
		flags = c.int(sysargs.UnlinkFlags, 0)
		if flags&^unix.AT_REMOVEDIR != 0 {
			return seccompstream.Errno(unix.EINVAL)
		}
		if flags != 0 {
			call = "rmdir"
		}
	}
	err = c.withCreds(false, func() error {
		return c.walk(p, want{access: accessWrite}, func(pl *place) error {
			if pl.name == "" {
				return noFinalName(call, p.path)
			}
			return dirFD(pl, func(dfd int) error {
				if pl.slash && call == "unlink" {
					// unlink("x/"): EISDIR for a directory, ENOTDIR else.
					var st unix.Stat_t
					if err := unix.Fstatat(dfd, pl.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
						return err
					}
					if st.Mode&unix.S_IFMT == unix.S_IFDIR {
						return unix.EISDIR
					}
					return unix.ENOTDIR
				}
				return unix.Unlinkat(dfd, pl.name, flags)
			})
		})
	})
	return c.fail(0, err)
}

// twoPaths runs fn with the checked places of the call's two paths, which
// need w1 and w2, on one thread with the caller's credentials. first, if
// not nil, looks at the first place before the second path is resolved
// (its errFollow makes the first walk follow a link).
func (c *call) twoPaths(p1, p2 pathArg, w1, w2 want, call string, first step, fn func(a, b *place) error) error {
	return c.withCreds(false, func() error {
		return c.walk(p1, w1, func(a *place) error {
			if a.name == "" {
				return noFinalName(call, p1.path)
			}
			if first != nil {
				if err := first(a); err != nil {
					return err
				}
			}
			return c.walk(p2, w2, func(b *place) error {
				if b.name == "" {
					return noFinalName(call, p2.path)
				}
				return fn(a, b)
			})
		})
	})
}

// renameCall carries out rename, renameat and renameat2: both the old and
// the new name need a writable location.
func (fs *Files) renameCall(c *call) seccompstream.Response {
	oldp, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	newp, err := c.needPath(1)
	if err != nil {
		return answer(0, err)
	}
	var flags uint
	if c.sys.Name == "renameat2" {
		flags = uint(c.value(sysargs.RenameFlags, 0))
		const known = unix.RENAME_NOREPLACE | unix.RENAME_EXCHANGE | unix.RENAME_WHITEOUT
		if flags&^known != 0 || (flags&unix.RENAME_EXCHANGE != 0 && flags&(unix.RENAME_NOREPLACE|unix.RENAME_WHITEOUT) != 0) {
			return seccompstream.Errno(unix.EINVAL)
		}
	}
	w := want{access: accessWrite, create: true}
	err = c.twoPaths(oldp, newp, want{access: accessWrite}, w, "rename", nil, func(a, b *place) error {
		return dirFD(a, func(afd int) error {
			return dirFD(b, func(bfd int) error {
				if a.slash || b.slash {
					// A trailing slash on either name: the file renamed
					// must be a directory.
					var st unix.Stat_t
					if err := unix.Fstatat(afd, a.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
						return err
					}
					if st.Mode&unix.S_IFMT != unix.S_IFDIR {
						return unix.ENOTDIR
					}
				}
				return unix.Renameat2(afd, a.name, bfd, b.name, flags)
			})
		})
	})
	return c.fail(0, err)
}

// linkCall carries out link and linkat. The file linked needs a writable
// location, as the new name does: a new name for a file lets it be
// changed where the new name is.
func (fs *Files) linkCall(c *call) seccompstream.Response {
	flags := 0
	if c.sys.Name == "linkat" {
		flags = c.int(sysargs.AtFlags, 0)
		if flags&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
			return seccompstream.Errno(unix.EINVAL)
		}
	}
	oldp, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	newp, err := c.needPath(1)
	if err != nil {
		return answer(0, err)
	}
	newWant := want{access: accessWrite, create: true}
	if flags&unix.AT_EMPTY_PATH != 0 && oldp.path == "" {
		// Link the caller's descriptor (a file made with O_TMPFILE).
		f, err := c.fdObject(oldp.dirfd, accessWrite)
		if err != nil {
			return c.fail(0, err)
		}
		defer f.Close()
		err = c.withCreds(false, func() error {
			return c.walk(newp, newWant, func(b *place) error {
				if b.name == "" {
					return noFinalName("link", newp.path)
				}
				return withFD(f, func(fd int) error {
					return dirFD(b, func(bfd int) error { return unix.Linkat(fd, "", bfd, b.name, unix.AT_EMPTY_PATH) })
				})
			})
		})
		return c.fail(0, err)
	}
	follow := flags&unix.AT_SYMLINK_FOLLOW != 0
	oldWant := want{access: accessWrite, follow: follow}
	var first step
	if follow {
		// The name linked must not be a symbolic link: the walk follows it
		// to the file it leads to.
		first = func(a *place) error {
			f, _, err := c.objectAt(a, true)
			if err == nil {
				f.Close()
			}
			return err
		}
	}
	err = c.twoPaths(oldp, newp, oldWant, newWant, "link", first, func(a, b *place) error {
		return dirFD(a, func(afd int) error {
			return dirFD(b, func(bfd int) error { return unix.Linkat(afd, a.name, bfd, b.name, 0) })
		})
	})
	return c.fail(0, err)
}

// symlinkCall carries out symlink and symlinkat. The link's contents are
// not checked: a link grants nothing, every path through it is checked
// where it leads.
func (fs *Files) symlinkCall(c *call) seccompstream.Response {
	text, err := c.str(0, seccompstream.PathMax)
	if err != nil {
		return answer(0, err)
	}
	if text == "" {
		return seccompstream.Errno(unix.ENOENT)
	}
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	err = c.withCreds(false, func() error {
		return c.walk(p, want{access: accessWrite, create: true}, func(pl *place) error {
			if pl.name == "" {
				return noFinalName("symlink", p.path)
			}
			return dirFD(pl, func(dfd int) error { return unix.Symlinkat(text, dfd, pl.name) })
		})
	})
	return c.fail(0, err)
}

// onFile runs fn, with the caller's credentials, on an O_PATH descriptor
// of the file the call acts on: the path's (argument nth), or with
// AT_EMPTY_PATH and an empty path the descriptor, or for the f* calls
// (fchmod, fchown, fsetxattr, fremovexattr) the descriptor argument. The
// location must be writable.
func (c *call) onFile(flags int, follow bool, fn func(fd int, st *unix.Stat_t) error) error {
	if c.has(sysargs.FD, 0) && !c.has(sysargs.Path, 0) {
		f, err := c.fdObject(c.int(sysargs.FD, 0), accessWrite)
		if err != nil {
			return err
		}
		defer f.Close()
		return c.withCreds(false, func() error {
			return withFD(f, func(fd int) error {
				// The f* calls do not take O_PATH descriptors.
				if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_PATH != 0 {
					return unix.EBADF
				}
				var st unix.Stat_t
				if err := unix.Fstat(fd, &st); err != nil {
					return err
				}
				return fn(fd, &st)
			})
		})
	}
	p, err := c.path(0)
	if err != nil {
		return err
	}
	if p.null && !(flags&unix.AT_EMPTY_PATH != 0) {
		return unix.EFAULT
	}
	return c.object(p, want{access: accessWrite, follow: follow}, flags&unix.AT_EMPTY_PATH != 0, true, fn)
}

// chmodCall carries out chmod, fchmodat, fchmodat2 and fchmod.
func (fs *Files) chmodCall(c *call) seccompstream.Response {
	mode := uint32(c.value(sysargs.Mode, 0)) & 0o7777
	flags := 0
	if c.sys.Name == "fchmodat2" {
		flags = c.int(sysargs.AtFlags, 0)
		if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
			return seccompstream.Errno(unix.EINVAL)
		}
	}
	err := c.onFile(flags, flags&unix.AT_SYMLINK_NOFOLLOW == 0, func(fd int, st *unix.Stat_t) error {
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return unix.EOPNOTSUPP // the mode of a link cannot be changed
		}
		return unix.Chmod(procFD(fd), mode)
	})
	return c.fail(0, err)
}

// chownCall carries out chown, lchown, fchownat, fchown and their 32-bit
// id variants; ids are the caller's, mapped as its user namespace maps
// them.
func (fs *Files) chownCall(c *call) seccompstream.Response {
	uid, gid := c.int(sysargs.UID, 0), c.int(sysargs.GID, 0)
	if c.sys.ABI() == "i386" && !strings.HasSuffix(c.sys.Name, "32") {
		// The i386 chown, lchown and fchown take 16-bit ids; 0xffff is
		// -1.
		uid, gid = id16(uid), id16(gid)
	}
	flags := 0
	switch c.sys.Name {
	case "lchown", "lchown32":
		flags = unix.AT_SYMLINK_NOFOLLOW
	case "fchownat":
		flags = c.int(sysargs.AtFlags, 0)
		if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
			return seccompstream.Errno(unix.EINVAL)
		}
	}
	ids, err := c.ids()
	if err != nil {
		return answer(0, err)
	}
	uid, gid, err = ids.chownIDs(uid, gid)
	if err != nil {
		return answer(0, err)
	}
	err = c.onFile(flags, flags&unix.AT_SYMLINK_NOFOLLOW == 0, func(fd int, _ *unix.Stat_t) error {
		return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH)
	})
	return c.fail(0, err)
}

func id16(id int) int {
	id &= 0xffff
	if id == 0xffff {
		return -1
	}
	return id
}

// truncateCall carries out truncate and truncate64.
func (fs *Files) truncateCall(c *call) seccompstream.Response {
	length := int64(c.value(sysargs.Offset, 0))
	if length < 0 {
		return seccompstream.Errno(unix.EINVAL)
	}
	err := c.onFile(0, true, func(fd int, _ *unix.Stat_t) error {
		return unix.Truncate(procFD(fd), length)
	})
	return c.fail(0, err)
}

// utimesCall carries out utimensat, utimensat_time64, utime, utimes and
// futimesat, with the times read in the caller's ABI.
func (fs *Files) utimesCall(c *call) seccompstream.Response {
	flags := 0
	if strings.HasPrefix(c.sys.Name, "utimensat") {
		flags = c.int(sysargs.AtFlags, 0)
		if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
			return seccompstream.Errno(unix.EINVAL)
		}
	}
	ts, err := c.times()
	if err != nil {
		return answer(0, err)
	}
	p, err := c.path(0)
	if err != nil {
		return answer(0, err)
	}
	if p.null {
		if !strings.HasPrefix(c.sys.Name, "utimensat") || p.dirfd == unix.AT_FDCWD {
			return seccompstream.Errno(unix.EFAULT)
		}
		// utimensat(fd, NULL, ...) is futimens(fd, ...).
		if flags != 0 {
			return seccompstream.Errno(unix.EINVAL)
		}
		p.path, flags = "", unix.AT_EMPTY_PATH
	}
	if ts[0].Nsec == unix.UTIME_OMIT && ts[1].Nsec == unix.UTIME_OMIT {
		return seccompstream.Return(0) // nothing to change, as the kernel says
	}
	err = c.object(p, want{access: accessWrite, follow: flags&unix.AT_SYMLINK_NOFOLLOW == 0}, flags&unix.AT_EMPTY_PATH != 0, true,
		func(fd int, _ *unix.Stat_t) error {
			return unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
		})
	return c.fail(0, err)
}

// times reads the call's times argument: two timespecs (utimensat), two
// timevals (utimes, futimesat) or a utimbuf (utime), in the caller's
// widths; NULL means now.
func (c *call) times() ([]unix.Timespec, error) {
	now := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
	addr := c.value(sysargs.Pointer, 0)
	if addr == 0 {
		return now, nil
	}
	word := 4
	if c.sys.Is64() || c.sys.Name == "utimensat_time64" {
		word = 8 // x32 has 64-bit time_t too
	}
	get := func(b []byte, i int) int64 {
		if word == 8 {
			return int64(ne.Uint64(b[8*i:]))
		}
		return int64(int32(ne.Uint32(b[4*i:])))
	}
	switch c.sys.Name {
	case "utime":
		b := make([]byte, 2*word)
		if err := c.read(b, addr); err != nil {
			return nil, err
		}
		return []unix.Timespec{{Sec: get(b, 0)}, {Sec: get(b, 1)}}, nil
	case "utimes", "futimesat":
		b := make([]byte, 4*word)
		if err := c.read(b, addr); err != nil {
			return nil, err
		}
		ts := make([]unix.Timespec, 2)
		for i := range ts {
			usec := get(b, 2*i+1)
			if usec < 0 || usec >= 1e6 {
				return nil, unix.EINVAL
			}
			ts[i] = unix.Timespec{Sec: get(b, 2*i), Nsec: usec * 1000}
		}
		return ts, nil
	}
	b := make([]byte, 4*word)
	if err := c.read(b, addr); err != nil {
		return nil, err
	}
	ts := make([]unix.Timespec, 2)
	for i := range ts {
		nsec := get(b, 2*i+1)
		if word == 4 {
			// A 32-bit tv_nsec: UTIME_NOW and UTIME_OMIT fit in it.
			nsec = int64(uint32(nsec))
		}
		if nsec != unix.UTIME_NOW && nsec != unix.UTIME_OMIT && (nsec < 0 || nsec >= 1e9) {
			return nil, unix.EINVAL
		}
		ts[i] = unix.Timespec{Sec: get(b, 2*i), Nsec: nsec}
	}
	return ts, nil
}

// setxattrCall carries out setxattr, lsetxattr and fsetxattr.
func (fs *Files) setxattrCall(c *call) seccompstream.Response {
	name, err := c.xattrName()
	if err != nil {
		return answer(0, err)
	}
	size := c.value(sysargs.Size, 0)
	flags := c.int(sysargs.Hex, 0)
	if size > xattrSizeMax {
		return seccompstream.Errno(unix.E2BIG)
	}
	if flags&^(unix.XATTR_CREATE|unix.XATTR_REPLACE) != 0 {
		return seccompstream.Errno(unix.EINVAL)
	}
	val := make([]byte, size)
	if size > 0 {
		if err := c.read(val, c.value(sysargs.Buffer, 0)); err != nil {
			return answer(0, err)
		}
	}
	err = c.onFile(0, c.sys.Name == "setxattr", func(fd int, _ *unix.Stat_t) error {
		return unix.Setxattr(procFD(fd), name, val, flags)
	})
	return c.fail(0, err)
}

// removexattrCall carries out removexattr, lremovexattr and fremovexattr.
func (fs *Files) removexattrCall(c *call) seccompstream.Response {
	name, err := c.xattrName()
	if err != nil {
		return answer(0, err)
	}
	err = c.onFile(0, c.sys.Name == "removexattr", func(fd int, _ *unix.Stat_t) error {
		return unix.Removexattr(procFD(fd), name)
	})
	return c.fail(0, err)
}

// inotifyCall carries out inotify_add_watch: the watch is added to the
// caller's inotify instance (a copy of its descriptor shares it) on the
// file the path leads to, which needs a readable location.
func (fs *Files) inotifyCall(c *call) seccompstream.Response {
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	mask := uint32(c.value(sysargs.Hex, 0))
	ino, err := c.getFD(c.int(sysargs.FD, 0))
	if err != nil {
		return answer(0, err)
	}
	defer ino.Close()
	var wd int
	err = c.object(p, want{access: accessRead, follow: mask&unix.IN_DONT_FOLLOW == 0}, false, true, func(fd int, _ *unix.Stat_t) error {
		return withFD(ino, func(ifd int) error {
			var err error
			// The path was resolved already: the watch goes on the file
			// the descriptor holds (a link itself for IN_DONT_FOLLOW).
			wd, err = unix.InotifyAddWatch(ifd, procFD(fd), mask&^unix.IN_DONT_FOLLOW)
			return err
		})
	})
	return c.fail(int64(wd), err)
}
