package emulate_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// Under read / and write DIR: writing, renaming, linking and removing in
// DIR work; outside DIR every change fails with EACCES and changes nothing.
func TestWriteOnlyInDir(t *testing.T) {
	busybox := sectest.RequireTool(t, "busybox")
	root := sectest.PublicDir(t)
	dir, out := root+"/dir", root+"/out"
	os.Mkdir(dir, 0o755)
	os.Mkdir(out, 0o755)
	writeFile(t, out+"/keep", "keep me\n", 0o644)
	before := snapshot(t, out)

	script := `
set -e
echo hello > $DIR/a
cat $DIR/a
mkdir $DIR/d
mv $DIR/a $DIR/d/b
ln -s b $DIR/d/l
cat $DIR/d/l
ln $DIR/d/b $DIR/d/hard
chmod 600 $DIR/d/hard
touch $DIR/d/b
rm $DIR/d/l $DIR/d/hard
echo more >> $DIR/d/b
echo inside-done
set +e
for c in "echo x > $OUT/new" "echo x >> $OUT/keep" "mkdir $OUT/d" "mv $OUT/keep $OUT/moved" \
	"mv $OUT/keep $DIR/stolen" "mv $DIR/d/b $OUT/planted" "rm $OUT/keep" "ln $OUT/keep $DIR/hard" \
	"ln -s /x $OUT/sym" "chmod 777 $OUT/keep" "touch $OUT/keep" "rmdir $OUT" "truncate -s 0 $OUT/keep" \
	"mkfifo $OUT/fifo"; do
	if sh -c "$c" 2>/dev/null; then echo "ALLOWED: $c"; else echo "refused: $c"; fi
done
`
	cmd := exec.Command(busybox, "sh", "-c", script)
	cmd.Env = append(os.Environ(), "DIR="+dir, "OUT="+out)
	res := sandbox(t, emulate.FilePolicy{Read: []string{"/"}, Write: []string{dir}}, cmd)
	if res.err != nil {
		t.Fatalf("shell: %v\n%s", res.err, res.out)
	}
	if !strings.Contains(res.out, "hello\nhello\ninside-done\n") {
		t.Errorf("work inside DIR failed:\n%s", res.out)
	}
	if strings.Contains(res.out, "ALLOWED") {
		t.Errorf("changes outside DIR were allowed:\n%s", res.out)
	}
	if got := snapshot(t, out); !slices.Equal(got, before) {
		t.Errorf("outside DIR changed:\nbefore %q\nafter  %q", before, got)
	}
	if b, err := os.ReadFile(dir + "/d/b"); err != nil || string(b) != "hello\nmore\n" {
		t.Errorf("DIR/d/b = %q, %v", b, err)
	}
	for _, name := range []string{"stolen", "hard"} {
		if _, err := os.Lstat(dir + "/" + name); err == nil {
			t.Errorf("DIR/%s exists", name)
		}
	}
	for _, call := range []string{"openat", "mkdir", "rename", "unlink", "link", "symlink", "chmod", "utimensat", "rmdir", "mknodat"} {
		if !res.deniedCall(call) {
			t.Errorf("no denied %s shown; denied: %v", call, res.denied)
		}
	}
}

