package emulate

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// FilePolicy says which files a program may use: the paths it may read
// and the paths it may write, each a directory (with everything below it)
// or a file, as the program sees them (from its root). A path that may be
// written may be read too. Everything else is refused with EACCES; see the
// package documentation for what each call needs.
type FilePolicy struct {
	// Read are the paths whose files may be opened for reading, listed
	// and looked at (stat, readlink, getxattr).
	Read []string
	// Write are the paths where files may also be opened for writing,
	// created, removed, renamed, linked, and have their mode, owner, times
	// and extended attributes changed.
	Write []string
}

// Validate reports the first path of p that cannot be used, naming it: an
// empty one, one that is not absolute, one with a "." or ".." component,
// one with a NUL byte or one longer than the kernel's PATH_MAX.
func (p FilePolicy) Validate() error {
	for _, l := range []struct {
		name  string
		paths []string
	}{{"read", p.Read}, {"write", p.Write}} {
		for i, s := range l.paths {
			if err := checkPolicyPath(s); err != nil {
				return fmt.Errorf("emulate: file policy: %s[%d] %q: %w", l.name, i, s, err)
			}
		}
	}
	return nil
}

func checkPolicyPath(s string) error {
	switch {
	case s == "":
		return errors.New("empty path")
	case s[0] != '/':
		return errors.New("not an absolute path (paths are the program's, from its root)")
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("holds a NUL byte")
	case len(s) >= seccompstream.PathMax:
		return fmt.Errorf("longer than PATH_MAX (%d)", seccompstream.PathMax)
	}
	for c := range strings.SplitSeq(s, "/") {
		if c == "." || c == ".." {
			return fmt.Errorf("has a %q component", c)
		}
	}
	return nil
}

