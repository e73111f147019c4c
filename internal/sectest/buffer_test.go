package sectest

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestBufferWait(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 100 {
			fmt.Fprintf(&b, "line %d\n", i)
		}
		io.WriteString(&b, "ready\npartial")
	}()
	b.WaitFor(t, "ready\n")
	b.WaitUntil(t, "100 lines", func(out string) bool { return strings.Count(out, "line ") == 100 })
	if got := b.WaitLine(t, "line 4"); got != "line 4" {
		t.Errorf("WaitLine(line 4) = %q", got)
	}
	// The next match comes after the previous one.
	if got := b.WaitLine(t, "line 4"); got != "line 40" {
		t.Errorf("second WaitLine(line 4) = %q, want line 40", got)
	}
	if got := b.WaitLinePrefix(t, "rea"); got != "ready" {
		t.Errorf("WaitLinePrefix(rea) = %q", got)
	}
	wg.Wait()
	if !strings.HasSuffix(b.String(), "ready\npartial") {
		t.Errorf("String() ends %q", b.String()[len(b.String())-20:])
	}
	done := make(chan string)
	go func() { done <- b.WaitLine(t, "partial") }()
	io.WriteString(&b, " line\n")
	if got := <-done; got != "partial line" {
		t.Errorf("WaitLine of a line finished later = %q", got)
	}
}

// fakeTB records a Fatalf and stops the goroutine, as testing.T does.
type fakeTB struct {
	testing.TB
	failed chan string
}

func (f fakeTB) Helper() {}
func (f fakeTB) Fatalf(format string, args ...any) {
	f.failed <- fmt.Sprintf(format, args...)
	runtime.Goexit() // as testing.T's does; this is not the test's goroutine
}

func TestBufferClosed(t *testing.T) {
	var b Buffer
	io.WriteString(&b, "something else\n")
	f := fakeTB{TB: t, failed: make(chan string, 1)}
	go b.WaitFor(f, "never")
	b.Close()
	if msg := <-f.failed; !strings.Contains(msg, `ended without "never"`) || !strings.Contains(msg, "something else") {
		t.Errorf("failure after Close: %q", msg)
	}
}
