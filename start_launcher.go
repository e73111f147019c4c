package seccompstream

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// launcherConn is the parent's end of the socket to a launcher, in the
// runtime poller so that waiting on it holds no thread and Close wakes it.
type launcherConn struct {
	file      *os.File
	rc        syscall.RawConn
	closeOnce sync.Once
}

type launcherEvent struct {
	fd  int   // the listener, with err == nil
	err error // io.EOF: the launcher closed its end (exec or death)
}

func newLauncherConn(fd int) (*launcherConn, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("seccompstream: Start: %w", err)
	}
	f := os.NewFile(uintptr(fd), "seccompstream-launcher")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("seccompstream: Start: %w", err)
	}
	return &launcherConn{file: f, rc: rc}, nil
}

func (c *launcherConn) close() { c.closeOnce.Do(func() { c.file.Close() }) }

func (c *launcherConn) send(b []byte) error {
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		_, werr = unix.Write(int(fd), b)
		return werr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return werr
}

// recv returns the launcher's next message.
func (c *launcherConn) recv() launcherEvent {
	var (
		buf  [4096]byte
		oob  = make([]byte, unix.CmsgSpace(4))
		n    int
		oobn int
		rerr error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf[:], oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return launcherEvent{fd: -1, err: err}
	}
	if n == 0 {
		return launcherEvent{fd: -1, err: io.EOF}
	}
	var fds []int
	if oobn > 0 {
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if got, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	switch {
	case buf[0] == msgListener && len(fds) == 1:
		return launcherEvent{fd: fds[0]}
	case buf[0] == msgError:
		for _, fd := range fds {
			unix.Close(fd)
		}
		return launcherEvent{fd: -1, err: decodeError(buf[:n])}
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	return launcherEvent{fd: -1, err: fmt.Errorf("unexpected message from the launcher (%d bytes, %d fds)", n, len(fds))}
}

// launcherState is shared between the launcher's filtered main thread and
// its unfiltered helper thread. The main thread only stores to it: after
// the filter is installed it must not make system calls (a futex wake
// could be notified, or denied, by the user's filter).
type launcherState struct {
	listener  atomic.Int32 // -1 until installed
	execErrno atomic.Int32 // set if execveat returned
}

// startInit is the launcher: it runs in a package init function of a
// process that Start re-executed, on the main thread, and never returns.
func startInit(v string) {
	sock, err := strconv.Atoi(v)
	if err != nil || sock < 3 {
		fmt.Fprintf(os.Stderr, "seccompstream launcher: bad %s=%q\n", envStart, v)
		os.Exit(127)
	}
	runtime.LockOSThread() // already locked during init; keep it so
	unix.CloseOnExec(sock)
	fail := func(op string, errno syscall.Errno, detail string) {
		_, _ = unix.Write(sock, encodeError(op, errno, detail))
		os.Exit(127)
	}
	buf := make([]byte, 1<<17)
	n, err := unix.Read(sock, buf)
	if err != nil || n == 0 || n == len(buf) {
		fail("config", unix.EINVAL, fmt.Sprintf("reading the configuration: %d bytes, %v", n, err))
	}
	cfg, err := decodeConfig(buf[:n])
	if err != nil {
		fail("config", unix.EINVAL, err.Error())
	}
	buf = nil

	// Nothing but the program's own fds may cross the exec: sock is the
	// last fd os/exec set up (after ExtraFiles); anything above it was
	// opened here.
	_ = unix.CloseRange(uint(sock)+1, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)

	if err := checkExecutable(cfg.path); err != nil {
		fail("exec", errnoOf(err), err.Error())
	}
	env := cfg.env
	path, err := unix.BytePtrFromString(cfg.path)
	if err != nil {
		fail("exec", unix.EINVAL, "path contains NUL")
	}
	argv, err := syscall.SlicePtrFromStrings(os.Args)
	if err != nil {
		fail("exec", unix.EINVAL, "argument contains NUL")
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		fail("exec", unix.EINVAL, "environment contains NUL")
	}
	sf := make([]unotify.SockFilter, len(cfg.prog))
	for i, ins := range cfg.prog {
		sf[i] = unotify.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := &unotify.SockFprog{Len: uint16(len(sf)), Filter: &sf[0]}
	flags := uintptr(unotify.FilterFlagNewListener)
	var opts []filter.InstallOption
	opts = append(opts, filter.WithListener())
	if cfg.flags&cfgWaitKillable != 0 {
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

	st := new(launcherState)
	st.listener.Store(-1)
	go launcherHelper(sock, st)

	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail("install", errnoOf(err), "prctl(PR_SET_NO_NEW_PRIVS)")
	}
	growStack(0)
	ierr, xerr := installAndExec(fprog, flags, cfg.marker, path, argv, envp, st)
	runtime.KeepAlive(sf)
	if ierr != 0 {
		// Nothing was installed: let package filter explain the errno (it
		// fails the same way and probes the flags).
		detail := fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER): %v", ierr)
		if _, err := filter.InstallProgram(cfg.prog, append(opts, filter.WithNoNewPrivsHandled())...); err != nil {
			detail = err.Error()
		}
		fail("install", ierr, detail)
	}
	// The exec failed. The helper thread reports it and ends the process;
	// this thread is under the filter now and makes no call until then.
	st.execErrno.Store(int32(xerr))
	for {
		spin()
	}
}

// spin does nothing, in a function call, so that the loop around it can
// be preempted.
//
//go:noinline
func spin() {}

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
// the program (unotify.InstallAndExecveat). It returns only on failure.
//
// Both calls are raw: the runtime's bookkeeping after a system call can
// block in a futex, and once the filter is on, that futex could be
// notified (nobody can answer it yet) or denied. The thread keeps its P
// meanwhile (the helper has another one), and nothing signals it: the
// launcher runs with GODEBUG=asyncpreemptoff=1 and no garbage collection,
// so the runtime's monitor does not send it preemption signals. No signal
// means the notification of the execveat is never interrupted, so the
// parent's Continue cannot be lost to a restart, even on kernels without
// WAIT_KILLABLE_RECV.
func installAndExec(fprog *unotify.SockFprog, flags uintptr, marker uint64, path *byte, argv, envp []*byte, st *launcherState) (installErr, execErr syscall.Errno) {
	atFDCWD := int32(unix.AT_FDCWD)
	return unotify.InstallAndExecveat(fprog, flags, &st.listener, marker|uint64(uint32(atFDCWD)), path, argv, envp)
}

// launcherHelper runs on its own, unfiltered, thread of the launcher. It
// sends the listener to the parent once the main thread has installed the
// filter, closes its copy, and reports a failed execveat. It waits with raw
// nanosleep calls, not with the runtime's timers: the main thread holds a
// P and may be stuck in the scheduler under the filter, and nothing here
// may depend on it.
func launcherHelper(sock int, st *launcherState) {
	runtime.LockOSThread()
	for st.listener.Load() < 0 {
		rawSleep(20 * time.Microsecond)
	}
	l := int(st.listener.Load())
	if err := unix.Sendmsg(sock, []byte{msgListener}, unix.UnixRights(l), nil, 0); err != nil {
		rawReport(sock, encodeError("listener", errnoOf(err), "sending the listener to the parent"))
	}
	unix.Close(l)
	for {
		if e := st.execErrno.Load(); e != 0 {
			rawReport(sock, encodeError("exec", syscall.Errno(e), "execveat"))
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
