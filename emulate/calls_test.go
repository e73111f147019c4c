package emulate_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// A call the "calls" program makes: its name and how.
type callCase struct {
	name string
	do   func(w, ro string) error
}

func ptr(s string) uintptr {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	return uintptr(unsafe.Pointer(p))
}

func raw(nr uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != 0 {
		return e
	}
	return nil
}

// callCases run in W (writable) or in RO (readable only): every one must
// work in W and fail with EACCES in RO, changing nothing there. Each
// starts from W/f (a file, "content"), W/d (a directory) and W/l (a link
// to f), the same in RO. The legacy calls go through raw system calls,
// the *at ones through x/sys.
var callCases = []callCase{
	{"mkdir", func(w, _ string) error { return raw(unix.SYS_MKDIR, ptr(w+"/new"), 0o755) }},
	{"mkdirat", func(w, _ string) error { return unix.Mkdirat(unix.AT_FDCWD, w+"/new", 0o755) }},
	{"rmdir", func(w, _ string) error { return raw(unix.SYS_RMDIR, ptr(w+"/d")) }},
	{"unlink", func(w, _ string) error { return raw(unix.SYS_UNLINK, ptr(w+"/f")) }},
	{"unlinkat", func(w, _ string) error { return unix.Unlinkat(unix.AT_FDCWD, w+"/l", 0) }},
	{"unlinkat-dir", func(w, _ string) error { return unix.Unlinkat(unix.AT_FDCWD, w+"/d", unix.AT_REMOVEDIR) }},
	{"rename", func(w, _ string) error { return raw(unix.SYS_RENAME, ptr(w+"/f"), ptr(w+"/g")) }},
	{"renameat", func(w, _ string) error { return unix.Renameat(unix.AT_FDCWD, w+"/f", unix.AT_FDCWD, w+"/g") }},
	{"renameat2-exchange", func(w, _ string) error {
		return unix.Renameat2(unix.AT_FDCWD, w+"/f", unix.AT_FDCWD, w+"/d", unix.RENAME_EXCHANGE)
	}},
	{"link", func(w, _ string) error { return raw(unix.SYS_LINK, ptr(w+"/f"), ptr(w+"/hard")) }},
	{"linkat", func(w, _ string) error { return unix.Linkat(unix.AT_FDCWD, w+"/f", unix.AT_FDCWD, w+"/hard", 0) }},
	{"linkat-follow", func(w, _ string) error {
		return unix.Linkat(unix.AT_FDCWD, w+"/l", unix.AT_FDCWD, w+"/hard", unix.AT_SYMLINK_FOLLOW)
	}},
	{"symlink", func(w, _ string) error { return raw(unix.SYS_SYMLINK, ptr("/anywhere"), ptr(w+"/sym")) }},
	{"symlinkat", func(w, _ string) error { return unix.Symlinkat("/anywhere", unix.AT_FDCWD, w+"/sym") }},
	{"chmod", func(w, _ string) error { return raw(unix.SYS_CHMOD, ptr(w+"/f"), 0o600) }},
	{"fchmodat", func(w, _ string) error { return unix.Fchmodat(unix.AT_FDCWD, w+"/f", 0o600, 0) }},
	{"chmod-through-link", func(w, _ string) error { return raw(unix.SYS_CHMOD, ptr(w+"/l"), 0o600) }},
	{"chown", func(w, _ string) error { return raw(unix.SYS_CHOWN, ptr(w+"/f"), 1234, 1234) }},
	{"lchown", func(w, _ string) error { return raw(unix.SYS_LCHOWN, ptr(w+"/l"), 1234, 1234) }},
	{"fchownat", func(w, _ string) error { return unix.Fchownat(unix.AT_FDCWD, w+"/f", 1234, 1234, 0) }},
	{"truncate", func(w, _ string) error { return unix.Truncate(w+"/f", 2) }},
	{"utimensat", func(w, _ string) error {
		return unix.UtimesNanoAt(unix.AT_FDCWD, w+"/f", []unix.Timespec{{Sec: 1000}, {Sec: 2000}}, 0)
	}},
	{"utimes", func(w, _ string) error {
		tv := [2]unix.Timeval{{Sec: 1000}, {Sec: 2000}}
		return raw(unix.SYS_UTIMES, ptr(w+"/f"), uintptr(unsafe.Pointer(&tv)))
	}},
	{"utime", func(w, _ string) error {
		ub := unix.Utimbuf{Actime: 1000, Modtime: 2000}
		return raw(unix.SYS_UTIME, ptr(w+"/f"), uintptr(unsafe.Pointer(&ub)))
	}},
	{"futimesat", func(w, _ string) error {
		tv := [2]unix.Timeval{{Sec: 1000}, {Sec: 2000}}
		return raw(unix.SYS_FUTIMESAT, atFDCWD, ptr(w+"/f"), uintptr(unsafe.Pointer(&tv)))
	}},
	{"mknod-fifo", func(w, _ string) error { return raw(unix.SYS_MKNOD, ptr(w+"/fifo"), unix.S_IFIFO|0o644, 0) }},
	{"mknodat-file", func(w, _ string) error { return unix.Mknodat(unix.AT_FDCWD, w+"/node", unix.S_IFREG|0o644, 0) }},
	{"creat", func(w, _ string) error {
		fd, _, e := unix.Syscall(unix.SYS_CREAT, ptr(w+"/created"), 0o644, 0)
		if e != 0 {
			return e
		}
		return unix.Close(int(fd))
	}},
	{"open-trunc", func(w, _ string) error {
		fd, err := unix.Open(w+"/f", unix.O_WRONLY|unix.O_TRUNC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}},
	{"open-append", func(w, _ string) error {
		fd, err := unix.Open(w+"/f", unix.O_WRONLY|unix.O_APPEND, 0)
		if err == nil {
			_, err = unix.Write(fd, []byte("more"))
			unix.Close(fd)
		}
		return err
	}},
	{"open-tmpfile", func(w, _ string) error {
		fd, err := unix.Open(w+"/d", unix.O_RDWR|unix.O_TMPFILE, 0o600)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}},
	{"setxattr", func(w, _ string) error { return unix.Setxattr(w+"/f", "user.test", []byte("v"), 0) }},
	{"access-W_OK", func(w, _ string) error { return unix.Faccessat(unix.AT_FDCWD, w+"/f", unix.W_OK, 0) }},
	{"fchmod-of-readonly-fd", func(w, _ string) error {
		fd, err := unix.Open(w+"/readable", unix.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		defer unix.Close(fd)
		return unix.Fchmod(fd, 0o600)
	}},
	{"futimens-of-readonly-fd", func(w, _ string) error {
		fd, err := unix.Open(w+"/readable", unix.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		defer unix.Close(fd)
		return unix.UtimesNanoAt(fd, "", []unix.Timespec{{Sec: 5}, {Sec: 5}}, unix.AT_EMPTY_PATH)
	}},
	// Moving between the two places needs both to be writable.
	{"rename-out", func(w, ro string) error { return unix.Rename(w+"/f", ro+"/moved") }},
	{"rename-in", func(w, ro string) error { return unix.Rename(ro+"/f", w+"/moved") }},
	{"link-in", func(w, ro string) error { return unix.Link(ro+"/f", w+"/hard") }},
}

func init() {
	// calls W RO: run every callCase in W and in RO (each from a fresh
	// copy of the files, made by the test before), print "name W: ERR RO: ERR".
	goPrograms["calls"] = func(args []string) int {
		w, ro := args[0], args[1]
		for i, c := range callCases {
			for _, where := range []struct{ label, dir, other string }{{"W", w, ro}, {"RO", ro, w}} {
				dir := fmt.Sprintf("%s/%d", where.dir, i)
				other := fmt.Sprintf("%s/%d", where.other, i)
				err := c.do(dir, other)
				fmt.Printf("%s %s: %s\n", c.name, where.label, errName(err))
			}
		}
		return 0
	}
}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errorsAs(err, &e) {
		return unix.ErrnoName(e)
	}
	return err.Error()
}

func errorsAs(err error, e *syscall.Errno) bool {
	for err != nil {
		if x, ok := err.(syscall.Errno); ok {
			*e = x
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// Every modifying call, legacy and *at forms: it works where the policy
// allows writing and fails with EACCES where it only allows reading,
// changing nothing there.
func TestModifyingCalls(t *testing.T) {
	w, ro := sectest.PublicDir(t), sectest.PublicDir(t)
	for i := range callCases {
		for _, base := range []string{w, ro} {
			d := fmt.Sprintf("%s/%d", base, i)
			os.Mkdir(d, 0o755)
			writeFile(t, d+"/f", "content", 0o644)
			writeFile(t, d+"/readable", "content", 0o644)
			os.Mkdir(d+"/d", 0o755)
			os.Symlink("f", d+"/l")
		}
	}
	before := snapshot(t, ro)
	res := sandbox(t, emulate.FilePolicy{Read: []string{"/"}, Write: []string{w}}, goProgram("calls", w, ro))
	if res.err != nil {
		t.Fatalf("calls: %v\n%s", res.err, res.out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(res.out), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		got[k] = v
	}
	for _, c := range callCases {
		wantW, wantRO := "ok", "EACCES"
		switch c.name {
		case "setxattr":
			if g := got[c.name+" W"]; g == "EOPNOTSUPP" || g == "ENOTSUP" {
				wantW = g // a file system without user xattrs
			}
		case "rename-out", "rename-in", "link-in":
			// Between the two places: refused both ways (a name would
			// appear in, or leave, the readable place, or a readable file
			// would gain a writable name).
			wantW = "EACCES"
		case "fchmod-of-readonly-fd", "futimens-of-readonly-fd":
			// RO/readable opened for reading: allowed; changing it: not.
		}
		if g := got[c.name+" W"]; g != wantW {
			t.Errorf("%s in W: %s, want %s", c.name, g, wantW)
		}
		if g := got[c.name+" RO"]; g != wantRO {
			t.Errorf("%s in RO: %s, want %s", c.name, g, wantRO)
		}
	}
	if after := snapshot(t, ro); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("RO changed:\n%s", diffLines(before, after))
	}
	// What the calls did in W.
	checks := map[string]func(d string) error{
		"chown": func(d string) error { return owner(d+"/f", 1234) },
		"lchown": func(d string) error {
			if err := owner(d+"/l", 1234); err != nil {
				return err
			}
			return owner(d+"/f", 0) // the link, not what it points to
		},
		"chmod-through-link": func(d string) error { return mode(d+"/f", 0o600) },
		"truncate":           func(d string) error { return size(d+"/f", 2) },
		"open-trunc":         func(d string) error { return size(d+"/f", 0) },
		"open-append":        func(d string) error { return size(d+"/f", 11) },
		"utimensat":          func(d string) error { return mtime(d+"/f", 2000) },
		"utimes":             func(d string) error { return mtime(d+"/f", 2000) },
		"utime":              func(d string) error { return mtime(d+"/f", 2000) },
		"futimesat":          func(d string) error { return mtime(d+"/f", 2000) },
		"mknod-fifo":         func(d string) error { return kind(d+"/fifo", unix.S_IFIFO) },
		"symlinkat": func(d string) error {
			if l, err := os.Readlink(d + "/sym"); err != nil || l != "/anywhere" {
				return fmt.Errorf("sym -> %q, %v", l, err)
			}
			return nil
		},
		"linkat-follow": func(d string) error { return kind(d+"/hard", unix.S_IFREG) },
		"renameat2-exchange": func(d string) error {
			return kind(d+"/f", unix.S_IFDIR)
		},
	}
	for i, c := range callCases {
		if check, ok := checks[c.name]; ok {
			if err := check(fmt.Sprintf("%s/%d", w, i)); err != nil {
				t.Errorf("%s did not do its work: %v", c.name, err)
			}
		}
	}
}

func lstat(p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	return st, err
}

func owner(p string, uid uint32) error {
	st, err := lstat(p)
	if err != nil || st.Uid != uid {
		return fmt.Errorf("%s: owner %d, %v; want %d", p, st.Uid, err, uid)
	}
	return nil
}

func mode(p string, m uint32) error {
	st, err := lstat(p)
	if err != nil || st.Mode&0o7777 != m {
		return fmt.Errorf("%s: mode %o, %v; want %o", p, st.Mode&0o7777, err, m)
	}
	return nil
}

func size(p string, n int64) error {
	st, err := lstat(p)
	if err != nil || st.Size != n {
		return fmt.Errorf("%s: size %d, %v; want %d", p, st.Size, err, n)
	}
	return nil
}

func mtime(p string, sec int64) error {
	st, err := lstat(p)
	if err != nil || st.Mtim.Sec != sec {
		return fmt.Errorf("%s: mtime %d, %v; want %d", p, st.Mtim.Sec, err, sec)
	}
	return nil
}

func kind(p string, k uint32) error {
	st, err := lstat(p)
	if err != nil || st.Mode&unix.S_IFMT != k {
		return fmt.Errorf("%s: type %o, %v; want %o", p, st.Mode&unix.S_IFMT, err, k)
	}
	return nil
}

func diffLines(a, b []string) string {
	var out []string
	in := map[string]bool{}
	for _, s := range a {
		in[s] = true
	}
	for _, s := range b {
		if !in[s] {
			out = append(out, "+ "+s)
		}
		delete(in, s)
	}
	for s := range in {
		out = append(out, "- "+s)
	}
	return strings.Join(out, "\n")
}

// atFDCWD is AT_FDCWD as a register value.
var atFDCWD = func() uintptr { v := unix.AT_FDCWD; return uintptr(v) }()

func init() {
	// xattrs FILE: the size query, the value, the list, on FILE (which has
	// user.k = "value" when the file system has user xattrs).
	goPrograms["xattrs"] = func(args []string) int {
		f := args[0]
		n, err := unix.Getxattr(f, "user.k", nil)
		if err != nil {
			fmt.Println("size query:", errName(err))
			return 0
		}
		buf := make([]byte, 64)
		m, err := unix.Getxattr(f, "user.k", buf)
		list := make([]byte, 256)
		l, lerr := unix.Listxattr(f, list)
		_, small := unix.Getxattr(f, "user.k", buf[:2])
		fmt.Printf("size %d value %q %v list %q %v small %s\n", n, buf[:max(m, 0)], err, list[:max(l, 0)], lerr, errName(small))
		return 0
	}
}

// The xattr reads: a size query with no buffer, the value, the list, and
// ERANGE for a buffer too small, as the kernel answers.
func TestXattrReads(t *testing.T) {
	dir := sectest.PublicDir(t)
	writeFile(t, dir+"/f", "x", 0o644)
	err := unix.Setxattr(dir+"/f", "user.k", []byte("value"), 0)
	sectest.RequireFeature(t, "user xattrs on the file system of "+os.TempDir(), "", err == nil)
	res := sandbox(t, emulate.FilePolicy{Read: append(emulate.SystemPaths(), dir)}, goProgram("xattrs", dir+"/f"))
	want := "size 5 value \"value\" <nil> list \"user.k\\x00\" <nil> small ERANGE\n"
	if res.err != nil || !strings.HasSuffix(res.out, want) {
		t.Errorf("xattrs: %v: %q, want %q", res.err, res.out, want)
	}
}

func init() {
	// readonly-opens RO: the writing opens that change nothing where only
	// reading is allowed.
	goPrograms["readonly-opens"] = func(args []string) int {
		ro := args[0]
		try := func(name, path string, flags int) {
			fd, err := unix.Open(path, flags, 0o644)
			if err == nil {
				unix.Close(fd)
			}
			fmt.Printf("%s: %s\n", name, errName(err))
		}
		try("rdonly-creat-existing", ro+"/f", unix.O_RDONLY|unix.O_CREAT)
		try("rdonly-creat-new", ro+"/new", unix.O_RDONLY|unix.O_CREAT)
		try("rdonly-creat-excl", ro+"/f", unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL)
		try("rdonly-append", ro+"/f", unix.O_RDONLY|unix.O_APPEND)
		try("wronly", ro+"/f", unix.O_WRONLY)
		try("dev-null-trunc", "/dev/null", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC)
		return 0
	}
}

// Where only reading is allowed, opens that change nothing work: an
// existing file with O_RDONLY|O_CREAT (a lock file), O_RDONLY|O_APPEND,
// and /dev/null for writing; the rest is refused and creates nothing.
func TestReadOnlyOpens(t *testing.T) {
	ro := sectest.PublicDir(t)
	writeFile(t, ro+"/f", "content", 0o644)
	res := sandbox(t, emulate.FilePolicy{Read: []string{"/"}}, goProgram("readonly-opens", ro))
	want := "rdonly-creat-existing: ok\nrdonly-creat-new: EACCES\nrdonly-creat-excl: EACCES\nrdonly-append: ok\nwronly: EACCES\ndev-null-trunc: ok\n"
	if res.err != nil || !strings.HasSuffix(res.out, want) {
		t.Errorf("%v:\n%s\nwant\n%s", res.err, res.out, want)
	}
	if _, err := os.Stat(ro + "/new"); err == nil {
		t.Error("ro/new was created")
	}
}

func init() {
	// looks ROOT: what looking needs, under read ROOT/ro: statfs, readlink,
	// access, the directories above a policy path (stat yes, list no), a
	// working directory there and relative paths from it.
	goPrograms["looks"] = func(args []string) int {
		root := args[0]
		ro := root + "/ro"
		var a, b unix.Statfs_t
		fd, err := unix.Open(ro+"/f", unix.O_RDONLY, 0)
		if err != nil {
			fmt.Println("open:", err)
			return 1
		}
		unix.Fstatfs(fd, &b)
		err = unix.Statfs(ro+"/f", &a)
		// Free blocks and inodes change as others write: the rest may not.
		a.Bfree, a.Bavail, a.Ffree, b.Bfree, b.Bavail, b.Ffree = 0, 0, 0, 0, 0, 0
		fmt.Printf("statfs: %s same=%v\n", errName(err), a == b)
		buf := make([]byte, 64)
		n, err := unix.Readlink(ro+"/l", buf)
		fmt.Printf("readlink: %s %q\n", errName(err), buf[:max(n, 0)])
		_, err = unix.Readlink(ro+"/f", buf)
		fmt.Printf("readlink of a file: %s\n", errName(err))
		for _, m := range []struct {
			name string
			mode uint32
		}{{"F_OK", unix.F_OK}, {"R_OK", unix.R_OK}, {"W_OK", unix.W_OK}} {
			fmt.Printf("access %s: %s\n", m.name, errName(unix.Faccessat(unix.AT_FDCWD, ro+"/f", m.mode, 0)))
		}
		var st unix.Stat_t
		fmt.Printf("stat of the directory above: %s\n", errName(unix.Stat(root, &st)))
		_, err = os.ReadDir(root)
		fmt.Printf("list the directory above: %s\n", errName(err))
		fmt.Printf("stat of a sibling: %s\n", errName(unix.Stat(root+"/other", &st)))
		fmt.Printf("chdir above: %s\n", errName(unix.Chdir(root)))
		fd2, err := unix.Open("ro/f", unix.O_RDONLY, 0)
		if err == nil {
			unix.Close(fd2)
		}
		fmt.Printf("open relative: %s\n", errName(err))
		_, err = os.ReadFile("other/x")
		fmt.Printf("open relative outside: %s\n", errName(err))
		return 0
	}
}

// Looking needs less than reading: stat, statfs, readlink and access work
// at readable places and stat on the directories above them; listing those
// directories and anything beside does not.
func TestLooking(t *testing.T) {
	root := sectest.PublicDir(t)
	os.Mkdir(root+"/ro", 0o755)
	os.Mkdir(root+"/other", 0o755)
	writeFile(t, root+"/ro/f", "f", 0o644)
	writeFile(t, root+"/other/x", "x", 0o644)
	os.Symlink("f", root+"/ro/l")
	res := sandbox(t, emulate.FilePolicy{Read: append(emulate.SystemPaths(), root+"/ro")}, goProgram("looks", root))
	want := `statfs: ok same=true
readlink: ok "f"
readlink of a file: EINVAL
access F_OK: ok
access R_OK: ok
access W_OK: EACCES
stat of the directory above: ok
list the directory above: EACCES
stat of a sibling: EACCES
chdir above: ok
open relative: ok
open relative outside: EACCES
`
	if res.err != nil || !strings.HasSuffix(res.out, want) {
		t.Errorf("%v:\n%s\nwant\n%s", res.err, res.out, want)
	}
}
