package sectest

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Patience is how long the waits of this package (Buffer's, the OCI
// fixtures') give what they wait for: generous, since tests share two
// cores with the race detector and with each other.
const Patience = 2 * time.Minute

// A Buffer collects what one or more writers write (a process's stdout
// and stderr, a logger) and lets a test wait for text in it. The zero
// value is ready to use; it is safe for concurrent use.
type Buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	next    int           // where WaitLine reads the next line
	changed chan struct{} // closed, and made anew, on every change
	closed  bool          // no more writes: waits end at once
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.notify()
	return b.b.Write(p)
}

// Close says that nothing more will be written (the writing process has
// exited): waits for what is not there yet fail at once instead of at
// their timeout.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.notify()
	return nil
}

// notify wakes the waiters; b.mu is held.
func (b *Buffer) notify() {
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// wait calls check with the buffer's bytes, under the lock, until it
// reports done, then returns; it fails the test after Patience or once
// the buffer is closed without check being done.
func (b *Buffer) wait(t testing.TB, what string, check func([]byte) bool) {
	t.Helper()
	timeout := time.After(Patience)
	for {
		b.mu.Lock()
		if check(b.b.Bytes()) {
			b.mu.Unlock()
			return
		}
		if b.closed {
			out := b.b.String()
			b.mu.Unlock()
			t.Fatalf("output ended without %s:\n%s", what, out)
		}
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no %s within %v in:\n%s", what, Patience, b)
		}
	}
}

// WaitFor waits until the buffer contains s.
func (b *Buffer) WaitFor(t testing.TB, s string) {
	t.Helper()
	b.wait(t, strconv.Quote(s), func(data []byte) bool { return bytes.Contains(data, []byte(s)) })
}

// WaitUntil waits until ok reports true for what the buffer holds; what
// says, for the failure message, what ok waits for.
func (b *Buffer) WaitUntil(t testing.TB, what string, ok func(output string) bool) {
	t.Helper()
	b.wait(t, what, func(data []byte) bool { return ok(string(data)) })
}

// WaitLine returns the next whole line (after the one the previous
// WaitLine or WaitLinePrefix returned) that contains s, skipping the lines
// before it.
func (b *Buffer) WaitLine(t testing.TB, s string) string {
	t.Helper()
	return b.waitLine(t, "a line containing "+strconv.Quote(s), func(l string) bool { return strings.Contains(l, s) })
}

// WaitLinePrefix is WaitLine for the next line that starts with prefix.
func (b *Buffer) WaitLinePrefix(t testing.TB, prefix string) string {
	t.Helper()
	return b.waitLine(t, "a line starting with "+strconv.Quote(prefix), func(l string) bool { return strings.HasPrefix(l, prefix) })
}

func (b *Buffer) waitLine(t testing.TB, what string, match func(string) bool) string {
	t.Helper()
	var line string
	b.wait(t, what, func(data []byte) bool {
		for {
			i := bytes.IndexByte(data[b.next:], '\n')
			if i < 0 {
				return false
			}
			l := string(data[b.next : b.next+i])
			b.next += i + 1
			if match(l) {
				line = l
				return true
			}
		}
	})
	return line
}
