package launcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// state is shared between the launcher's filtered main thread and its
// unfiltered helper thread. The main thread only stores to it: after the
// filter is installed it must not make system calls (a futex wake could
// be notified, or denied, by the user's filter).
//
// Both words are unotify.RacyInt32, not sync/atomic: see its documentation.
type state struct {
	listener  unotify.RacyInt32 // -1 until installed
	execErrno unotify.RacyInt32 // set if execveat returned
}

// Run is the launcher. It runs in a package init function of a process
// that Start re-executed (the value of Env is sock, the socket's number),
// on the main thread, and never returns: it executes the program or ends
// the process with status 127 after reporting why.
func Run(sock string) {
	fd, err := strconv.Atoi(sock)
	if err != nil || fd < 3 {
		fmt.Fprintf(os.Stderr, "seccompstream launcher: bad %s=%q\n", Env, sock)
		os.Exit(127)
	}
	run(fd)
}

func run(sock int) {
	runtime.LockOSThread() // already locked during init; keep it so
	unix.CloseOnExec(sock)
	fail := func(op string, errno syscall.Errno, detail string) {
		_, _ = unix.Write(sock, EncodeError(op, errno, detail))
		os.Exit(127)
	}
	buf := make([]byte, MaxConfig+1)
	n, err := unix.Read(sock, buf)
	if err != nil || n == 0 || n == len(buf) {
		fail("config", unix.EINVAL, fmt.Sprintf("reading the configuration: %d bytes, %v", n, err))
	}
	cfg, err := DecodeConfig(buf[:n])
	if err != nil {
		fail("config", unix.EINVAL, err.Error())
	}
	buf = nil

	// Nothing but the program's own fds may cross the exec: sock is the
	// last fd os/exec set up (after ExtraFiles); anything above it was
	// opened here.
	_ = unix.CloseRange(uint(sock)+1, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)

	if err := checkExecutable(cfg.Path); err != nil {
		fail("exec", errnoOf(err), err.Error())
	}
	path, err := unix.BytePtrFromString(cfg.Path)
	if err != nil {
		fail("exec", unix.EINVAL, "path contains NUL")
	}
	argv, err := syscall.SlicePtrFromStrings(os.Args)
	if err != nil {
		fail("exec", unix.EINVAL, "argument contains NUL")
	}
	envp, err := syscall.SlicePtrFromStrings(cfg.Env)
	if err != nil {
		fail("exec", unix.EINVAL, "environment contains NUL")
	}
	sf := unotify.SockFilters(cfg.Prog)
	if len(sf) == 0 {
		fail("config", unix.EINVAL, "empty filter program")
	}
	fprog := &unotify.SockFprog{Len: uint16(len(sf)), Filter: &sf[0]}
	flags := uintptr(unotify.FilterFlagNewListener)
	opts := []filter.InstallOption{filter.WithListener()}
	if cfg.WaitKillableRecv {
		flags |= unotify.FilterFlagWaitKillableRecv
		opts = append(opts, filter.WithWaitKillableRecv())
	}

	// The helper must be able to run while the filtered thread waits: give
	// it a P of its own, and let no garbage collection start, whose
	// stop-the-world could wait for the filtered thread forever (and whose
	// preemption signals would interrupt its notified execveat).
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	debug.SetGCPercent(-1)

	st := new(state)
	st.listener.Store(-1)
	go helper(sock, st)

	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail("install", errnoOf(err), "prctl(PR_SET_NO_NEW_PRIVS)")
	}
	growStack(0)
	// If the exec fails, this does not return: the thread, under the
	// filter now, spins until the helper reports and ends the process.
	ierr := installAndExec(fprog, flags, cfg.Marker, path, argv, envp, st)
	runtime.KeepAlive(sf)
	// Nothing was installed: let package filter explain the errno (it
	// fails the same way and probes the flags).
	detail := fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER): %v", ierr)
	if _, err := filter.InstallProgram(cfg.Prog, append(opts, filter.WithNoNewPrivsHandled())...); err != nil {
		detail = err.Error()
	}
	fail("install", ierr, detail)
}

// checkExecutable reports, as os/exec would at exec time, why path cannot
// be executed.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return &fs.PathError{Op: "exec", Path: path, Err: unix.EACCES}
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return &fs.PathError{Op: "exec", Path: path, Err: err}
	}
	return nil
}

// errnoOf returns the errno in err's chain, or EINVAL.
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EINVAL
}

// growStack makes sure the goroutine's stack is large, so that the
// function calls after the filter is installed need no stack growth (which
// can allocate, and make system calls).
//
//go:noinline
func growStack(i int) byte {
	var b [32 << 10]byte
	b[i] = 1
	return b[(i+1)%len(b)]
}

// installAndExec installs the filter on the calling thread and executes
// the program (unotify.InstallAndExecveat), with the marker in the upper
// half of dirfd (AT_FDCWD). It returns only when the install fails; see
// the package documentation for why everything after the install is raw
// and what keeps signals away.
func installAndExec(fprog *unotify.SockFprog, flags uintptr, marker uint64, path *byte, argv, envp []*byte, st *state) (installErr syscall.Errno) {
	atFDCWD := int32(unix.AT_FDCWD)
	return unotify.InstallAndExecveat(fprog, flags, &st.listener, &st.execErrno, marker|uint64(uint32(atFDCWD)), path, argv, envp)
}

// helper runs on its own, unfiltered, thread of the launcher. It sends the
// listener to the parent once the main thread has installed the filter,
// closes its copy, and reports a failed execveat. It waits with raw
// nanosleep calls, not with the runtime's timers: the main thread holds a
// P and may be stuck in the scheduler under the filter, and nothing here
// may depend on it.
func helper(sock int, st *state) {
	runtime.LockOSThread()
	for st.listener.Load() < 0 {
		rawSleep(20 * time.Microsecond)
	}
	l := int(st.listener.Load())
	if err := unix.Sendmsg(sock, []byte{MsgListener}, unix.UnixRights(l), nil, 0); err != nil {
		rawReport(sock, EncodeError("listener", errnoOf(err), "sending the listener to the parent"))
	}
	unix.Close(l)
	for {
		if e := st.execErrno.Load(); e != 0 {
			rawReport(sock, EncodeError("exec", syscall.Errno(e), "execveat"))
		}
		rawSleep(time.Millisecond)
	}
}

// rawSleep sleeps in a raw nanosleep call (a signal may cut it short).
func rawSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unotify.RawNanosleep(&ts)
}

// rawReport sends msg to the parent and ends the launcher.
func rawReport(sock int, msg []byte) {
	unotify.RawWriteAndExit(sock, msg, 127)
}
