package seccompstream_test

import (
	"context"
	"errors"
	"log"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
)

// A supervisor loop over a listener fd: mkdir fails with EACCES, every
// other notified call runs as usual.
func Example() {
	var listenerFD int // from filter.Install, a container runtime, ...
	s, err := seccompstream.New(listenerFD, seccompstream.WithSyncWakeup())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	for n, err := range s.All(ctx) { // ends when no process can notify any more
		if err != nil {
			log.Fatal(err)
		}
		r := seccompstream.Continue()
		if n.SyscallName() == "mkdir" {
			r = seccompstream.Errno(unix.EACCES)
		}
		if err := s.Respond(n, r); err != nil && !errors.Is(err, seccompstream.ErrGone) {
			log.Print(err)
		}
	}
}

// Receive one notification with a deadline.
func ExampleStream_Receive() {
	var s *seccompstream.Stream // from New or Start
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	n, err := s.Receive(ctx)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		log.Print("no call within 5s")
	case err != nil:
		log.Fatal(err) // io.EOF: every target exited
	default:
		log.Printf("%s from thread %d", n.SyscallName(), n.PID)
		_ = s.Respond(n, seccompstream.Return(0))
	}
}

// Check for optional kernel features before asking for them.
func ExampleKernelFeatures() {
	f, err := seccompstream.KernelFeatures()
	if err != nil {
		log.Fatal(err)
	}
	var opts []seccompstream.Option
	if f.SyncWakeUp {
		opts = append(opts, seccompstream.WithSyncWakeup())
	}
	_ = opts
}

// Error takes the errno from an error chain, as returned by os and
// x/sys/unix calls made on the target's behalf.
func ExampleError() {
	err := unix.Mkdirat(unix.AT_FDCWD, "/nonexistent/dir", 0o755)
	r := seccompstream.Error(err)
	_ = r // errno ENOENT
}
