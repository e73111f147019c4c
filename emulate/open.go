package emulate

import (
	"encoding/binary"
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysargs"
)

// Open flags that write: an open with one of them needs a writable
// location. O_TMPFILE includes O_DIRECTORY, so it is tested whole.
const writeOpenFlags = unix.O_WRONLY | unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC | unix.O_APPEND

// openFlags reports what an open with flags needs of its location.
func openWant(flags int) want {
	if flags&unix.O_PATH != 0 {
		// O_PATH keeps only O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC: the
		// descriptor reads nothing, it names the file (fstat, *at calls,
		// fchdir).
		return want{access: accessMeta, follow: flags&unix.O_NOFOLLOW == 0}
	}
	w := want{access: accessRead, follow: flags&unix.O_NOFOLLOW == 0}
	if flags&unix.O_ACCMODE == unix.O_RDONLY {
		// O_APPEND without writing changes nothing.
		flags &^= unix.O_APPEND
	}
	if flags&writeOpenFlags != 0 || flags&unix.O_TMPFILE == unix.O_TMPFILE {
		w.access = accessWrite
		w.create = flags&unix.O_CREAT != 0 || flags&unix.O_TMPFILE == unix.O_TMPFILE
	}
	if flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
		// O_EXCL with O_CREAT never follows a final symbolic link: it
		// fails with EEXIST.
		w.follow = false
	}
	return w
}

// The resolve flags of openat2 that Files carries out:
// RESOLVE_NO_MAGICLINKS, which it always applies. Others get ENOSYS, so
// that the program resolves the path its own way (openat with O_NOFOLLOW
// step by step, as libraries do before Linux 5.6).
const emulatedResolve = unix.RESOLVE_NO_MAGICLINKS

// openCall carries out open, openat, openat2 and creat: the file is opened
// as the caller after its location was checked, and handed over with
// SECCOMP_IOCTL_NOTIF_ADDFD (close-on-exec when the caller asked for it).
func (fs *Files) openCall(c *call) seccompstream.Response {
	p, err := c.needPath(0)
	if err != nil {
		return answer(0, err)
	}
	var flags int
	var mode uint32
	switch c.sys.Name {
	case "creat":
		flags, mode = unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, uint32(c.value(sysargs.Mode, 0))
	case "openat2":
		how, err := c.openHow()
		if err != nil {
			c.denied = errors.Is(err, unix.ENOSYS)
			return answer(0, err)
		}
		flags, mode = int(how.Flags), uint32(how.Mode)
	default:
		flags, mode = int(uint32(c.value(sysargs.OpenFlags, 0))), uint32(c.value(sysargs.Mode, 0))
	}
	f, err := fs.open(c, p, flags, mode)
	if err != nil {
		return answer(0, err)
	}
	defer f.Close()
	var opts []seccompstream.AddFDOption
	if flags&unix.O_CLOEXEC != 0 {
		opts = append(opts, seccompstream.CloseOnExec())
	}
	var newfd int
	err = withFD(f, func(fd int) error {
		var err error
		newfd, err = c.n.AddFD(fd, opts...)
		return err
	})
	return answer(int64(newfd), err)
}

// openHow reads openat2's struct open_how and checks it as the kernel
// does: EINVAL for unknown flags, a mode without O_CREAT or O_TMPFILE or
// beyond 07777; E2BIG for a larger struct with non-zero extra bytes.
func (c *call) openHow() (unix.OpenHow, error) {
	size := c.value(sysargs.Size, 0)
	const ver0 = 24 // OPEN_HOW_SIZE_VER0
	switch {
	case size < ver0:
		return unix.OpenHow{}, unix.EINVAL
	case size > 4096: // PAGE_SIZE, the kernel's limit
		return unix.OpenHow{}, unix.E2BIG
	}
	buf := make([]byte, size)
	if err := c.read(buf, c.value(sysargs.OpenHow, 0)); err != nil {
		return unix.OpenHow{}, err
	}
	for _, b := range buf[ver0:] {
		if b != 0 {
			return unix.OpenHow{}, unix.E2BIG
		}
	}
	how := unix.OpenHow{
		Flags:   binary.NativeEndian.Uint64(buf[0:]),
		Mode:    binary.NativeEndian.Uint64(buf[8:]),
		Resolve: binary.NativeEndian.Uint64(buf[16:]),
	}
	const known = unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS |
		unix.RESOLVE_BENEATH | unix.RESOLVE_IN_ROOT | resolveCached
	creating := how.Flags&unix.O_CREAT != 0 || how.Flags&unix.O_TMPFILE == unix.O_TMPFILE
	switch {
	case how.Flags>>32 != 0 || how.Flags&^validOpenFlags != 0:
		return how, unix.EINVAL
	case how.Mode&^0o7777 != 0 || (how.Mode != 0 && !creating):
		return how, unix.EINVAL
	case how.Resolve&^known != 0:
		return how, unix.EINVAL
	case how.Resolve&unix.RESOLVE_BENEATH != 0 && how.Resolve&unix.RESOLVE_IN_ROOT != 0:
		return how, unix.EINVAL
	case how.Resolve&^emulatedResolve != 0:
		return how, unix.ENOSYS
	}
	return how, nil
}