// clean returns p with its paths cleaned ("/a//b/" is "/a/b"), sorted and
// without duplicates.
func (p FilePolicy) clean() FilePolicy {
	cl := func(in []string) []string {
		out := make([]string, 0, len(in))
		for _, s := range in {
			out = append(out, path.Clean(s))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return FilePolicy{Read: cl(p.Read), Write: cl(p.Write)}
}

// Files carries out the file calls of programs under a FilePolicy, for
// them: it opens, looks at and changes files as the calling thread would
// (its root, mounts, credentials) after checking where the path leads, and
// hands back the result (a file descriptor, a value, an out-buffer). It
// refuses, with EACCES, whatever the policy does not allow, and with EPERM
// the calls that would go around it. See the package documentation for
// the calls and for what is guaranteed.
//
// Use it as a Handler for the calls it handles (ServeNotification), or put
// its routes in a seccompstream.Mux (Register); in both cases build the
// filter with AddRules, so that the calls reach it. Files is safe for
// concurrent use: Serve runs each call in its own handler, so a slow open
// (a FIFO, a network file system) holds up no other call.
type Files struct {
	policy FilePolicy
	onDeny func(context.Context, *seccompstream.Notification, seccompstream.Response)

	mu    sync.Mutex // guards views
	views map[rootKey]*view
}

// An Option configures NewFiles.
type Option func(*options)

type options struct {
	onDeny func(context.Context, *seccompstream.Notification, seccompstream.Response)
}

// OnDeny sets a function called for every call the policy refuses, with
// the refusal about to be sent (EACCES for a path outside the policy,
// EPERM for a call that would go around it, ENOSYS for a form of a call
// that is not emulated), before it is sent. It runs in the call's handler,
// concurrently for different calls, and may read the caller's memory (to
// show the path). Errors the kernel would have given anyway (ENOENT, a
// file's own permissions) are not refusals. Default: none.
func OnDeny(f func(ctx context.Context, n *seccompstream.Notification, r seccompstream.Response)) Option {
	return func(o *options) { o.onDeny = f }
}

// NewFiles returns the handlers of policy p. It fails, naming the path,
// when p does not Validate.
func NewFiles(p FilePolicy, opts ...Option) (*Files, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return &Files{policy: p.clean(), onDeny: o.onDeny, views: make(map[rootKey]*view)}, nil
}

// Policy returns the policy fs enforces, its paths cleaned.
func (fs *Files) Policy() FilePolicy {
	return FilePolicy{Read: slices.Clone(fs.policy.Read), Write: slices.Clone(fs.policy.Write)}
}

// fileCall is the handler of one system call name.
type fileCall func(fs *Files, c *call) seccompstream.Response

// fileCalls are the calls Files carries out, by name. Names missing from
// an ABI (stat64 on x86_64) are simply not routed there.
var fileCalls = map[string]fileCall{
	"open": (*Files).openCall, "openat": (*Files).openCall, "openat2": (*Files).openCall, "creat": (*Files).openCall,

	"stat": (*Files).statCall, "lstat": (*Files).statCall, "newfstatat": (*Files).statCall,
	"stat64": (*Files).statCall, "lstat64": (*Files).statCall, "fstatat64": (*Files).statCall,
	"statx":   (*Files).statxCall,
	"oldstat": (*Files).unsupported, "oldlstat": (*Files).unsupported,

	"access": (*Files).accessCall, "faccessat": (*Files).accessCall, "faccessat2": (*Files).accessCall,
	"readlink": (*Files).readlinkCall, "readlinkat": (*Files).readlinkCall,
	"statfs": (*Files).statfsCall, "statfs64": (*Files).statfsCall,

	"getxattr": (*Files).getxattrCall, "lgetxattr": (*Files).getxattrCall,
	"listxattr": (*Files).listxattrCall, "llistxattr": (*Files).listxattrCall,
	"setxattr": (*Files).setxattrCall, "lsetxattr": (*Files).setxattrCall, "fsetxattr": (*Files).setxattrCall,
	"removexattr": (*Files).removexattrCall, "lremovexattr": (*Files).removexattrCall, "fremovexattr": (*Files).removexattrCall,
	// The *xattrat calls (Linux 6.13) and file_getattr/file_setattr (6.17)
	// take paths too; programs fall back to the older calls on ENOSYS.
	"getxattrat": (*Files).unsupported, "setxattrat": (*Files).unsupported,
	"listxattrat": (*Files).unsupported, "removexattrat": (*Files).unsupported,
	"file_getattr": (*Files).unsupported, "file_setattr": (*Files).unsupported,

	"mkdir": (*Files).mkdirCall, "mkdirat": (*Files).mkdirCall,
	"mknod": (*Files).mknodCall, "mknodat": (*Files).mknodCall,
	"unlink": (*Files).unlinkCall, "unlinkat": (*Files).unlinkCall, "rmdir": (*Files).unlinkCall,
	"rename": (*Files).renameCall, "renameat": (*Files).renameCall, "renameat2": (*Files).renameCall,
	"link": (*Files).linkCall, "linkat": (*Files).linkCall,
	"symlink": (*Files).symlinkCall, "symlinkat": (*Files).symlinkCall,
	"chmod": (*Files).chmodCall, "fchmodat": (*Files).chmodCall, "fchmodat2": (*Files).chmodCall, "fchmod": (*Files).chmodCall,
	"chown": (*Files).chownCall, "lchown": (*Files).chownCall, "fchownat": (*Files).chownCall, "fchown": (*Files).chownCall,
	"chown32": (*Files).chownCall, "lchown32": (*Files).chownCall, "fchown32": (*Files).chownCall,
	"truncate": (*Files).truncateCall, "truncate64": (*Files).truncateCall,
	"utimensat": (*Files).utimesCall, "utimensat_time64": (*Files).utimesCall,
	"utime": (*Files).utimesCall, "utimes": (*Files).utimesCall, "futimesat": (*Files).utimesCall,

	"inotify_add_watch": (*Files).inotifyCall,
}

// Syscalls returns the names of the calls fs routes (Register) and makes
// the filter notify (AddRules), sorted: the calls it carries out, the ones
// it refuses because they would go around the policy (bypassCalls,
// pathCallsRefused) and the forms it does not emulate.
func (fs *Files) Syscalls() []string {
	names := make([]string, 0, len(fileCalls)+len(pathCallsRefused)+len(bypassCalls))
	for name := range fileCalls {
		names = append(names, name)
	}
	names = append(names, pathCallsRefused...)
	names = append(names, bypassCalls...)
	slices.Sort(names)
	return slices.Compact(names)
}

// Register routes every call of Syscalls in m to fs, on every ABI that has
// it. Like Mux.Handle it panics if one is routed already, except for the
// calls that every policy of this package refuses (io_uring_setup,
// ptrace, pidfd_getfd, ...), which two policies may share. It also adds a
// middleware (Mux.Use) that refuses the inode-changing ioctls of x32
// callers, which the filter cannot match (see AddRules); it answers no
// other call.
func (fs *Files) Register(m *seccompstream.Mux) {
	m.Use(refuseX32InodeIoctls(fs.onDeny))
	for name := range fileCalls {
		if knownName(name) {
			m.Handle(name, fs.route(name))
		}
	}
	for _, name := range pathCallsRefused {
		if knownName(name) {
			m.Handle(name, refuseRoute(fs.onDeny, name))
		}
	}
	registerBypasses(m, fs.onDeny)
}

func knownName(name string) bool {
	for _, a := range sysnames.Arches() {
		if _, ok := sysnames.Number(a, name); ok {
			return true
		}
	}
	return false
}

// route returns the Handler of the call name.
func (fs *Files) route(name string) seccompstream.Handler {
	h := fileCalls[name]
	return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return fs.serve(ctx, n, h)
	})
}

// ServeNotification carries out the file call n, or refuses it; a call
// that is not one of Syscalls gets ENOSYS.
func (fs *Files) ServeNotification(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
	s, ok := sysargs.Lookup(n.Arch, n.Syscall)
	if !ok {
		return seccompstream.Errno(unix.ENOSYS)
	}
	if h, ok := fileCalls[s.Name]; ok {
		return fs.serve(ctx, n, h)
	}
	if slices.Contains(pathCallsRefused, s.Name) || slices.Contains(bypassCalls, s.Name) {
		return refuse(ctx, n, fs.onDeny)
	}
	return seccompstream.Errno(unix.ENOSYS)
}

