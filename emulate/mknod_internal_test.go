package emulate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// TestMknodNodeSwapped: between creating the node and giving it to the
// caller, whoever may write to the directory can rename the node away and
// put a hard link to another file at its name. That file is not given to
// the caller: the call fails and the file keeps its owner. (The swap is
// injected: no kernel hits that window on cue.)
func TestMknodNodeSwapped(t *testing.T) {
	dir, err := os.MkdirTemp("", "emulate-mknod-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil { // the caller's fsuid 1000 creates there
		t.Fatal(err)
	}
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(victim, 0o666); err != nil {
		t.Fatal(err)
	}
	child := sectest.StartChild(t, sectest.Opts{Scenario: "mknod-as", Args: []string{filepath.Join(dir, "null"), "1000"}, Notify: []string{"mknodat"}})
	s, err := seccompstream.New(child.Listener)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := s.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := &mknod{devices: DefaultDevices, afterCreate: func(dirfd int, name string) {
		if err := unix.Renameat(dirfd, name, dirfd, name+".moved"); err != nil {
			t.Error(err)
		}
		if err := unix.Linkat(unix.AT_FDCWD, victim, dirfd, name, 0); err != nil {
			t.Error(err)
		}
	}}
	if err := s.Respond(n, h.ServeNotification(ctx, n)); err != nil {
		t.Fatal(err)
	}
	child.ExitCode()
	if out := child.Output(); !strings.Contains(out, "errno=16") {
		t.Errorf("caller: %q, want EBUSY (16): the node it asked for was replaced", out)
	}
	var st unix.Stat_t
	if err := unix.Stat(victim, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Gid != 0 {
		t.Errorf("the file linked in place of the node was given to %d:%d", st.Uid, st.Gid)
	}
}
