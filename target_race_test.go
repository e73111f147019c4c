package seccompstream_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
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
	base := sectest.PublicDir(t)
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
		if mode&0o020 != 0 {
			// A group-writable directory: the target is in its group.
			os.Chown(dir, 0, 65534)
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
	var settings []string
	for _, name := range []string{"protected_regular", "protected_fifos", "protected_symlinks"} {
		b, _ := os.ReadFile("/proc/sys/fs/" + name)
		settings = append(settings, name+"="+strings.TrimSpace(string(b)))
	}
	refused := 0
	defer func() { t.Logf("fs.%v: open(2) refused %d cases", settings, refused) }()
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
			want := kernel(t, dir+"/"+c.name, c.flags)
			if want != 0 {
				refused++
			}
			_, wantMade := os.Lstat(dir + "/" + c.name + "-made")
			fixture(t, dir, mode)
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

// Open never leads out of the target's root while directories are renamed
// in and out of it: a chrooted target's root holds a/b, which another
// thread keeps moving to a directory outside the root and back. Paths that
// walk down b and climb out of it with ".." (absolute, relative to the
// working directory, relative to a dirfd, through a symbolic link) must
// find the root's "secret" or fail, never the one outside, whatever the
// kernel's lookup meets on the way. A plain openat from the root
// directory, for comparison, escapes now and then (logged).
func TestTargetOpenRenameRace(t *testing.T) {
	requireOpenat2(t)
	base := t.TempDir()
	root := base + "/root"
	for _, d := range []string{root, root + "/a", root + "/a/b", base + "/x"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, root+"/secret", "inside", 0o644, 0, 0)
	writeFile(t, base+"/secret", "outside", 0o644, 0, 0)
	// A deep walk down b and back up: a wide window for the renamer.
	const depth = 16
	deep := strings.Repeat("c/", depth)
	if err := os.MkdirAll(root+"/a/b/"+deep, 0o755); err != nil {
		t.Fatal(err)
	}
	climb := deep + strings.Repeat("../", depth+2) + "secret"
	if err := os.Symlink(strings.Repeat("../", depth+2)+"secret", root+"/a/b/"+deep+"up"); err != nil {
		t.Fatal(err)
	}
	c, s := startNotify(t, "target-call", []string{"chroot=" + root, "dirfd=/a"}, "getppid")
	n, tg := targetOf(t, s)
	dirfd := int(n.Args[1])

	// The renamer: b in the root (root/a/b) or outside it (base/x/b),
	// where ".." from b leads to base.
	stop := make(chan struct{})
	renamed := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		in, out := root+"/a/b", base+"/x/b"
		k := 0
		for {
			select {
			case <-stop:
				if k%2 == 1 {
					os.Rename(out, in)
				}
				renamed <- k
				return
			default:
			}
			from, to := in, out
			if k%2 == 1 {
				from, to = out, in
			}
			if err := os.Rename(from, to); err != nil {
				panic(err)
			}
			k++
		}
	}()
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFD)

	type tally struct{ inside, outside, missing, failed int }
	opens := []struct {
		name  string
		dirfd int
		path  string
	}{
		{"absolute", unix.AT_FDCWD, "/a/b/" + climb},
		{"relative", unix.AT_FDCWD, "a/b/" + climb},
		{"dirfd", dirfd, "b/" + climb},
		{"symlink", unix.AT_FDCWD, "/a/b/" + deep + "up"},
	}
	tallies := make([]tally, len(opens))
	var plain tally
	count := func(tl *tally, got string, err error) {
		switch {
		case err == nil && got == "inside":
			tl.inside++
		case err == nil && got == "outside":
			tl.outside++
		case errors.Is(err, unix.ENOENT):
			tl.missing++ // b was outside the root
		default:
			tl.failed++ // EAGAIN after retries, EXDEV
		}
	}
	rounds := sectest.Scale(2000)
	for i := range rounds {
		for j, o := range opens {
			got, err := readOpen(tg, o.dirfd, o.path)
			count(&tallies[j], got, err)
		}
		fd, err := unix.Openat(rootFD, "a/b/"+climb, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		var got string
		if err == nil {
			f := os.NewFile(uintptr(fd), "plain")
			b, _ := io.ReadAll(f)
			f.Close()
			got = string(b)
		}
		count(&plain, got, err)
		if i%100 == 0 {
			runtime.Gosched()
		}
	}
	close(stop)
	renames := <-renamed
	for j, o := range opens {
		tl := tallies[j]
		t.Logf("%s: %d inside, %d outside, %d missing, %d failed", o.name, tl.inside, tl.outside, tl.missing, tl.failed)
		if tl.outside != 0 {
			t.Errorf("Open(%d, %.40q) escaped the root %d times of %d", o.dirfd, o.path, tl.outside, rounds)
		}
	}
	t.Logf("%d renames; plain openat from the root: %d inside, %d outside, %d missing, %d failed", renames, plain.inside, plain.outside, plain.missing, plain.failed)
	if renames == 0 {
		t.Fatal("the renamer never ran")
	}
	respondZero(t, s, n)
	exitZero(t, c)
}
