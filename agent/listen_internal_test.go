package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestListenSymlinkSwap: whoever can write to the socket's directory and
// replaces the socket file by a symbolic link between bind(2) and the
// chmod does not get the link's target widened: Listen refuses, and the
// target keeps its mode. (The swap is injected: no kernel hits that
// window on cue.)
func TestListenSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.sock")
	swap := func(c *listenConfig) {
		c.afterBind = func() {
			if err := os.Rename(path, path+".moved"); err != nil {
				t.Error(err)
			}
			if err := os.Symlink(victim, path); err != nil {
				t.Error(err)
			}
		}
	}
	ln, err := Listen(path, SocketMode(0o666), SocketGroup(65534), swap)
	if err == nil {
		ln.Close()
		t.Error("Listen succeeded with the socket file swapped for a symbolic link")
	} else if !strings.Contains(err.Error(), "replaced") {
		t.Errorf("Listen: %v, want an error saying the socket file was replaced", err)
	}
	fi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the link's target has mode %v now, want 0600", fi.Mode().Perm())
	}
	if gid := statGID(t, victim); gid == 65534 {
		t.Errorf("the link's target was given group 65534")
	}
}

func statGID(t *testing.T, path string) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Gid
}
