package seccompstream_test

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
)

// What Target opens on first use: an absolute Open needs neither the
// working directory nor a pidfd; a relative one opens the first, GetFD the
// second, and both are the target's.
func TestTargetOpensOnFirstUse(t *testing.T) {
	requireOpenat2(t)
	dir := publicDir(t)
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
