package seccompstream_test

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// What Target opens on first use: an absolute Open needs neither the
// working directory nor a pidfd; a relative one opens the first, GetFD the
// second, and both are the target's.
func TestTargetOpensOnFirstUse(t *testing.T) {
	requireOpenat2(t)
	dir := sectest.PublicDir(t)
	writeFile(t, dir+"/file", "here", 0o644, 0, 0)
	p := startCmd(t, selfTarget(t, "target-call", "chdir="+dir), notifyFilter(t, filter.Allow, "getppid"))
	n, tg := targetOf(t, p.s)

	f, err := tg.Open(unix.AT_FDCWD, dir+"/file", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if cwd, pidfd := seccompstream.TargetOpened(tg); cwd || pidfd {
		t.Errorf("after an absolute Open: cwd open %v, pidfd open %v; want neither", cwd, pidfd)
	}
	f, err = tg.Open(unix.AT_FDCWD, "file", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("relative Open from the target's cwd: %v", err)
	}
	f.Close()
	if cwd, _ := seccompstream.TargetOpened(tg); !cwd {
		t.Errorf("after a relative Open the cwd is not open")
	}
	g, err := tg.GetFD(0)
	if err != nil {
		t.Fatalf("GetFD(0): %v", err)
	}
	g.Close()
	if _, pidfd := seccompstream.TargetOpened(tg); !pidfd {
		t.Errorf("after GetFD the pidfd is not open")
	}
	respondZero(t, p.s, n)
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
	// Opened after the answer: nothing, and ErrGone.
	p2 := startCmd(t, selfTarget(t, "target-call", "chdir="+dir), notifyFilter(t, filter.Allow, "getppid"))
	n2, tg2 := targetOf(t, p2.s)
	respondZero(t, p2.s, n2)
	if err := p2.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p2.out)
	}
	if _, err := tg2.Open(unix.AT_FDCWD, "file", unix.O_RDONLY, 0); !errors.Is(err, seccompstream.ErrGone) {
		t.Errorf("relative Open after the answer: %v, want ErrGone", err)
	}
	if _, err := tg2.GetFD(0); !errors.Is(err, seccompstream.ErrGone) {
		t.Errorf("GetFD after the answer: %v, want ErrGone", err)
	}
}

// PathInRoot first tries the path a directory was opened by; that guess
// is used only when it leads to the very directory without a symbolic
// link, so a link with ".." after it, and a rename, still give where the
// directory is.
func TestTargetPathInRootGuess(t *testing.T) {
	requireOpenat2(t)
	dir := sectest.PublicDir(t)
	os.MkdirAll(dir+"/x/y", 0o755)
	os.Mkdir(dir+"/m", 0o755)
	os.Symlink("x/y", dir+"/l")
	p := startCmd(t, selfTarget(t, "target-call"), notifyFilter(t, filter.Allow, "getppid"))
	n, tg := targetOf(t, p.s)

	for _, c := range []struct{ path, want string }{
		{dir + "/x/y/f", dir + "/x/y"},
		{dir + "/l/../f", dir + "/x"}, // the text says dir
		{dir + "/x/./y/../f", dir + "/x"},
	} {
		par, err := tg.OpenParent(unix.AT_FDCWD, c.path)
		if err != nil {
			t.Fatalf("OpenParent(%q): %v", c.path, err)
		}
		if got, err := tg.PathInRoot(par.Dir); err != nil || got != c.want {
			t.Errorf("PathInRoot of OpenParent(%q) = %q, %v; want %q", c.path, got, err, c.want)
		}
		par.Close()
	}
	par, err := tg.OpenParent(unix.AT_FDCWD, dir+"/m/f")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+"/m", dir+"/m2"); err != nil {
		t.Fatal(err)
	}
	if got, err := tg.PathInRoot(par.Dir); err != nil || got != dir+"/m2" {
		t.Errorf("PathInRoot after a rename = %q, %v; want %q", got, err, dir+"/m2")
	}
	// Another directory at the number the guess was made for.
	par.Close()
	other, err := os.Open(dir + "/x")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tg.PathInRoot(other); err != nil || got != dir+"/x" {
		t.Errorf("PathInRoot of another directory = %q, %v; want %q", got, err, dir+"/x")
	}
	other.Close()
	respondZero(t, p.s, n)
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
}

// Inside WithCreds, Open trusts fn's thread to hold the target's
// credentials; a goroutine fn starts runs on another thread, which does
// not, and its Open still acts as the target. No thread stays marked
// afterwards, a panic included.
func TestTargetWithCredsNested(t *testing.T) {
	requireOpenat2(t)
	dir := sectest.PublicDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir+"/secret", "root only", 0o600, 0, 0)
	cmd := selfTarget(t, "target-call", "umask=027")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "getppid"))
	n, tg := targetOf(t, p.s)

	err := tg.WithCreds(true, func() error {
		f, err := tg.Open(unix.AT_FDCWD, dir+"/made", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o666)
		if err != nil {
			return err
		}
		f.Close()
		if f, err := tg.Open(unix.AT_FDCWD, dir+"/secret", unix.O_RDONLY, 0); !errors.Is(err, unix.EACCES) {
			if err == nil {
				f.Close()
			}
			t.Errorf("Open of a root-only file inside WithCreds: %v, want EACCES", err)
		}
		done := make(chan error, 1)
		go func() {
			f, err := tg.Open(unix.AT_FDCWD, dir+"/secret", unix.O_RDONLY, 0)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		if err := <-done; !errors.Is(err, unix.EACCES) {
			t.Errorf("Open of a root-only file from a goroutine fn started: %v, want EACCES", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WithCreds: %v", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir+"/made", &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 65534 || st.Gid != 65534 || st.Mode&0o777 != 0o640 {
		t.Errorf("created inside WithCreds: uid %d gid %d mode %o; want 65534 65534 640", st.Uid, st.Gid, st.Mode&0o777)
	}
	if k := seccompstream.TargetActing(tg); k != 0 {
		t.Errorf("%d threads still marked after WithCreds", k)
	}
	func() {
		defer func() { recover() }()
		tg.WithCreds(false, func() error { panic("in fn") })
	}()
	if k := seccompstream.TargetActing(tg); k != 0 {
		t.Errorf("%d threads still marked after a panic in fn", k)
	}
	respondZero(t, p.s, n)
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
}
