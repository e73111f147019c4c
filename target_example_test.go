package seccompstream_test

import (
	"context"
	"errors"
	"log"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
)

// Emulate an openat: open the file as the target would (its root, working
// directory and credentials) and hand it over as the call's result. The
// kernel never resolves the path itself, so a target that rewrites the
// path after the check cannot slip another file in.
func ExampleNotification_Target() {
	var s *seccompstream.Stream       // from New or Start
	var n *seccompstream.Notification // an openat
	dirfd, flags, mode := int(int32(n.Args[0])), int(n.Args[2]), uint32(n.Args[3])
	path, err := n.ReadString(n.Args[1], seccompstream.PathMax)
	if err != nil {
		_ = s.Respond(n, seccompstream.Error(err))
		return
	}
	if !strings.HasPrefix(path, "/srv/data/") { // the policy, on the checked copy
		_ = s.Respond(n, seccompstream.Errno(unix.EACCES))
		return
	}
	t, err := n.Target()
	if err != nil {
		_ = s.Respond(n, seccompstream.Error(err)) // ErrGone: nobody is waiting
		return
	}
	defer t.Close()
	f, err := t.Open(dirfd, path, flags, mode)
	if err != nil {
		_ = s.Respond(n, seccompstream.Error(err)) // EACCES, ENOENT, ... as the kernel would say
		return
	}
	defer f.Close()
	var opts []seccompstream.AddFDOption
	if flags&unix.O_CLOEXEC != 0 {
		opts = append(opts, seccompstream.CloseOnExec())
	}
	if _, err := s.RespondFD(n, int(f.Fd()), opts...); err != nil && !errors.Is(err, seccompstream.ErrGone) {
		log.Print(err)
	}
}

// Read the target's hostname: Do runs the function in its uts namespace
// (and its mount, net, ipc and cgroup namespaces, root and credentials).
func ExampleTarget_Do() {
	var t *seccompstream.Target // from (*Notification).Target
	var hostname string
	err := t.Do(context.Background(), func() error {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return err
		}
		hostname = unix.ByteSliceToString(u.Nodename[:])
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("target %d runs on %q", t.PID(), hostname)
}

// Emulate a mkdir: find the parent directory in the target's view, then
// create the name there with the target's credentials and umask, all on
// one throwaway thread.
func ExampleTarget_OpenParent() {
	var s *seccompstream.Stream       // from New or Start
	var n *seccompstream.Notification // a mkdir(path, mode)
	var t *seccompstream.Target       // n's
	path, err := n.ReadString(n.Args[0], seccompstream.PathMax)
	if err != nil {
		_ = s.Respond(n, seccompstream.Error(err))
		return
	}
	err = t.DoWithCreds(context.Background(), func() error {
		p, err := t.OpenParent(unix.AT_FDCWD, path)
		if errors.Is(err, seccompstream.ErrNoFinalName) {
			return unix.EEXIST // what mkdir says for "/", "." and ".."
		}
		if err != nil {
			return err
		}
		defer p.Close()
		return unix.Mkdirat(int(p.Dir.Fd()), p.Name, uint32(n.Args[1]))
	})
	r := seccompstream.Return(0)
	if err != nil {
		r = seccompstream.Error(err)
	}
	if err := s.Respond(n, r); err != nil && !errors.Is(err, seccompstream.ErrGone) {
		log.Print(err)
	}
}