// snapshot lists every file below dir with its mode, size and content.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		s := p + " " + info.Mode().String() + " " + info.ModTime().String()
		if info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			s += " " + string(b)
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Under read @system and DIR: DIR's files read right; a file outside,
// reached directly, through a symbolic link in DIR, through DIR/.. or
// through /proc/self/root, is refused; each open adds exactly one
// descriptor to the program, the lowest free one, close-on-exec when
// asked.
func TestReadOnlyDir(t *testing.T) {
	h := helperPath(t)
	root := sectest.PublicDir(t)
	dir, other := root+"/dir", root+"/other"
	os.Mkdir(dir, 0o755)
	os.Mkdir(other, 0o755)
	writeFile(t, dir+"/ok", "allowed content\n", 0o644)
	writeFile(t, other+"/secret", "SECRET\n", 0o644)
	os.Symlink(other+"/secret", dir+"/abs-link")
	os.Symlink("../other/secret", dir+"/rel-link")
	os.Symlink("ok", dir+"/ok-link")
	os.Symlink(dir+"/ok", other+"/link-to-ok")
	os.Mkdir(dir+"/sub", 0o755)

	policy := emulate.FilePolicy{Read: append(emulate.SystemPaths(), dir)}
	cases := []struct {
		path string
		want string // content, or the errno name the helper prints
	}{
		{dir + "/ok", "allowed content\n"},
		{dir + "/ok-link", "allowed content\n"},
		{dir + "/sub/../ok", "allowed content\n"},
		{other + "/link-to-ok", "allowed content\n"}, // leads into DIR
		{other + "/secret", "EACCES"},
		{dir + "/abs-link", "EACCES"},
		{dir + "/rel-link", "EACCES"},
		{dir + "/../other/secret", "EACCES"},
		{dir + "/sub/../../other/secret", "EACCES"},
		{"/proc/self/root" + other + "/secret", "ELOOP|EACCES"},
		{"/proc/1/root" + other + "/secret", "ELOOP|EACCES"},
		{"/proc/self/cwd/../other/secret", "ELOOP|EACCES"},
		{other + "/missing", "ENOENT"},
		{root, "EACCES"},
	}
	for _, c := range cases {
		res := sandbox(t, policy, exec.Command(h, "cat", c.path))
		ok := res.out == c.want
		if !strings.HasSuffix(c.want, "\n") {
			ok = false
			for _, e := range strings.Split(c.want, "|") {
				ok = ok || res.out == c.path+": "+e+"\n"
			}
		}
		if !ok {
			t.Errorf("cat %s: %q, want %q", c.path, res.out, c.want)
		}
		if strings.Contains(res.out, "SECRET") {
			t.Errorf("cat %s read the secret", c.path)
		}
	}
	res := sandbox(t, policy, exec.Command(h, "fds", dir+"/ok", "20"))
	if res.err != nil || res.out != "ok\n" {
		t.Errorf("fds: %v: %s", res.err, res.out)
	}
}

// A program running as uid 65534: a root-only file inside the allowed
// directory stays unreadable (the open is made with the caller's ids), a
// world-readable one reads, and a file it creates is its own.
func TestOtherUID(t *testing.T) {
	h := helperPath(t)
	dir := sectest.PublicDir(t)
	writeFile(t, dir+"/secret", "root only\n", 0o600)
	writeFile(t, dir+"/public", "for all\n", 0o644)
	os.Mkdir(dir+"/w", 0o777)
	os.Chmod(dir+"/w", 0o777)
	cmd := exec.Command(h, "cat", dir+"/public", dir+"/secret")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	res := sandbox(t, emulate.FilePolicy{Read: []string{dir}}, cmd)
	if want := "for all\n" + dir + "/secret: EACCES\n"; res.out != want {
		t.Errorf("cat as uid 65534: %q, want %q", res.out, want)
	}
	if res.deniedCall("openat") {
		t.Errorf("the file's own permissions refused, not the policy; shown as denied: %v", res.denied)
	}

	busybox := sectest.RequireTool(t, "busybox")
	cmd = exec.Command(busybox, "sh", "-c", "echo mine > "+dir+"/w/new && cat "+dir+"/w/new && cat "+dir+"/secret")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	res = sandbox(t, emulate.FilePolicy{Read: []string{"/"}, Write: []string{dir + "/w"}}, cmd)
	if res.err == nil || !strings.HasPrefix(res.out, "mine\n") || strings.Contains(res.out, "root only") {
		t.Errorf("shell as uid 65534: %v, %q", res.err, res.out)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir+"/w/new", &st); err != nil || st.Uid != 65534 || st.Gid != 65534 {
		t.Errorf("created file: %v, owner %d:%d, want 65534:65534", err, st.Uid, st.Gid)
	}
}

// io_uring_setup is refused while a file policy is active: a ring's
// operations never pass through seccomp.
func TestIOUringRefused(t *testing.T) {
	h := helperPath(t)
	res := sandbox(t, emulate.FilePolicy{Read: []string{"/"}}, exec.Command(h, "iouring"))
	if res.out != "EPERM\n" || !res.deniedCall("io_uring_setup") {
		t.Errorf("io_uring_setup: %q, denied %v; want EPERM, shown", res.out, res.denied)
	}
}

