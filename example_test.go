package seccompstream_test

import (
	"context"
	"errors"
	"log"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
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
	if f.SyncWakeup {
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

// Run a command under a filter and answer its calls (the README's tour).
func ExampleStart() {
	ctx := context.Background()
	f := filter.New(filter.Allow)
	if err := f.Add(filter.Notify, "mkdir", "openat"); err != nil {
		log.Fatal(err) // e.g. filter: unknown syscall "opne" for x86_64
	}
	cmd := exec.Command("sh", "-c", "mkdir /tmp/x; cat /etc/hostname")
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	go cmd.Wait() // reap the target: before Linux 6.11 the stream ends only then

	for n, err := range s.All(ctx) { // ends (without error) when the target is gone
		if err != nil {
			log.Fatal(err)
		}
		switch n.SyscallName() {
		case "mkdir":
			path, _ := n.ReadString(n.Args[0], seccompstream.PathMax)
			log.Printf("pid %d: mkdir %q denied", n.PID, path)
			err = s.Respond(n, seccompstream.Errno(unix.EACCES))
		default:
			err = s.Respond(n, seccompstream.Continue()) // see Continue's doc: TOCTOU
		}
		if err != nil && !errors.Is(err, seccompstream.ErrGone) {
			log.Print(err) // ErrGone: the target died or was interrupted; normal
		}
	}
}

// Open a file for the target and hand it over as the call's result.
func ExampleStream_RespondFD() {
	var s *seccompstream.Stream       // from New or Start
	var n *seccompstream.Notification // an openat the supervisor decided to serve
	f, err := os.Open("/srv/data/allowed.txt")
	if err != nil {
		_ = s.Respond(n, seccompstream.Error(err))
		return
	}
	defer f.Close()
	if _, err := s.RespondFD(n, int(f.Fd()), seccompstream.CloseOnExec()); err != nil && !errors.Is(err, seccompstream.ErrGone) {
		log.Print(err)
	}
}
