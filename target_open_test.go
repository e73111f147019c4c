package seccompstream_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// selfTarget is goTarget through /proc/self/exe, which the launcher can
// execute whatever its uid: the test binary's own directory is only root's.
func selfTarget(t testing.TB, name string, args ...string) *exec.Cmd {
	cmd := goTarget(t, name, args...)
	cmd.Path = "/proc/self/exe"
	return cmd
}

// writeFile writes a file with the mode, owner and group given.
func writeFile(t testing.TB, path, content string, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// readOpen opens path as tg and returns what it reads.
func readOpen(tg *seccompstream.Target, dirfd int, path string) (string, error) {
	f, err := tg.Open(dirfd, path, unix.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
}

// A target running as uid 65534: Creds reports it, Open reads what it may
// and nothing else, and creates files with its ids and umask.
func TestTargetOpenUnprivileged(t *testing.T) {
	requireOpenat2(t)
	dir := sectest.PublicDir(t)
	writeFile(t, dir+"/secret", "root only", 0o600, 0, 0)
	writeFile(t, dir+"/public", "for all", 0o644, 0, 0)
	writeFile(t, dir+"/group", "for group 100", 0o640, 0, 100)
	if err := os.Mkdir(dir+"/closed", 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir+"/closed/inside", "behind a closed directory", 0o644, 0, 0)

	cmd := selfTarget(t, "target-call", "umask=027")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534, 100}}}
	p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "getppid"))
	n, tg := targetOf(t, p.s)

	c, err := tg.Creds()
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]uint32{"UID": c.UID, "EUID": c.EUID, "SUID": c.SUID, "FSUID": c.FSUID, "GID": c.GID, "EGID": c.EGID, "SGID": c.SGID, "FSGID": c.FSGID} {
		if v != 65534 {
			t.Errorf("Creds.%s = %d, want 65534", name, v)
		}
	}
	if len(c.Groups) != 2 || c.Groups[0] != 100 && c.Groups[1] != 100 {
		t.Errorf("Creds.Groups = %v, want 65534 and 100", c.Groups)
	}
	if c.CapEffective != 0 || c.CapPermitted != 0 || !c.SameUserNS || c.Umask != 0o027 || !c.NoNewPrivs {
		t.Errorf("Creds = %+v: want no capabilities, the supervisor's user namespace, umask 027, no_new_privs", c)
	}

	if _, err := readOpen(tg, unix.AT_FDCWD, dir+"/secret"); !errors.Is(err, unix.EACCES) {
		t.Errorf("Open of a root-only file: %v, want EACCES", err)
	}
	if _, err := readOpen(tg, unix.AT_FDCWD, dir+"/closed/inside"); !errors.Is(err, unix.EACCES) {
		t.Errorf("Open behind a directory the target cannot search: %v, want EACCES", err)
	}
	for _, f := range []struct{ name, want string }{{"public", "for all"}, {"group", "for group 100"}} {
		if got, err := readOpen(tg, unix.AT_FDCWD, dir+"/"+f.name); err != nil || got != f.want {
			t.Errorf("Open(%s) reads %q, %v; want %q", f.name, got, err, f.want)
		}
	}
	// Creation: the target's ids and umask; a directory it may not write.
	f, err := tg.Open(unix.AT_FDCWD, dir+"/closed/new", unix.O_WRONLY|unix.O_CREAT, 0o666)
	if !errors.Is(err, unix.EACCES) {
		t.Errorf("O_CREAT in a directory of root's: %v, want EACCES", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	f, err = tg.Open(unix.AT_FDCWD, dir+"/new", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	var st unix.Stat_t
	if err := unix.Stat(dir+"/new", &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 65534 || st.Gid != 65534 || st.Mode&0o7777 != 0o640 {
		t.Errorf("created file %d:%d mode %#o, want 65534:65534 0640", st.Uid, st.Gid, st.Mode&0o7777)
	}
	// Do and DoWithCreds act as the target too.
	for name, do := range map[string]func() error{
		"Do": func() error {
			return tg.Do(timeout(t), func() error { _, err := os.ReadFile(dir + "/secret"); return err })
		},
		"DoWithCreds": func() error {
			return tg.DoWithCreds(timeout(t), func() error { _, err := os.ReadFile(dir + "/secret"); return err })
		},
	} {
		if err := do(); !errors.Is(err, unix.EACCES) {
			t.Errorf("%s reading a root-only file: %v, want EACCES", name, err)
		}
	}
	respondZero(t, p.s, n)
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
}

// A target in a child user namespace, made by an unprivileged user (uid
// 65534) who maps itself to root there: the target has every capability in
// its namespace, which mean nothing outside it. Open must not read what
// the target cannot (copying its capabilities would).
func TestTargetOpenChildUserNS(t *testing.T) {
	requireOpenat2(t)
	dir := sectest.PublicDir(t)
	writeFile(t, dir+"/secret", "root only", 0o600, 0, 0)
	writeFile(t, dir+"/mine", "the user's", 0o600, 65534, 65534)

	cmd := selfTarget(t, "target-call", "userns=65534")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "getppid"))
	n, tg := targetOf(t, p.s)
	if n.PID == p.cmd.Process.Pid {
		t.Fatal("the call came from the process outside the user namespace")
	}
	c, err := tg.Creds()
	if err != nil {
		t.Fatal(err)
	}
	if c.SameUserNS || c.FSUID != 65534 || !c.CapEffective.Has(unix.CAP_DAC_OVERRIDE) || c.CapsInSupervisorNS() != 0 {
		t.Fatalf("Creds = %+v: want another user namespace, fsuid 65534 as the supervisor sees it, CAP_DAC_OVERRIDE in its namespace and none in ours", c)
	}
	if got, err := readOpen(tg, unix.AT_FDCWD, dir+"/secret"); !errors.Is(err, unix.EACCES) {
		t.Errorf("Open of a root-only file: %q, %v; want EACCES", got, err)
	}
	if got, err := readOpen(tg, unix.AT_FDCWD, dir+"/mine"); err != nil || got != "the user's" {
		t.Errorf("Open of the user's own file: %q, %v", got, err)
	}
	err = tg.Do(timeout(t), func() error { _, err := os.ReadFile(dir + "/secret"); return err })
	if !errors.Is(err, unix.EACCES) {
		t.Errorf("Do reading a root-only file: %v, want EACCES", err)
	}
	respondZero(t, p.s, n)
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
}

// Open follows open(2) for flags, symbolic links, directories and errors,
// and never leads out of the target's root or into the supervisor's /proc.
func TestTargetOpenSemantics(t *testing.T) {
	requireOpenat2(t)
	dir := t.TempDir()
	sub := dir + "/sub"
	os.Mkdir(sub, 0o755)
	writeFile(t, dir+"/a.txt", "a", 0o644, 0, 0)
	writeFile(t, sub+"/b.txt", "b", 0o644, 0, 0)
	os.Symlink("b.txt", sub+"/link")
	os.Symlink(dir+"/a.txt", sub+"/abslink")
	os.Symlink("/proc/self/fd/0", sub+"/magic")
	if err := unix.Mkfifo(dir+"/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	c, s := startNotify(t, "target-call", []string{"chdir=" + sub, "dirfd=" + dir}, "getppid")
	n, tg := targetOf(t, s)
	dirfd := int(n.Args[1])
	tpid := c.Cmd.Process.Pid

	reads := []struct {
		dirfd int
		path  string
		want  string
	}{
		{unix.AT_FDCWD, "b.txt", "b"},
		{unix.AT_FDCWD, "link", "b"},
		{unix.AT_FDCWD, "abslink", "a"},
		{unix.AT_FDCWD, "../a.txt", "a"},
		{unix.AT_FDCWD, "../sub/../sub/b.txt", "b"},
		{unix.AT_FDCWD, dir + "/a.txt", "a"},
		{dirfd, "a.txt", "a"},
		{dirfd, "sub/link", "b"},
		{dirfd, "../" + filepath.Base(dir) + "/a.txt", "a"},
		{unix.AT_FDCWD, "/proc/" + strconv.Itoa(tpid) + "/cmdline", ""}, // checked below
	}
	for _, r := range reads {
		got, err := readOpen(tg, r.dirfd, r.path)
		if err != nil {
			t.Errorf("Open(%d, %q): %v", r.dirfd, r.path, err)
		} else if r.want != "" && got != r.want {
			t.Errorf("Open(%d, %q) reads %q, want %q", r.dirfd, r.path, got, r.want)
		}
	}
	fails := []struct {
		dirfd int
		path  string
		flags int
		want  error
	}{
		{unix.AT_FDCWD, "", unix.O_RDONLY, unix.ENOENT},
		{unix.AT_FDCWD, "missing", unix.O_RDONLY, unix.ENOENT},
		{unix.AT_FDCWD, "link", unix.O_RDONLY | unix.O_NOFOLLOW, unix.ELOOP},
		{unix.AT_FDCWD, "b.txt", unix.O_RDONLY | unix.O_DIRECTORY, unix.ENOTDIR},
		{unix.AT_FDCWD, "b.txt/", unix.O_RDONLY, unix.ENOTDIR},
		{unix.AT_FDCWD, "b.txt", unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY, unix.EEXIST},
		{unix.AT_FDCWD, ".", unix.O_WRONLY, unix.EISDIR},
		{4000, "a.txt", unix.O_RDONLY, unix.EBADF},
		{-7, "a.txt", unix.O_RDONLY, unix.EBADF},
		{unix.AT_FDCWD, strings.Repeat("x/", seccompstream.PathMax/2), unix.O_RDONLY, unix.ENAMETOOLONG},
		// Magic links: refused.
		{unix.AT_FDCWD, "/proc/" + strconv.Itoa(tpid) + "/root/etc/passwd", unix.O_RDONLY, unix.ELOOP},
		{unix.AT_FDCWD, "/proc/" + strconv.Itoa(tpid) + "/fd/0", unix.O_RDONLY, unix.ELOOP},
		{unix.AT_FDCWD, "magic", unix.O_RDONLY, unix.ELOOP},
		// The supervisor's own /proc.
		{unix.AT_FDCWD, "/proc/self/status", unix.O_RDONLY, seccompstream.ErrSupervisorView},
		{unix.AT_FDCWD, "/proc/self/mem", unix.O_RDWR, seccompstream.ErrSupervisorView},
		{unix.AT_FDCWD, "/proc/self/environ", unix.O_RDONLY, seccompstream.ErrSupervisorView},
		{unix.AT_FDCWD, "/proc/self", unix.O_PATH, seccompstream.ErrSupervisorView},
		{unix.AT_FDCWD, "/proc/self/", unix.O_RDONLY, seccompstream.ErrSupervisorView},
		{unix.AT_FDCWD, "/proc/thread-self/status", unix.O_RDONLY, seccompstream.ErrSupervisorView},
		{unix.AT_FDCWD, "/proc/mounts", unix.O_RDONLY, seccompstream.ErrSupervisorView},
		{unix.AT_FDCWD, "/proc/" + strconv.Itoa(os.Getpid()) + "/mem", unix.O_RDONLY, seccompstream.ErrSupervisorView},
		{unix.AT_FDCWD, fmt.Sprintf("/proc/%d/task/%d/environ", os.Getpid(), os.Getpid()), unix.O_RDONLY, seccompstream.ErrSupervisorView},
		{unix.AT_FDCWD, fmt.Sprintf("/proc/%d/status", unix.Gettid()), unix.O_RDONLY, seccompstream.ErrSupervisorView},
	}
	for _, f := range fails {
		got, err := tg.Open(f.dirfd, f.path, f.flags, 0)
		if err == nil {
			got.Close()
		}
		if !errors.Is(err, f.want) {
			t.Errorf("Open(%d, %.40q, %#x): %v, want %v", f.dirfd, f.path, f.flags, err, f.want)
		}
	}
	// The target's own /proc entries are not the supervisor's.
	if got, err := readOpen(tg, unix.AT_FDCWD, "/proc/"+strconv.Itoa(tpid)+"/status"); err != nil || !strings.Contains(got, "\nPid:\t"+strconv.Itoa(tpid)+"\n") {
		t.Errorf("Open of the target's /proc status: %v; %.80q", err, got)
	}
	for _, path := range []string{"/proc/cpuinfo", "/proc/sys/kernel/ostype", "/dev/null", "/dev/zero", "/dev/urandom"} {
		if f, err := tg.Open(unix.AT_FDCWD, path, unix.O_RDONLY, 0); err != nil {
			t.Errorf("Open(%s): %v", path, err)
		} else {
			f.Close()
		}
	}
	// O_PATH|O_NOFOLLOW opens the link itself.
	f, err := tg.Open(unix.AT_FDCWD, "link", unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Fstat(int(f.Fd()), &st)
	f.Close()
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("O_PATH|O_NOFOLLOW opened mode %#o, want a symbolic link", st.Mode)
	}
	// Flags open(2) ignores, a mode without O_CREAT: ignored.
	if f, err := tg.Open(unix.AT_FDCWD, "b.txt", unix.O_RDONLY|0x40000000, 0xffffffff); err != nil {
		t.Errorf("Open with an unknown flag and a stray mode: %v", err)
	} else {
		f.Close()
	}
	// O_TRUNC, O_APPEND, O_TMPFILE.
	f, err = tg.Open(dirfd, "a.txt", unix.O_WRONLY|unix.O_TRUNC|unix.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("A")
	f.Close()
	if b, _ := os.ReadFile(dir + "/a.txt"); string(b) != "A" {
		t.Errorf("after O_TRUNC and a write: %q", b)
	}
	f, err = tg.Open(dirfd, ".", unix.O_TMPFILE|unix.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("O_TMPFILE: %v", err)
	}
	f.Close()
	// The supervisor's descriptor is close-on-exec whatever flags say.
	f, err = tg.Open(unix.AT_FDCWD, "b.txt", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl, _ := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); fl&unix.FD_CLOEXEC == 0 {
		t.Error("Open's file is not close-on-exec")
	}
	f.Close()
	respondZero(t, s, n)
	exitZero(t, c)
}

// Device nodes other than the harmless ones are refused: the supervisor's
// device cgroup would apply, not the target's.
func TestTargetOpenDevices(t *testing.T) {
	requireOpenat2(t)
	dir := t.TempDir()
	for _, d := range []struct {
		name         string
		mode         uint32
		major, minor uint32
	}{{"mem", unix.S_IFCHR, 1, 1}, {"loop", unix.S_IFBLK, 7, 0}, {"tty", unix.S_IFCHR, 5, 0}, {"null", unix.S_IFCHR, 1, 3}} {
		if err := unix.Mknod(dir+"/"+d.name, d.mode|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
			t.Fatalf("mknod %s: %v", d.name, err)
		}
	}
	c, s := startNotify(t, "target-call", nil, "getppid")
	n, tg := targetOf(t, s)
	for _, name := range []string{"mem", "loop", "tty"} {
		f, err := tg.Open(unix.AT_FDCWD, dir+"/"+name, unix.O_RDONLY, 0)
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, seccompstream.ErrSupervisorView) || !errors.Is(err, unix.EACCES) {
			t.Errorf("Open of device %s: %v, want ErrSupervisorView (EACCES)", name, err)
		}
		// O_PATH opens no device.
		f, err = tg.Open(unix.AT_FDCWD, dir+"/"+name, unix.O_PATH, 0)
		if err != nil {
			t.Errorf("O_PATH open of device %s: %v", name, err)
		} else {
			f.Close()
		}
	}
	f, err := tg.Open(unix.AT_FDCWD, dir+"/null", unix.O_WRONLY, 0)
	if err != nil {
		// A nodev /tmp refuses every device node.
		if !errors.Is(err, unix.EACCES) {
			t.Errorf("Open of a null device node: %v", err)
		}
	} else {
		f.Close()
	}
	respondZero(t, s, n)
	exitZero(t, c)
}

// A FIFO opened without O_NONBLOCK waits for its other end, as open(2)
// does; the wait ends with ErrGone when the target is killed.
func TestTargetOpenFIFO(t *testing.T) {
	requireOpenat2(t)
	dir := t.TempDir()
	fifo := dir + "/fifo"
	if err := unix.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	c, s := startNotify(t, "target-call", nil, "getppid")
	n, tg := targetOf(t, s)
	type result struct {
		f   *os.File
		err error
	}
	opened := make(chan result, 1)
	go func() {
		f, err := tg.Open(unix.AT_FDCWD, fifo, unix.O_RDONLY, 0)
		opened <- result{f, err}
	}()
	select {
	case r := <-opened:
		t.Fatalf("Open of a FIFO without a writer returned at once: %v", r.err)
	case <-time.After(100 * time.Millisecond):
	}
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("through the fifo")
	w.Close()
	r := <-opened
	if r.err != nil {
		t.Fatalf("Open of a FIFO: %v", r.err)
	}
	b, _ := io.ReadAll(r.f)
	r.f.Close()
	if string(b) != "through the fifo" {
		t.Errorf("read %q from the FIFO", b)
	}
	// Nonblocking: at once.
	if f, err := tg.Open(unix.AT_FDCWD, fifo, unix.O_RDONLY|unix.O_NONBLOCK, 0); err != nil {
		t.Errorf("O_NONBLOCK open of a FIFO: %v", err)
	} else {
		f.Close()
	}
	if _, err := tg.Open(unix.AT_FDCWD, fifo, unix.O_WRONLY|unix.O_NONBLOCK, 0); !errors.Is(err, unix.ENXIO) {
		t.Errorf("O_WRONLY|O_NONBLOCK open of a FIFO without a reader: %v, want ENXIO", err)
	}

	before := threadCount(t)
	for _, mode := range []int{unix.O_RDONLY, unix.O_WRONLY} {
		go func() {
			f, err := tg.Open(unix.AT_FDCWD, fifo, mode, 0)
			opened <- result{f, err}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	// Both ends now: the two opens meet.
	for range 2 {
		select {
		case r := <-opened:
			if r.err != nil {
				t.Fatalf("Open of both ends: %v", r.err)
			}
			r.f.Close()
		case <-time.After(60 * time.Second):
			t.Fatal("the two ends of the FIFO did not meet")
		}
	}
	go func() {
		f, err := tg.Open(unix.AT_FDCWD, fifo, unix.O_WRONLY, 0)
		opened <- result{f, err}
	}()
	time.Sleep(50 * time.Millisecond)
	c.Cmd.Process.Kill()
	c.Wait()
	select {
	case r := <-opened:
		if !errors.Is(r.err, seccompstream.ErrGone) {
			t.Fatalf("Open of a FIFO for a killed target: %v, want ErrGone", r.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Open of a FIFO hangs after the target was killed")
	}
	waitThreads(t, before)
	_ = n
}

func TestTargetOpenParent(t *testing.T) {
	requireOpenat2(t)
	dir := sectest.PublicDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(dir+"/sub", 0o777)
	os.Chmod(dir+"/sub", 0o777)
	cmd := selfTarget(t, "target-call", "umask=022", "chdir="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "getppid"))
	n, tg := targetOf(t, p.s)

	for _, c := range []struct {
		path, name string
		slash      bool
	}{
		{"sub/new/", "new", true},
		{"new", "new", false},
		{dir + "//sub//x", "x", false},
		{"/x", "x", false},
	} {
		pa, err := tg.OpenParent(unix.AT_FDCWD, c.path)
		if err != nil {
			t.Errorf("OpenParent(%q): %v", c.path, err)
			continue
		}
		if pa.Name != c.name || pa.TrailingSlash != c.slash {
			t.Errorf("OpenParent(%q) = %q, trailing slash %v; want %q, %v", c.path, pa.Name, pa.TrailingSlash, c.name, c.slash)
		}
		pa.Close()
	}
	for _, path := range []string{"/", "//", "sub/.", "sub/..", ".", ".."} {
		if pa, err := tg.OpenParent(unix.AT_FDCWD, path); !errors.Is(err, seccompstream.ErrNoFinalName) {
			if err == nil {
				pa.Close()
			}
			t.Errorf("OpenParent(%q): %v, want ErrNoFinalName", path, err)
		}
	}
	if _, err := tg.OpenParent(unix.AT_FDCWD, "/proc/self/attr"); !errors.Is(err, seccompstream.ErrSupervisorView) {
		t.Errorf("OpenParent in the supervisor's /proc: %v, want ErrSupervisorView", err)
	}
	// mkdirat as the target, on one thread.
	err := tg.DoWithCreds(timeout(t), func() error {
		pa, err := tg.OpenParent(unix.AT_FDCWD, "sub/made/")
		if err != nil {
			return err
		}
		defer pa.Close()
		return unix.Mkdirat(int(pa.Dir.Fd()), pa.Name, 0o777)
	})
	if err != nil {
		t.Fatalf("mkdirat as the target: %v", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir+"/sub/made", &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 65534 || st.Gid != 65534 || st.Mode&0o7777 != 0o755 {
		t.Errorf("made directory %d:%d %#o, want 65534:65534 0755", st.Uid, st.Gid, st.Mode&0o7777)
	}
	respondZero(t, p.s, n)
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
}

// emulateOpen answers an open or openat notification by opening the file
// as the target and installing it in the target.
func emulateOpen(s *seccompstream.Stream, n *seccompstream.Notification) error {
	dirfd, addr, flags, mode := unix.AT_FDCWD, n.Args[0], n.Args[1], n.Args[2]
	if n.SyscallName() == "openat" {
		dirfd, addr, flags, mode = int(int32(n.Args[0])), n.Args[1], n.Args[2], n.Args[3]
	}
	path, err := n.ReadString(addr, seccompstream.PathMax)
	if err != nil {
		return s.Respond(n, seccompstream.Error(err))
	}
	tg, err := n.Target()
	if err != nil {
		return s.Respond(n, seccompstream.Error(err))
	}
	defer tg.Close()
	f, err := tg.Open(dirfd, path, int(flags), uint32(mode))
	if err != nil {
		return s.Respond(n, seccompstream.Error(err))
	}
	defer f.Close()
	var opts []seccompstream.AddFDOption
	if flags&unix.O_CLOEXEC != 0 {
		opts = append(opts, seccompstream.CloseOnExec())
	}
	_, err = s.RespondFD(n, int(f.Fd()), opts...)
	return err
}

// serveEmulated emulates every open and openat of the stream's targets and
// lets the kernel run the rest, until the stream ends.
func serveEmulated(t *testing.T, s *seccompstream.Stream) (emulated int) {
	t.Helper()
	for n, err := range s.All(timeout(t)) {
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		switch n.SyscallName() {
		case "open", "openat":
			emulated++
			err = emulateOpen(s, n)
		default:
			err = s.Respond(n, seccompstream.Continue())
		}
		if err != nil && !errors.Is(err, seccompstream.ErrGone) {
			t.Fatalf("answering %v: %v", n, err)
		}
	}
	return emulated
}

// Every open of cat emulated: Open as the target, RespondFD. Relative
// paths start from its working directory.
func TestTargetEmulateCat(t *testing.T) {
	requireAddFD(t)
	requireOpenat2(t)
	busybox := sectest.RequireTool(t, "busybox")
	dir := t.TempDir()
	os.Mkdir(dir+"/sub", 0o755)
	writeFile(t, dir+"/sub/rel.txt", "relative\n", 0o644, 0, 0)
	writeFile(t, dir+"/up.txt", "up\n", 0o644, 0, 0)
	writeFile(t, dir+"/abs.txt", "absolute\n", 0o644, 0, 0)
	cmd := exec.Command(busybox, "cat", "rel.txt", "../up.txt", dir+"/abs.txt")
	cmd.Dir = dir + "/sub"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "open", "openat"))
	emulated := serveEmulated(t, p.s)
	if err := p.wait(); err != nil {
		t.Fatalf("cat: %v; output:\n%s", err, out.String())
	}
	if want := "relative\nup\nabsolute\n"; out.String() != want {
		t.Fatalf("cat printed %q, want %q", out.String(), want)
	}
	if emulated < 3 {
		t.Fatalf("%d opens emulated, want at least 3", emulated)
	}
}

// A chrooted shell: its absolute paths, relative paths and symbolic links
// (absolute, and ../ climbing past its root) all stay in its root.
func TestTargetEmulateChroot(t *testing.T) {
	requireAddFD(t)
	requireOpenat2(t)
	busybox := sectest.RequireTool(t, "busybox")
	root := t.TempDir()
	for _, d := range []string{"bin", "etc", "sub"} {
		os.Mkdir(root+"/"+d, 0o755)
	}
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root+"/bin/busybox", bb, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root+"/etc/hello", "chroot hello\n", 0o644, 0, 0)
	writeFile(t, root+"/etc/passwd", "chroot-passwd\n", 0o644, 0, 0)
	writeFile(t, root+"/sub/rel", "chroot rel\n", 0o644, 0, 0)
	os.Symlink("../../../../etc/passwd", root+"/sub/evil")
	os.Symlink("/etc/passwd", root+"/abs")
	script := "/bin/busybox cat /etc/hello; cd /sub && /bin/busybox cat rel evil ../../../etc/passwd /abs"
	cmd := exec.Command(busybox, "chroot", root, "/bin/busybox", "sh", "-c", script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "open", "openat"))
	emulated := serveEmulated(t, p.s)
	if err := p.wait(); err != nil {
		t.Fatalf("chrooted shell: %v; output:\n%s", err, out.String())
	}
	if emulated < 5 {
		t.Errorf("%d opens emulated, want at least 5", emulated)
	}
	want := "chroot hello\nchroot rel\n" + strings.Repeat("chroot-passwd\n", 3)
	if out.String() != want {
		t.Fatalf("chrooted shell printed %q, want %q", out.String(), want)
	}
}

// O_CREAT as open(2) has it: a dangling symbolic link is followed and its
// target created (in the target's view), EISDIR for a directory or a path
// ending in "/", and the errors of a missing directory or a link loop.
func TestTargetOpenCreate(t *testing.T) {
	requireOpenat2(t)
	dir := t.TempDir()
	sub := dir + "/sub"
	os.Mkdir(sub, 0o755)
	writeFile(t, sub+"/b.txt", "b", 0o644, 0, 0)
	for link, to := range map[string]string{
		"dang":    "made",
		"chain":   "chain2",
		"chain2":  "chainmade",
		"absdang": dir + "/absmade",
		"up":      "../upmade",
		"bad":     "nodir/x",
		"loop1":   "loop2",
		"loop2":   "loop1",
		"nofoll":  "nofollmade",
		"excl":    "exclmade",
	} {
		if err := os.Symlink(to, sub+"/"+link); err != nil {
			t.Fatal(err)
		}
	}
	c, s := startNotify(t, "target-call", []string{"chdir=" + sub}, "getppid")
	n, tg := targetOf(t, s)
	const wr = unix.O_WRONLY | unix.O_CREAT
	for _, c := range []struct{ path, made string }{
		{"dang", sub + "/made"},
		{"chain", sub + "/chainmade"},
		{"absdang", dir + "/absmade"},
		{"up", dir + "/upmade"},
		{"new", sub + "/new"},
	} {
		f, err := tg.Open(unix.AT_FDCWD, c.path, wr, 0o600)
		if err != nil {
			t.Errorf("Open(%q, O_CREAT): %v", c.path, err)
			continue
		}
		f.WriteString("x")
		f.Close()
		if b, err := os.ReadFile(c.made); err != nil || string(b) != "x" {
			t.Errorf("Open(%q, O_CREAT) did not make %s: %q, %v", c.path, c.made, b, err)
		}
	}
	for _, c := range []struct {
		path  string
		flags int
		want  error
	}{
		{".", unix.O_RDONLY | unix.O_CREAT, unix.EISDIR},
		{sub, unix.O_RDONLY | unix.O_CREAT, unix.EISDIR},
		{"b.txt/", wr, unix.EISDIR},
		{"missing/", wr, unix.EISDIR},
		{"/", unix.O_RDONLY | unix.O_CREAT, unix.EISDIR},
		{"nodir/x/", wr, unix.ENOENT},
		{"bad", wr, unix.ENOENT},
		{"loop1", wr, unix.ELOOP},
		{"nofoll", wr | unix.O_NOFOLLOW, unix.ELOOP},
		{"excl", wr | unix.O_EXCL, unix.EEXIST},
	} {
		f, err := tg.Open(unix.AT_FDCWD, c.path, c.flags, 0o600)
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, c.want) {
			t.Errorf("Open(%q, %#x): %v, want %v", c.path, c.flags, err, c.want)
		}
	}
	for _, name := range []string{"nofollmade", "exclmade"} {
		if _, err := os.Lstat(sub + "/" + name); err == nil {
			t.Errorf("%s was made", name)
		}
	}
	respondZero(t, s, n)
	exitZero(t, c)
}

// Files under /proc/sys/net belong to the network namespace of the thread
// that looks them up, not of the procfs, and the System V IPC ones (in
// /proc/sys/kernel and /proc/sysvipc) to its IPC namespace: Open, which
// joins no namespace, refuses them for a target in namespaces of its own
// (it would give the supervisor's), and opens the target's from inside Do.
func TestTargetOpenProcSys(t *testing.T) {
	requireOpenat2(t)
	mnt := t.TempDir()
	c, s := startNotify(t, "target-call", []string{"ns=" + mnt + ":sysctl-ns", "ttl=77"}, "getppid")
	n, tg := targetOf(t, s)
	for _, o := range []struct {
		path  string
		flags int
	}{
		{"/proc/sys/net/ipv4/ip_default_ttl", unix.O_RDONLY},
		{"/proc/sys/net/ipv4/ip_default_ttl", unix.O_PATH},
		{"/proc/sys/net/ipv4/conf", unix.O_RDONLY | unix.O_DIRECTORY},
		{"/proc/sys/kernel/shmmax", unix.O_RDONLY},
		{"/proc/sysvipc/shm", unix.O_RDONLY},
	} {
		f, err := tg.Open(unix.AT_FDCWD, o.path, o.flags, 0)
		if err == nil {
			b := make([]byte, 16)
			k, _ := f.Read(b)
			f.Close()
			t.Errorf("Open(%s, %#x) of a target in another network namespace: opened (reads %q), want ErrSupervisorView", o.path, o.flags, b[:k])
		} else if !errors.Is(err, seccompstream.ErrSupervisorView) {
			t.Errorf("Open(%s, %#x): %v, want ErrSupervisorView", o.path, o.flags, err)
		}
	}
	// Not a namespace's: open.
	if _, err := readOpen(tg, unix.AT_FDCWD, "/proc/sys/kernel/ostype"); err != nil {
		t.Errorf("Open(/proc/sys/kernel/ostype): %v", err)
	}
	var ttl string
	err := tg.Do(timeout(t), func() error {
		var err error
		ttl, err = readOpen(tg, unix.AT_FDCWD, "/proc/sys/net/ipv4/ip_default_ttl")
		return err
	})
	if err != nil || ttl != "77\n" {
		t.Errorf("Open inside Do of the target's ip_default_ttl: %q, %v; want \"77\\n\"", ttl, err)
	}
	err = tg.Do(timeout(t), func() error {
		for _, path := range []string{"/proc/sys/kernel/shmmax", "/proc/sysvipc/shm"} {
			if _, err := readOpen(tg, unix.AT_FDCWD, path); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("Open inside Do of the target's IPC files: %v", err)
	}
	respondZero(t, s, n)
	exitZero(t, c)
}
