package seccompstream_test

import (
	"context"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
)

// TestStreamWakeAfterClose: a dedicated-mode Stream's context watcher
// (context.AfterFunc -> wakeReceiver -> kick) can run after Close has
// closed the eventfd, and writes 8 bytes to whatever file has its number
// by then. Found by the soak (a C target's stdout pipe received
// "\x01\x00\x00\x00\x00\x00\x00\x00"); the wake-up now holds the
// Stream's lock and finds the eventfd gone. GOMAXPROCS(1) makes the order
// deterministic: the watcher's goroutine is started by cancel and runs
// only once the test yields, after Close.
func TestStreamWakeAfterClose(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stray := 0
	for range 20 {
		s0 := orphanStream(t)
		fd, _ := unix.Dup(s0.FD())
		s0.Close()
		s, err := seccompstream.New(fd, seccompstream.WithDedicatedThread())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		s.Receive(ctx) // io.EOF; the context watcher stays registered
		cancel()       // the watcher's goroutine is started; it has not run yet
		s.Close()
		// Eventfds of our own take the numbers Close freed.
		var efds []int
		for range 4 {
			e, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			efds = append(efds, e)
		}
		runtime.Gosched()
		for _, e := range efds {
			var b [8]byte
			if n, _ := unix.Read(e, b[:]); n > 0 {
				stray++
			}
			unix.Close(e)
		}
	}
	if stray > 0 {
		t.Fatalf("%d of 20 Streams wrote to a descriptor after Close", stray)
	}
}
