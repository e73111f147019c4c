package emulate_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// goPrograms are the Go programs the tests run under a policy (the test
// binary, through goProgram).
var goPrograms = map[string]func(args []string) int{
	// workdir DIR OUTSIDE N: goroutines build a tree of N files in DIR,
	// walk it, rename and remove it; writing to OUTSIDE must fail with a
	// permission error.
	"workdir": func(args []string) int {
		dir, outside := args[0], args[1]
		var n int
		fmt.Sscan(args[2], &n)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sub := filepath.Join(dir, fmt.Sprint("g", g), "nested")
				if err := os.MkdirAll(sub, 0o755); err != nil {
					errs <- err
					return
				}
				for i := range n {
					p := filepath.Join(sub, fmt.Sprint(i))
					if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
						errs <- err
						return
					}
					if b, err := os.ReadFile(p); err != nil || string(b) != p {
						errs <- fmt.Errorf("read back %s: %q, %v", p, b, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			fmt.Println(err)
			return 1
		}
		var files []string
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
		if err != nil || len(files) != 8*n {
			fmt.Println("walk:", err, len(files))
			return 1
		}
		sort.Strings(files)
		if err := os.Rename(filepath.Join(dir, "g0"), filepath.Join(dir, "moved")); err != nil {
			fmt.Println(err)
			return 1
		}
		if err := os.RemoveAll(filepath.Join(dir, "moved")); err != nil {
			fmt.Println(err)
			return 1
		}
		if _, err := os.Stat(filepath.Join(dir, "g1", "nested", "0")); err != nil {
			fmt.Println(err)
			return 1
		}
		err = os.WriteFile(filepath.Join(outside, "x"), nil, 0o644)
		if !errors.Is(err, fs.ErrPermission) {
			fmt.Println("writing outside:", err)
			return 1
		}
		if err := os.Mkdir(filepath.Join(outside, "d"), 0o755); !errors.Is(err, fs.ErrPermission) {
			fmt.Println("mkdir outside:", err)
			return 1
		}
		wd, err := os.Getwd()
		if err != nil || wd == "" {
			fmt.Println("getwd:", err)
			return 1
		}
		fmt.Println("ok")
		return 0
	},
}

// A Go program (goroutines on several threads, the runtime's own file
// accesses) works under read / and write DIR.
func TestGoProgram(t *testing.T) {
	dir, outside := sectest.PublicDir(t), sectest.PublicDir(t)
	res := sandbox(t, emulate.FilePolicy{Read: []string{"/"}, Write: []string{dir}},
		goProgram("workdir", dir, outside, fmt.Sprint(sectest.Scale(50))))
	// (Under the race detector the runtime also reads /proc/self/exe, which
	// is the supervisor's when the supervisor resolves it: refused, and
	// the runtime says so.)
	if res.err != nil || !strings.HasSuffix(res.out, "ok\n") {
		t.Fatalf("Go program: %v\n%s\ndenied: %v", res.err, res.out, res.denied)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("outside: %d entries", len(ents))
	}
	for _, d := range res.denied {
		if !strings.HasPrefix(d, "openat") && !strings.HasPrefix(d, "mkdirat") && !strings.HasPrefix(d, "readlinkat") {
			t.Errorf("unexpected refusal %s (all: %v)", d, res.denied)
		}
	}
}

func init() {
	// self: what a program reads of itself through /proc/self and
	// /proc/thread-self.
	goPrograms["self"] = func(args []string) int {
		exe, err := os.Executable()
		if err != nil {
			fmt.Println("os.Executable:", err)
			return 1
		}
		status, err := os.ReadFile("/proc/self/status")
		if err != nil || !strings.Contains(string(status), fmt.Sprintf("\nPid:\t%d\n", os.Getpid())) {
			fmt.Printf("/proc/self/status: %v\n%s", err, status)
			return 1
		}
		if _, err := os.ReadFile("/proc/thread-self/comm"); err != nil {
			fmt.Println("/proc/thread-self/comm:", err)
			return 1
		}
		if ents, err := os.ReadDir("/proc/self/fd"); err != nil || len(ents) < 3 {
			fmt.Println("/proc/self/fd:", err, len(ents))
			return 1
		}
		// The supervisor's own entries stay out of reach by their number.
		if _, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", os.Getppid())); err == nil {
			fmt.Println("read the parent's environment")
			return 1
		}
		fmt.Println(exe)
		return 0
	}
}

// A program reads its own /proc/self and /proc/thread-self files (the
// supervisor resolves them to the program's directory, not its own).
func TestProcSelf(t *testing.T) {
	res := sandbox(t, emulate.FilePolicy{Read: []string{"/"}}, goProgram("self"))
	if res.err != nil || !strings.HasSuffix(res.out, "\n") || strings.Count(res.out, "\n") != 1 {
		t.Fatalf("self: %v\n%s\ndenied: %v", res.err, res.out, res.denied)
	}
	exe, _ := os.Executable()
	if strings.TrimSpace(res.out) != exe {
		t.Errorf("os.Executable in the program = %q, want %q", strings.TrimSpace(res.out), exe)
	}
}

func init() {
	// userns-inner DIR: as root of a user namespace that maps only 0: its
	// own file is 0's, root's is the overflow id; chown to 0 is to itself,
	// to an unmapped id EINVAL.
	goPrograms["userns-inner"] = func(args []string) int {
		dir := args[0]
		var st syscall.Stat_t
		if err := syscall.Stat(dir+"/mine", &st); err != nil || st.Uid != 0 || st.Gid != 0 {
			fmt.Println("stat mine:", err, st.Uid, st.Gid)
			return 1
		}
		if err := syscall.Lstat(dir+"/roots", &st); err != nil || st.Uid != 65534 {
			fmt.Println("lstat roots:", err, st.Uid)
			return 1
		}
		if err := os.Lchown(dir+"/mine", 0, 0); err != nil {
			fmt.Println("lchown mine 0:", err)
			return 1
		}
		if err := os.Lchown(dir+"/mine", 5, 5); !errors.Is(err, syscall.EINVAL) {
			fmt.Println("lchown mine 5:", err)
			return 1
		}
		if _, err := os.ReadFile(dir + "/roots"); !errors.Is(err, fs.ErrPermission) {
			fmt.Println("read roots:", err)
			return 1
		}
		fmt.Println("ok")
		return 0
	}
}

// A program in a child user namespace (root there, uid 65534 outside):
// stat shows ids as its namespace maps them, chown takes them that way,
// and its root means nothing outside it (a 0600 file of root's stays
// unreadable).
func TestChildUserNamespace(t *testing.T) {
	dir := sectest.PublicDir(t)
	writeFile(t, dir+"/mine", "mine", 0o644)
	os.Chown(dir+"/mine", 65534, 65534)
	writeFile(t, dir+"/roots", "root's", 0o600)
	// The namespace is made by Start's child (the program could not make
	// it under the policy: writing /proc/<pid>/uid_map is checked
	// against the opener's effective uid, and the supervisor opens).
	cmd := goProgram("userns-inner", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		// Become 0 there (65534 outside): a new user namespace alone
		// leaves the process with its ids.
		Credential: &syscall.Credential{Uid: 0, Gid: 0},
	}
	res := sandbox(t, emulate.FilePolicy{Read: []string{"/"}, Write: []string{dir}}, cmd)
	if res.err != nil || !strings.HasSuffix(res.out, "ok\n") {
		t.Fatalf("userns: %v\n%s\ndenied: %v", res.err, res.out, res.denied)
	}
}