// serve runs the handler h for n.
func (fs *Files) serve(ctx context.Context, n *seccompstream.Notification, h fileCall) seccompstream.Response {
	c, ok := newCall(ctx, fs, n)
	if !ok {
		// A call the tables cannot describe on this ABI: nothing to check
		// its arguments by.
		return fs.deny(ctx, n, seccompstream.Errno(unix.ENOSYS))
	}
	defer c.close()
	r := h(fs, c)
	if c.denied {
		return fs.deny(ctx, n, r)
	}
	return r
}

func (fs *Files) deny(ctx context.Context, n *seccompstream.Notification, r seccompstream.Response) seccompstream.Response {
	if fs.onDeny != nil {
		fs.onDeny(ctx, n, r)
	}
	return r
}

// unsupported answers a form of a file call that Files does not carry
// out: ENOSYS, which programs take as "use another call".
func (fs *Files) unsupported(c *call) seccompstream.Response {
	c.denied = true
	return seccompstream.Errno(unix.ENOSYS)
}

// AddRules makes f notify every call of Syscalls (on each of f's ABIs that
// has it), so that they reach fs, and lets fstat-like calls that pass no
// path at all (newfstatat, fstatat64 and statx with a NULL path) run
// without a notification when f's default action is Allow. The other
// calls keep f's rules and default. It fails when one of these calls has
// an unconditional rule with another action in f already, when f's
// mismatch action lets calls of other ABIs run unseen (Allow, Log, Trace),
// and on kernels without SECCOMP_IOCTL_NOTIF_ADDFD (Linux 5.9), which
// emulated opens need (an error matching seccompstream.ErrNotSupported).
//
// The filter must have no other rule that lets these calls run: a
// conditional Allow added elsewhere for openat would win over AddRules'
// Notify and let those opens reach the kernel unchecked.
func (fs *Files) AddRules(f *filter.Filter) error {
	if err := checkKernel(); err != nil {
		return err
	}
	if err := checkMismatch(f, "file"); err != nil {
		return err
	}
	if err := notifyNames(f, fs.Syscalls()); err != nil {
		return err
	}
	if err := refuseInodeIoctls(f); err != nil {
		return err
	}
	if f.DefaultAction() == filter.Allow {
		return allowNullPathStats(f)
	}
	return nil
}

// checkKernel reports a kernel without what emulation needs: ADDFD (Linux
// 5.9) to hand over files, and with it openat2 (5.6) and pidfd_getfd (5.6).
func checkKernel() error {
	k, err := seccompstream.KernelFeatures()
	if err != nil {
		return fmt.Errorf("emulate: %w", err)
	}
	if !k.AddFD {
		return fmt.Errorf("emulate: handing files to the program needs SECCOMP_IOCTL_NOTIF_ADDFD (Linux 5.9): %w", seccompstream.ErrNotSupported)
	}
	return nil
}

// checkMismatch refuses a filter whose mismatch action lets calls of other
// ABIs run without the policy: Allow, Log, or Trace (a tracer may let
// them run).
func checkMismatch(f *filter.Filter, what string) error {
	a := f.MismatchAction()
	if a == filter.Allow || a == filter.Log || strings.HasPrefix(a.String(), "trace(") {
		return fmt.Errorf("emulate: the filter's mismatch action is %v: calls through other ABIs (x32) would reach the kernel without the %s policy", a, what)
	}
	return nil
}

// notifyNames adds a Notify rule to f for each name that one of f's ABIs
// has.
func notifyNames(f *filter.Filter, names []string) error {
	var here []string
	for _, name := range names {
		for _, a := range f.Arches() {
			if _, ok := sysnames.Number(a, name); ok {
				here = append(here, name)
				break
			}
		}
	}
	if err := f.Add(filter.Notify, here...); err != nil {
		return fmt.Errorf("emulate: %w", err)
	}
	return nil
}

// allowNullPathStats lets newfstatat, fstatat64 and statx whose path
// pointer is NULL run in the kernel: they read no path (they fail with
// EFAULT, or since Linux 6.11 with AT_EMPTY_PATH stat the descriptor, as
// fstat does). The path is the same argument on every ABI of f, checked
// here against internal/sysargs; a call where it is not stays notified.
func allowNullPathStats(f *filter.Filter) error {
	for _, name := range []string{"newfstatat", "fstatat64", "statx"} {
		reg, ok := -1, false
		for _, a := range f.Arches() {
			s, found := sysargs.LookupName(a, name)
			if !found {
				continue
			}
			i := s.Find(sysargs.Path)
			if i < 0 || (reg >= 0 && int(s.Params[i].Reg) != reg) {
				ok = false
				break
			}
			reg, ok = int(s.Params[i].Reg), true
		}
		if !ok {
			continue
		}
		if err := f.AddIf(filter.Allow, name, filter.Arg(reg).Eq(0)); err != nil {
			return fmt.Errorf("emulate: %w", err)
		}
	}
	return nil
}
