package seccompstream_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
)

// An O_CREAT open whose name turns into a symbolic link to a device node
// between the lookup that found nothing and the creation (a test seam
// makes that window; a kernel cannot be made to hit it on cue) must not
// open the device before looking at it: the driver's open would run, under
// the supervisor's device cgroup. inotify sees every real open of the node.
func TestTargetOpenCreateRace(t *testing.T) {
	requireOpenat2(t)
	dir := t.TempDir()
	// A tmpfs of its own: the test directory may be on a nodev mount.
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	dev := dir + "/kmsg"
	if err := unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 11))); err != nil {
		t.Fatal(err)
	}
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, dev, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	opens := func() int {
		n := 0
		buf := make([]byte, 4096)
		for {
			k, err := unix.Read(in, buf)
			if err != nil || k <= 0 {
				return n
			}
			n += k / unix.SizeofInotifyEvent
		}
	}
	// The watch sees an open of the node.
	if fd, err := unix.Open(dev, unix.O_WRONLY|unix.O_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	} else {
		unix.Close(fd)
	}
	if k := opens(); k != 1 {
		t.Fatalf("inotify saw %d opens of the device node, want 1", k)
	}

	c, s := startNotify(t, "target-call", nil, "getppid")
	n, tg := targetOf(t, s)
	seccompstream.SetTestHookCreate(func() { os.Symlink(dev, dir+"/x") })
	defer seccompstream.SetTestHookCreate(nil)
	f, err := tg.Open(unix.AT_FDCWD, dir+"/x", unix.O_WRONLY|unix.O_CREAT, 0o644)
	if err == nil {
		f.Close()
	}
	if !errors.Is(err, seccompstream.ErrSupervisorView) {
		t.Errorf("Open(O_CREAT) of a name that became a link to a device: %v, want ErrSupervisorView", err)
	}
	if k := opens(); k != 0 {
		t.Errorf("the device node was opened %d times before it was looked at", k)
	}
	respondZero(t, s, n)
	exitZero(t, c)
}

// Registered from a variable initializer, as target-call.
var _ = registerOpenAs()

func registerOpenAs() bool {
	// open-as PATH FLAGS: open(2) PATH with FLAGS (and mode 0644), and
	// print the errno (0: opened).
	scenarios["open-as"] = func(args []string) int {
		flags, _ := strconv.ParseInt(args[1], 0, 64)
		fd, err := unix.Open(args[0], int(flags)|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
		e, _ := err.(unix.Errno)
		fmt.Printf("errno %d\n", int(e))
		return 0
	}
	return true
}

// O_CREAT of existing files and dangling links in a sticky directory,
// where fs.protected_regular, fs.protected_fifos and fs.protected_symlinks
// decide: Open gives what open(2) gives the same user, whatever the
// machine's settings (each case is run by the kernel for a process of the
// target's uid, then by Open, on a fresh copy of the files).
func TestTargetOpenCreateLikeKernel(t *testing.T) {
	requireOpenat2(t)
	base := publicDir(t)
	cmd := selfTarget(t, "target-call")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	p := startCmd(t, cmd, notifyFilter(t, filter.Allow, "getppid"))
	n, tg := targetOf(t, p.s)

	const other = 1000 // neither the target nor the directory's owner
	fixture := func(t *testing.T, dir string, mode os.FileMode) {
		t.Helper()
		os.RemoveAll(dir)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir+"/other", "", 0o666, other, other)
		writeFile(t, dir+"/mine", "", 0o666, 65534, 65534)
		if err := unix.Mkfifo(dir+"/fifo", 0o666); err != nil {
			t.Fatal(err)
		}
		os.Chown(dir+"/fifo", other, other)
		for link, owner := range map[string]int{"link-other": other, "link-mine": 65534} {
			if err := os.Symlink(link+"-made", dir+"/"+link); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(dir+"/"+link, owner, owner); err != nil {
				t.Fatal(err)
			}
		}
	}
	kernel := func(t *testing.T, path string, flags int) unix.Errno {
		t.Helper()
		c := exec.Command("/proc/self/exe", path, strconv.Itoa(flags))
		c.Env = append(os.Environ(), envStartTarget+"=open-as")
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := c.CombinedOutput()
		var e int
		if _, serr := fmt.Sscanf(string(out), "errno %d", &e); err != nil || serr != nil {
			t.Fatalf("open-as: %v, %v; output:\n%s", err, serr, out)
		}
		return unix.Errno(e)
	}
	const creat = unix.O_CREAT | unix.O_WRONLY
	for _, mode := range []os.FileMode{0o777 | os.ModeSticky, 0o775 | os.ModeSticky, 0o777} {
		for _, c := range []struct {
			name  string
			flags int
		}{
			{"other", creat},
			{"mine", creat},
			{"fifo", unix.O_CREAT | unix.O_RDONLY | unix.O_NONBLOCK},
			{"link-other", creat},
			{"link-mine", creat},
		} {
			dir := base + "/d"
			fixture(t, dir, mode)
			if mode&0o020 != 0 {
				// Group-writable directories: the target is in their
				// group.
				os.Chown(dir, 0, 65534)
			}
			want := kernel(t, dir+"/"+c.name, c.flags)
			_, wantMade := os.Lstat(dir + "/" + c.name + "-made")
			fixture(t, dir, mode)
			if mode&0o020 != 0 {
				os.Chown(dir, 0, 65534)
			}
			var got unix.Errno
			f, err := tg.Open(unix.AT_FDCWD, dir+"/"+c.name, c.flags, 0o644)
			if err == nil {
				f.Close()
			} else if !errors.As(err, &got) {
				t.Errorf("directory %v, Open(%s): %v, not an errno", mode, c.name, err)
				continue
			}
			_, gotMade := os.Lstat(dir + "/" + c.name + "-made")
			if got != want || (gotMade == nil) != (wantMade == nil) {
				t.Errorf("directory %v, O_CREAT of %s: Open gives errno %d (made the link's file: %v), open(2) %d (%v)",
					mode, c.name, got, gotMade == nil, want, wantMade == nil)
			}
		}
	}
	respondZero(t, p.s, n)
	if err := p.wait(); err != nil {
		t.Fatalf("target: %v; output:\n%s", err, p.out)
	}
}
