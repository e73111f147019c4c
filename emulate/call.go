package emulate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysargs"
)

// call is one notified call being carried out: its arguments as its ABI
// lays them out (internal/sysargs), and the Target and memory access it
// needs, made on first use.
type call struct {
	ctx context.Context
	fs  *Files
	n   *seccompstream.Notification
	sys sysargs.Syscall

	t   *seccompstream.Target
	mem *seccompstream.Memory
	v   *view

	// denied is set when the answer is a refusal by the policy.
	denied bool
}

func newCall(ctx context.Context, fs *Files, n *seccompstream.Notification) (*call, bool) {
	s, ok := sysargs.Lookup(n.Arch, n.Syscall)
	if !ok {
		return nil, false
	}
	return &call{ctx: ctx, fs: fs, n: n, sys: s}, true
}

func (c *call) close() {
	if c.mem != nil {
		c.mem.Close()
	}
	if c.t != nil {
		c.t.Close()
	}
}

// target returns the pinned calling thread.
func (c *call) target() (*seccompstream.Target, error) {
	if c.t == nil {
		t, err := c.n.Target()
		if err != nil {
			return nil, err
		}
		c.t = t
	}
	return c.t, nil
}

// param returns the index in c.sys.Params of the nth (from 0) parameter
// of kind k, or -1.
func (c *call) param(k sysargs.Kind, nth int) int {
	for i, p := range c.sys.Params {
		if p.Kind == k {
			if nth == 0 {
				return i
			}
			nth--
		}
	}
	return -1
}

// value returns the value of the nth parameter of kind k as the kernel
// reads it (sign-extended for int kinds), or 0 when the call has none.
func (c *call) value(k sysargs.Kind, nth int) uint64 {
	i := c.param(k, nth)
	if i < 0 {
		return 0
	}
	return c.sys.Value(i, c.n.Args)
}

// int returns value as a C int.
func (c *call) int(k sysargs.Kind, nth int) int { return int(int32(c.value(k, nth))) }

// has reports whether the call has an nth parameter of kind k.
func (c *call) has(k sysargs.Kind, nth int) bool { return c.param(k, nth) >= 0 }

// pathArg is a path argument of the call, as read from the caller's
// memory, with the directory it is relative to.
type pathArg struct {
	dirfd int // the caller's descriptor, or unix.AT_FDCWD
	path  string
	null  bool // the pointer was NULL (path is "")
}

// path reads the nth Path parameter. A NULL pointer gives null set and no
// error: some calls take it (utimensat); the others fail with EFAULT, as
// the kernel's do.
func (c *call) path(nth int) (pathArg, error) {
	i := c.param(sysargs.Path, nth)
	if i < 0 {
		return pathArg{}, fmt.Errorf("emulate: %s has no path parameter %d: %w", c.sys.Name, nth, unix.EINVAL)
	}
	p := pathArg{dirfd: unix.AT_FDCWD}
	if r := c.sys.Params[i].Ref; r >= 0 {
		p.dirfd = int(int32(c.sys.Value(int(r), c.n.Args)))
	}
	addr := c.sys.Value(i, c.n.Args)
	if addr == 0 {
		p.null = true
		return p, nil
	}
	s, err := c.n.ReadString(addr, seccompstream.PathMax)
	if err != nil {
		return pathArg{}, err
	}
	p.path = s
	return p, nil
}

// needPath is path for calls that fail with EFAULT on a NULL path.
func (c *call) needPath(nth int) (pathArg, error) {
	p, err := c.path(nth)
	if err == nil && p.null {
		err = unix.EFAULT
	}
	return p, err
}

// str reads the nth String parameter (an xattr name, a symlink's
// contents), at most max bytes with the NUL.
func (c *call) str(nth, max int) (string, error) {
	addr := c.value(sysargs.String, nth)
	if addr == 0 {
		return "", unix.EFAULT
	}
	return c.n.ReadString(addr, max)
}

// memory returns access to the caller's memory, opened on first use.
func (c *call) memory() (*seccompstream.Memory, error) {
	if c.mem == nil {
		m, err := c.n.OpenMemory()
		if err != nil {
			return nil, err
		}
		c.mem = m
	}
	return c.mem, nil
}

// read reads len(p) bytes of the caller's memory at addr (a struct the
// call points to). A short read is EFAULT, as for the kernel.
func (c *call) read(p []byte, addr uint64) error {
	if addr == 0 {
		return unix.EFAULT
	}
	m, err := c.memory()
	if err != nil {
		return err
	}
	n, err := m.ReadAt(p, int64(addr))
	if err != nil || n < len(p) {
		if errors.Is(err, seccompstream.ErrGone) {
			return err
		}
		return unix.EFAULT
	}
	return nil
}

// writeOut writes the call's result into the out-buffer the caller gave
// (a struct stat, a link's contents, an xattr value), as the kernel would.
//
// It goes through Memory.UnsafeWriteAt. Of what makes that write unsafe in
// general, here: the caller asked for exactly these bytes at exactly this
// address, as the kernel would write them; its other threads may race the
// write as they could race the kernel's; the memory is the pinned caller's
// (the /proc file is checked against the notification before the write).
// What differs from the kernel: /proc/<tid>/mem writes a read-only private
// mapping of the caller (copy-on-write, its own pages) where the kernel
// would have failed with EFAULT. Shared read-only mappings are refused
// there too (EFAULT), so the write can only change the caller's own
// memory, never a file or another process.
func (c *call) writeOut(addr uint64, b []byte) error {
	if len(b) == 0 {
		return nil // a size query (getxattr with size 0): nothing to write
	}
	if addr == 0 {
		return unix.EFAULT
	}
	m, err := c.memory()
	if err != nil {
		return err
	}
	n, err := m.UnsafeWriteAt(b, addr)
	if errors.Is(err, seccompstream.ErrGone) {
		return err
	}
	if err != nil || n < len(b) {
		return unix.EFAULT
	}
	return nil
}

// getFD returns a copy of the caller's descriptor fd (pidfd_getfd).
func (c *call) getFD(fd int) (*os.File, error) {
	t, err := c.target()
	if err != nil {
		return nil, err
	}
	return t.GetFD(fd)
}

// answer turns err into the answer: Return(val) for nil, else the errno
// found in err (EPERM if none, as seccompstream.Error does).
func answer(val int64, err error) seccompstream.Response {
	if err != nil {
		return seccompstream.Error(err)
	}
	return seccompstream.Return(val)
}

// withFD runs fn with the descriptor number of f, without changing f's
// blocking mode (os.File.Fd would clear O_NONBLOCK, on the open file the
// caller shares).
func withFD(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// procFD is the supervisor's /proc path of its descriptor fd: calls made
// on it act on the very file fd holds (the magic link leads there and no
// further, a symbolic link included).
func procFD(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }
