package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A goSupervisor is one way of answering notifications from Go. Every
// supervisor answers a call with args[0] + 1, which the target checks.
type goSupervisor struct {
	name string
	// serve answers notifications on fd until the listener ends, or until
	// per answers when per > 0 and the supervisor cannot see the end by
	// itself. first is called once, right after the first answer. It
	// returns how many calls it answered.
	serve func(fd int, sync bool, per int, first func()) (int, error)
	// idle starts one waiting receiver per fd. stop ends them and reports
	// whether they all returned; nil stop means they cannot be stopped.
	idle func(fds []int) (stop func() error, err error)
}

// goSupervisors lists the Go supervisors compiled into this binary.
func goSupervisors() []goSupervisor {
	var all []goSupervisor
	all = append(all, oursSupervisors()...)
	all = append(all, dedicatedSupervisors()...)
	all = append(all, serveSupervisors()...)
	all = append(all, lsgSupervisors()...)
	all = append(all, rawSupervisors()...)
	return all
}

func findGoSupervisor(name string) (goSupervisor, error) {
	for _, s := range goSupervisors() {
		if s.name == name {
			return s, nil
		}
	}
	return goSupervisor{}, fmt.Errorf("supervisor %q is not compiled in (see bench kinds)", name)
}

// runSup is a supervisor process: it receives n listener fds on fd 3, serves
// each in its own goroutine and prints "ready" once all are set up, then
// stat lines at the end.
func runSup(args []string) error {
	fs := flag.NewFlagSet("sup", flag.ContinueOnError)
	kind := fs.String("kind", "ours", "supervisor")
	n := fs.Int("n", 1, "number of listener fds to receive on fd 3")
	syncWake := fs.Bool("sync", false, "set SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP")
	per := fs.Int("per", 0, "calls each target makes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sup, err := findGoSupervisor(*kind)
	if err != nil {
		return err
	}
	fds, err := recvFDs(3, *n)
	if err != nil {
		return err
	}
	unix.Close(3)

	var (
		mallocs0 atomic.Uint64
		firstSet atomic.Bool
		answered atomic.Int64
		wg       sync.WaitGroup
		errs     = make(chan error, len(fds))
	)
	first := func() {
		if len(fds) == 1 && firstSet.CompareAndSwap(false, true) {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mallocs0.Store(ms.Mallocs)
		}
	}
	for _, fd := range fds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := sup.serve(fd, *syncWake, *per, first)
			answered.Add(int64(k))
			if err != nil {
				errs <- fmt.Errorf("%s on fd %d: %w", sup.name, fd, err)
			}
		}()
	}
	fmt.Println("ready")
	wg.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	close(errs)
	for err := range errs {
		return err
	}
	fmt.Printf("stat gomaxprocs %d\n", runtime.GOMAXPROCS(0))
	fmt.Printf("stat answered %d\n", answered.Load())
	if firstSet.Load() && answered.Load() > 1 {
		fmt.Printf("stat allocs %.3f\n", float64(ms.Mallocs-mallocs0.Load())/float64(answered.Load()-1))
	}
	return nil
}

// recvFDs receives want fds in SCM_RIGHTS messages on sock.
func recvFDs(sock, want int) ([]int, error) {
	var fds []int
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4*253))
	for len(fds) < want {
		n, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("recvmsg on fd %d: %w", sock, err)
		}
		if n == 0 && oobn == 0 {
			return nil, fmt.Errorf("recvmsg on fd %d: peer closed after %d of %d fds", sock, len(fds), want)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("parse control message: %w", err)
		}
		for _, m := range msgs {
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return nil, fmt.Errorf("parse SCM_RIGHTS: %w", err)
			}
			fds = append(fds, got...)
		}
	}
	if len(fds) != want {
		return nil, fmt.Errorf("received %d fds, want %d", len(fds), want)
	}
	return fds, nil
}

// setSyncWakeup sets SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP with a raw ioctl, for
// supervisors whose library has no option for it.
func setSyncWakeup(fd int) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	if e != 0 {
		return fmt.Errorf("ioctl(SECCOMP_IOCTL_NOTIF_SET_FLAGS, SYNC_WAKE_UP) on fd %d: %w", fd, e)
	}
	return nil
}

// listenerDone reports whether fd polls POLLHUP without POLLIN: no target
// can notify again.
func listenerDone(fd int) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(p, 0)
	return err == nil && n == 1 && p[0].Revents&unix.POLLHUP != 0 && p[0].Revents&unix.POLLIN == 0
}

func threadCount() int {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return -1
	}
	return len(ents)
}