// stat, lstat, newfstatat (with a path and with AT_EMPTY_PATH) and statx
// give what fstat of a descriptor gives, field by field.
func TestStatMatchesKernel(t *testing.T) {
	h := helperPath(t)
	dir := sectest.PublicDir(t)
	writeFile(t, dir+"/f", "twelve bytes", 0o640)
	os.Mkdir(dir+"/d", 0o755)
	for _, p := range []string{dir + "/f", dir + "/d", "/dev/null"} {
		res := sandbox(t, emulate.FilePolicy{Read: []string{dir, "/dev/null"}}, exec.Command(h, "stat", p))
		if res.err != nil || res.out != "ok\n" {
			t.Errorf("stat %s: %v: %s", p, res.err, res.out)
		}
	}
}

// i386 calls (int $0x80) of a 64-bit program are carried out and checked
// like the native ones: open, stat64, fstatat64 and statx of an allowed
// file work and match the kernel's answers; open and stat64 of a
// forbidden file get EACCES.
func TestI386(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("i386 calls are x86_64's")
	}
	h := helperPath(t)
	// Without a filter first: a kernel without IA32 emulation kills it.
	out, err := exec.Command(h, "i386", h, h).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "want -EACCES") {
		sectest.RequireFeature(t, "IA32 emulation (CONFIG_IA32_EMULATION, int $0x80)", "", false)
	}
	root := raceDirs(t)
	res := sandbox(t, emulate.FilePolicy{Read: []string{root + "/a"}}, exec.Command(h, "i386", root+"/a/f", root+"/b/f"))
	if res.err != nil || res.out != "ok\n" {
		t.Errorf("i386 calls: %v: %s", res.err, res.out)
	}
	if !res.deniedCall("open[i386]") || !res.deniedCall("stat64[i386]") {
		t.Errorf("the i386 refusals were not shown: %v", res.denied)
	}
}

// A threaded C program working in the writable directory: four threads
// create, write, rename, stat, read and remove files at once.
func TestThreadedProgram(t *testing.T) {
	h := helperPath(t)
	dir := sectest.PublicDir(t)
	res := sandbox(t, emulate.FilePolicy{Read: []string{"/"}, Write: []string{dir}}, exec.Command(h, "threads", dir, fmt.Sprint(sectest.Scale(200))))
	if res.err != nil || res.out != "ok\n" {
		t.Errorf("threads: %v: %s", res.err, res.out)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d files left in DIR", len(ents))
	}
	for _, call := range []string{"openat", "rename", "unlink", "newfstatat"} {
		if res.deniedCall(call) {
			t.Errorf("denied: %v", res.denied)
		}
	}
}

// A FIFO's open waits for the other end, in its own handler: another
// thread's opens go on meanwhile, and open the other end.
func TestFIFODoesNotBlockOthers(t *testing.T) {
	h := helperPath(t)
	dir := sectest.PublicDir(t)
	if err := unix.Mkfifo(dir+"/p", 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir+"/f", "file", 0o644)
	res := sandbox(t, emulate.FilePolicy{Write: []string{dir}}, exec.Command(h, "fifo", dir+"/p", dir+"/f"))
	if res.err != nil || res.out != "ok\n" {
		t.Errorf("fifo: %v: %s", res.err, res.out)
	}
}

// A program killed while its open of a FIFO waits: the handler gives up,
// Serve ends, nothing is left behind (TestMain checks the goroutines and
// descriptors).
func TestKilledWhileOpening(t *testing.T) {
	h := helperPath(t)
	dir := sectest.PublicDir(t)
	if err := unix.Mkfifo(dir+"/p", 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(h, "block", dir+"/p")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	go func() {
		// Kill it once it is in the open (its line is out) and the open
		// had time to reach the handler.
		var pid int
		fmt.Fscanf(r, "opening %d\n", &pid)
		time.Sleep(200 * time.Millisecond)
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		r.Close()
	}()
	res := sandbox(t, emulate.FilePolicy{Read: []string{dir}}, cmd)
	w.Close()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Errorf("the program was not killed: %v %s", res.err, res.out)
	}
}
