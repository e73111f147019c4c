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
	dir, outside := publicDir(t), publicDir(t)
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
