package seccompstream_test

import (
	"errors"
	"io"
	"os"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/nsthread"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// The hooks an emulator builds on (package emulate): OpenBeneath opens in
// a checked directory and never leaves it; PathInRoot names a file from
// the target's root, with no symbolic link; Root is the target's root;
// WithCreds acts with the target's credentials.
func TestTargetBeneathHooks(t *testing.T) {
	dir := sectest.PublicDir(t)
	os.Mkdir(dir+"/sub", 0o755)
	writeFile(t, dir+"/sub/file", "inside", 0o644, 0, 0)
	writeFile(t, dir+"/outside", "outside", 0o644, 0, 0)
	writeFile(t, dir+"/secret", "root only", 0o600, 0, 0)
	os.Symlink("../outside", dir+"/sub/up")
	os.Symlink("/etc/passwd", dir+"/sub/abs")
	os.Symlink("file", dir+"/sub/same")
	os.Symlink("sub", dir+"/sublink")

	cmd := selfTarget(t, "target-call")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "getppid"))
	n, tg := targetOf(t, p.s)

	par, err := tg.OpenParent(unix.AT_FDCWD, dir+"/sublink/file")
	if err != nil {
		t.Fatal(err)
	}
	defer par.Close()
	read := func(path string, flags int) (string, error) {
		f, err := tg.OpenBeneath(par.Dir, path, flags, 0)
		if err != nil {
			return "", err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		return string(b), err
	}
	if got, err := read("file", unix.O_RDONLY|unix.O_NOFOLLOW); err != nil || got != "inside" {
		t.Errorf("OpenBeneath(file) = %q, %v", got, err)
	}
	if got, err := read("same", unix.O_RDONLY); err != nil || got != "inside" {
		t.Errorf("OpenBeneath(same) = %q, %v (a link that stays beneath)", got, err)
	}
	for _, path := range []string{"../outside", "up", "abs", "/etc/passwd"} {
		if _, err := read(path, unix.O_RDONLY); !errors.Is(err, unix.EXDEV) {
			t.Errorf("OpenBeneath(%q): %v, want EXDEV", path, err)
		}
	}
	if _, err := read("same", unix.O_RDONLY|unix.O_NOFOLLOW); !errors.Is(err, unix.ELOOP) {
		t.Errorf("OpenBeneath(same, O_NOFOLLOW): %v, want ELOOP", err)
	}

	// PathInRoot: the directory reached through a link is named where it
	// is; a file too; a file outside the view has none.
	if got, err := tg.PathInRoot(par.Dir); err != nil || got != dir+"/sub" {
		t.Errorf("PathInRoot(dir) = %q, %v; want %q", got, err, dir+"/sub")
	}
	f, err := tg.OpenBeneath(par.Dir, "file", unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tg.PathInRoot(f); err != nil || got != dir+"/sub/file" {
		t.Errorf("PathInRoot(file) = %q, %v", got, err)
	}
	f.Close()
	r, w, _ := os.Pipe()
	if _, err := tg.PathInRoot(r); !errors.Is(err, unix.ENOENT) {
		t.Errorf("PathInRoot(pipe): %v, want ENOENT", err)
	}
	r.Close()
	w.Close()
	os.WriteFile(dir+"/gone", nil, 0o644)
	g, _ := os.Open(dir + "/gone")
	os.Remove(dir + "/gone")
	if _, err := tg.PathInRoot(g); !errors.Is(err, unix.ENOENT) {
		t.Errorf("PathInRoot(deleted file): %v, want ENOENT", err)
	}
	g.Close()

	// Root is the target's root ("/" here).
	root, err := tg.Root()
	if err != nil {
		t.Fatal(err)
	}
	var a, b unix.Stat_t
	unix.Fstat(int(root.Fd()), &a)
	unix.Stat("/", &b)
	root.Close()
	if a.Dev != b.Dev || a.Ino != b.Ino {
		t.Errorf("Root is not /")
	}

	// WithCreds: the target's file-system ids, so the root-only file is
	// unreadable; Open inside runs on the same thread.
	err = tg.WithCreds(false, func() error {
		c, err := nsthread.ThreadCreds()
		if err != nil {
			return err
		}
		if c.FSUID != 65534 || c.FSGID != 65534 {
			t.Errorf("WithCreds: fsuid %d fsgid %d, want 65534", c.FSUID, c.FSGID)
		}
		if _, err := os.ReadFile(dir + "/secret"); !errors.Is(err, unix.EACCES) {
			t.Errorf("WithCreds reading a root-only file: %v, want EACCES", err)
		}
		f, err := tg.Open(unix.AT_FDCWD, dir+"/outside", unix.O_RDONLY, 0)
		if err == nil {
			f.Close()
		}
		return err
	})
	if err != nil {
		t.Errorf("WithCreds: %v", err)
	}
	respondZero(t, p.s, n)
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
	// After the call was answered, the hooks report ErrGone.
	if _, err := tg.PathInRoot(par.Dir); !errors.Is(err, seccompstream.ErrGone) {
		t.Errorf("PathInRoot after the answer: %v, want ErrGone", err)
	}
	if err := tg.WithCreds(false, func() error { return nil }); !errors.Is(err, seccompstream.ErrGone) {
		t.Errorf("WithCreds after the answer: %v, want ErrGone", err)
	}
}

// A target with the supervisor's credentials: WithCreds runs fn on the
// calling goroutine's thread (no thread is made for it).
func TestTargetWithCredsSameThread(t *testing.T) {
	p := startCmd(t, selfTarget(t, "target-call"), notifyFilter(t, filter.Allow, "getppid"))
	n, tg := targetOf(t, p.s)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tid int
	if err := tg.WithCreds(false, func() error { tid = unix.Gettid(); return nil }); err != nil {
		t.Fatal(err)
	}
	if tid != unix.Gettid() {
		t.Errorf("fn ran on thread %d, not the caller's %d", tid, unix.Gettid())
	}
	respondZero(t, p.s, n)
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
}
