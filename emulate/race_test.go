package emulate_test

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// raceDirs makes ROOT/a (allowed) and ROOT/b (forbidden), each with a file
// "f" whose content starts with the directory's letter in capitals.
func raceDirs(t *testing.T) (root string) {
	root = sectest.PublicDir(t)
	for _, d := range []string{"a", "b"} {
		os.Mkdir(root+"/"+d, 0o755)
	}
	writeFile(t, root+"/a/f", "A allowed\n", 0o644)
	writeFile(t, root+"/b/f", "B forbidden\n", 0o644)
	return root
}

func parseRace(t *testing.T, res *result) (a, b, failed int) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("helper: %v\n%s", res.err, res.out)
	}
	if _, err := fmt.Sscanf(res.out, "a=%d b=%d failed=%d", &a, &b, &failed); err != nil {
		t.Fatalf("helper printed %q: %v", res.out, err)
	}
	return a, b, failed
}

// A second thread flips the path buffer between ROOT/a/f (allowed) and
// ROOT/b/f (forbidden) while the first opens it and reads: the forbidden
// content is read 0 times, whatever the interleaving.
func TestRaceFlippedPath(t *testing.T) {
	h := helperPath(t)
	root := raceDirs(t)
	n := sectest.Scale(5000)
	res := sandbox(t, emulate.FilePolicy{Read: []string{root + "/a"}}, exec.Command(h, "flip", root+"/a/f", root+"/b/f", fmt.Sprint(n)))
	a, b, failed := parseRace(t, res)
	t.Logf("%d opens: %d allowed content, %d forbidden content, %d refused", n, a, b, failed)
	if b != 0 {
		t.Fatalf("the forbidden file was read %d times of %d", b, n)
	}
	if a == 0 {
		t.Fatalf("the allowed file was never read (%d refused)", failed)
	}
}

// A second thread points ROOT/a/link at ROOT/a/f or ROOT/b/f in a loop
// (symlink, then rename over the link: the program may make links, a link
// grants nothing) while the first opens the link and reads: the forbidden
// content is read 0 times.
func TestRaceRetargetedLink(t *testing.T) {
	h := helperPath(t)
	root := raceDirs(t)
	n := sectest.Scale(3000)
	res := sandbox(t, emulate.FilePolicy{Write: []string{root + "/a"}}, exec.Command(h, "relink", root+"/a", root+"/a/f", root+"/b/f", fmt.Sprint(n)))
	a, b, failed := parseRace(t, res)
	t.Logf("%d opens: %d allowed content, %d forbidden content, %d refused or raced", n, a, b, failed)
	if b != 0 {
		t.Fatalf("the forbidden file was read %d times of %d", b, n)
	}
	if a == 0 {
		t.Fatalf("the allowed file was never read (%d failed)", failed)
	}
}

// The link retargeted from outside the sandbox, by the test itself, as
// fast as it can, while the program opens it.
func TestRaceRetargetedFromOutside(t *testing.T) {
	h := helperPath(t)
	root := raceDirs(t)
	link := root + "/a/link"
	if err := os.Symlink(root+"/a/f", link); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			target := root + "/a/f"
			if i%2 == 1 {
				target = root + "/b/f"
			}
			os.Remove(link + ".tmp")
			if os.Symlink(target, link+".tmp") == nil {
				os.Rename(link+".tmp", link)
			}
		}
	}()
	n := sectest.Scale(3000)
	// "cat" opens and reads the link n times.
	args := []string{"cat"}
	for range n {
		args = append(args, link)
	}
	res := sandbox(t, emulate.FilePolicy{Read: []string{root + "/a"}}, exec.Command(h, args...))
	close(stop)
	<-done
	a, b := 0, 0
	for i := 0; i < len(res.out); i++ {
		if i == 0 || res.out[i-1] == '\n' {
			switch res.out[i] {
			case 'A':
				a++
			case 'B':
				b++
			}
		}
	}
	t.Logf("%d opens: %d allowed content, %d forbidden content", n, a, b)
	if b != 0 {
		t.Fatalf("the forbidden file was read %d times of %d", b, n)
	}
	if a == 0 {
		t.Fatalf("the allowed file was never read:\n%.500s", res.out)
	}
}
