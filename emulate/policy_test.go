package emulate_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// Every system call that takes a path, on every ABI the tables know, is
// carried out or refused by Files, or is one of the few let through on
// purpose (execve, chdir): none can slip past a file policy unseen.
func TestEveryPathCallCovered(t *testing.T) {
	fs, err := emulate.NewFiles(emulate.FilePolicy{Read: []string{"/"}})
	if err != nil {
		t.Fatal(err)
	}
	routed := fs.Syscalls()
	for _, arch := range sysnames.Arches() {
		for nr := int32(0); nr < 1100; nr++ {
			s, ok := sysargs.Lookup(arch, nr)
			if !ok || s.Find(sysargs.Path) < 0 {
				continue
			}
			if !slices.Contains(routed, s.Name) && !slices.Contains(emulate.LetThrough, s.Name) {
				t.Errorf("%s %s (%d) takes a path and is neither handled nor let through", sysnames.ArchName(arch), s.Name, nr)
			}
		}
	}
	for _, name := range emulate.LetThrough {
		if slices.Contains(routed, name) {
			t.Errorf("%s is both let through and routed", name)
		}
	}
}

func TestFilePolicyValidate(t *testing.T) {
	for _, c := range []struct {
		p    emulate.FilePolicy
		want string
	}{
		{emulate.FilePolicy{Read: []string{""}}, `read[0] "": empty path`},
		{emulate.FilePolicy{Read: []string{"/ok", "rel/x"}}, `read[1] "rel/x": not an absolute path`},
		{emulate.FilePolicy{Write: []string{"/a/../b"}}, `write[0] "/a/../b": has a ".." component`},
		{emulate.FilePolicy{Write: []string{"/a/./b"}}, `has a "." component`},
		{emulate.FilePolicy{Write: []string{"/a\x00b"}}, `NUL`},
		{emulate.FilePolicy{Write: []string{"/" + strings.Repeat("a", 4096)}}, `PATH_MAX`},
	} {
		_, err := emulate.NewFiles(c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewFiles(%+v): %v, want an error containing %q", c.p, err, c.want)
		}
	}
	fs, err := emulate.NewFiles(emulate.FilePolicy{Read: []string{"/usr//lib/", "/usr/lib", "/etc"}, Write: []string{"/tmp/"}})
	if err != nil {
		t.Fatal(err)
	}
	p := fs.Policy()
	if !slices.Equal(p.Read, []string{"/etc", "/usr/lib"}) || !slices.Equal(p.Write, []string{"/tmp"}) {
		t.Errorf("Policy() = %+v", p)
	}
}

// AddRules notifies the file calls on both x86_64 and i386, refuses a
// filter that would let other ABIs through, and lets NULL-path fstat-like
// calls run in the kernel.
func TestAddRules(t *testing.T) {
	fs, err := emulate.NewFiles(emulate.FilePolicy{Read: []string{"/"}})
	if err != nil {
		t.Fatal(err)
	}
	f := filter.New(filter.Allow)
	if err := f.SetMismatchAction(filter.Allow); err != nil {
		t.Fatal(err)
	}
	if err := fs.AddRules(f); err == nil || !strings.Contains(err.Error(), "mismatch action") {
		t.Errorf("AddRules with an Allow mismatch action: %v", err)
	}
	f = filter.New(filter.Allow)
	if err := f.Add(filter.Allow, "openat"); err != nil {
		t.Fatal(err)
	}
	if err := fs.AddRules(f); err == nil || !strings.Contains(err.Error(), "openat") {
		t.Errorf("AddRules over an unconditional allow of openat: %v", err)
	}
}

func init() {
	// fstats FILE: 10 newfstatat(fd, "", AT_EMPTY_PATH), then 10 newfstatat
	// and 10 statx with a NULL path and AT_EMPTY_PATH (fstat since Linux
	// 6.11, EFAULT before).
	goPrograms["fstats"] = func(args []string) int {
		fd, err := unix.Open(args[0], unix.O_RDONLY, 0)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		var st unix.Stat_t
		for range 10 {
			if err := unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH); err != nil || st.Size != 4 {
				fmt.Println("newfstatat(fd, \"\"):", err, st.Size)
				return 1
			}
		}
		var sx unix.Statx_t
		for range 10 {
			unix.Syscall6(unix.SYS_NEWFSTATAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&st)), unix.AT_EMPTY_PATH, 0, 0)
			unix.Syscall6(unix.SYS_STATX, uintptr(fd), 0, unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, uintptr(unsafe.Pointer(&sx)), 0)
		}
		fmt.Println("ok")
		return 0
	}
}

// The filter lets newfstatat and statx with a NULL path run in the
// kernel (no path to check); with an empty path they are notified and
// carried out (the path could have been any).
func TestNullPathStatsNotNotified(t *testing.T) {
	dir := sectest.PublicDir(t)
	writeFile(t, dir+"/f", "four", 0o644)
	res := sandbox(t, emulate.FilePolicy{Read: append(emulate.SystemPaths(), dir)}, goProgram("fstats", dir+"/f"))
	if res.err != nil || !strings.HasSuffix(res.out, "ok\n") {
		t.Fatalf("fstats: %v\n%s", res.err, res.out)
	}
	if n := res.notified["newfstatat"]; n < 10 || n >= 20 {
		t.Errorf("%d newfstatat notified, want the 10 with a path", n)
	}
	if n := res.notified["statx"]; n >= 10 {
		t.Errorf("%d statx notified, want none of the 10 with a NULL path", n)
	}
}