// Flags openat2 accepts (open(2) ignores others).
const validOpenFlags = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC |
	unix.O_APPEND | unix.O_NONBLOCK | unix.O_DSYNC | unix.O_ASYNC | unix.O_DIRECT | 0o100000 | // O_LARGEFILE
	unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NOATIME | unix.O_CLOEXEC | unix.O_PATH |
	unix.O_TMPFILE | unix.O_SYNC

// open opens p for the caller with flags and mode once its location was
// checked (see "How a path is checked").
func (fs *Files) open(c *call, p pathArg, flags int, mode uint32) (*os.File, error) {
	t, err := c.target()
	if err != nil {
		return nil, err
	}
	w := openWant(flags)
	w.readOnlyOK = w.access == accessWrite
	var f *os.File
	err = t.WithCreds(w.create, func() error {
		return c.walk(p, w, func(pl *place) error {
			fl, name := flags|unix.O_NOFOLLOW, pl.name
			if name == "" {
				name = "."
			} else if pl.slash {
				if flags&unix.O_CREAT != 0 {
					return unix.EISDIR
				}
				fl |= unix.O_DIRECTORY
			}
			if pl.readOnly {
				return c.openReadOnly(pl, name, fl, &f)
			}
			var err error
			f, err = t.OpenBeneath(pl.dir, name, fl, mode)
			if errors.Is(err, unix.ELOOP) && (w.follow || pl.slash) {
				// The final name is a symbolic link (open(2) follows it).
				return errFollow
			}
			return err
		})
	})
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, err
	}
	return f, nil
}

// RESOLVE_CACHED (Linux 5.12), which x/sys does not name.
const resolveCached = 0x20

// openReadOnly carries out, at a place that may only be read, the two
// writing opens that change no file there: of a device node (the devices
// Target opens at all: null, zero, full, random, urandom, the pty
// multiplexer and terminals), whatever the flags; and of an existing file
// with O_RDONLY|O_CREAT (a lock file), which creates nothing. Anything else
// is refused. The name is looked at first (O_PATH), so that neither a
// FIFO's open nor O_CREAT or O_TRUNC happens before the check; the open
// then makes no file and truncates nothing, and its result must be the
// file looked at.
func (c *call) openReadOnly(pl *place, name string, flags int, out **os.File) error {
	t, err := c.target()
	if err != nil {
		return err
	}
	obj, st, err := c.objectAt(pl, false)
	if err != nil {
		if err == errFollow || errors.Is(err, unix.ELOOP) {
			return errFollow
		}
		if errors.Is(err, unix.ENOENT) {
			return c.deny()
		}
		return err
	}
	obj.Close()
	existing := flags&unix.O_ACCMODE == unix.O_RDONLY && flags&(unix.O_TRUNC|unix.O_EXCL) == 0 && flags&unix.O_TMPFILE != unix.O_TMPFILE
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
	case unix.S_IFLNK:
		return errFollow
	case unix.S_IFREG:
		if !existing {
			return c.deny()
		}
	default:
		return c.deny()
	}
	f, err := t.OpenBeneath(pl.dir, name, flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_TRUNC), 0)
	if err != nil {
		return err
	}
	var got unix.Stat_t
	if err := withFD(f, func(fd int) error { return unix.Fstat(fd, &got) }); err != nil || got.Dev != st.Dev || got.Ino != st.Ino {
		f.Close()
		return c.deny()
	}
	*out = f
	return nil
}
