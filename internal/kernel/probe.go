package kernel

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/cbpf"
	"github.com/seccompstream/seccompstream/internal/nsthread"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// Features lists the optional seccomp user-notification features of the
// running kernel. Each field is found by trying the feature, never by
// reading the kernel version.
type Features struct {
	// Continue: SECCOMP_USER_NOTIF_FLAG_CONTINUE (Linux 5.5).
	Continue bool
	// TSyncESRCH: SECCOMP_FILTER_FLAG_TSYNC_ESRCH, needed to combine TSYNC
	// with NEW_LISTENER (Linux 5.7).
	TSyncESRCH bool
	// AddFD: SECCOMP_IOCTL_NOTIF_ADDFD (Linux 5.9).
	AddFD bool
	// AddFDSend: SECCOMP_ADDFD_FLAG_SEND (Linux 5.14).
	AddFDSend bool
	// WaitKillableRecv: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19).
	WaitKillableRecv bool
	// SyncWakeup (spelled as WithSyncWakeup): SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP via
	// SECCOMP_IOCTL_NOTIF_SET_FLAGS (Linux 6.6).
	SyncWakeup bool
	// HUPOnExit: the listener hangs up when the last target exits rather
	// than when it is reaped, and RECV on a listener without targets fails
	// with ENOENT instead of blocking (Linux 6.11).
	HUPOnExit bool
}

// Feature minimum versions, for messages.
const (
	VersionContinue         = "5.5"
	VersionTSyncESRCH       = "5.7"
	VersionAddFD            = "5.9"
	VersionAddFDSend        = "5.14"
	VersionWaitKillableRecv = "5.19"
	VersionSyncWakeUp       = "6.6"
	VersionHUPOnExit        = "6.11"
)

var probeOnce = sync.OnceValues(probe)

// Probe reports the running kernel's features. The first call does the
// work (it creates a listener on a short-lived OS thread that exits before
// Probe returns, so no filter stays on any thread of the process); later
// calls return the cached result. A non-nil error
// means the kernel could not be probed at all (e.g. seccomp is disabled or
// forbidden), and the result is then not cached.
func Probe() (Features, error) {
	f, err := probeOnce()
	if err != nil {
		// Only conclusive results are cached.
		probeOnce = sync.OnceValues(probe)
	}
	return f, err
}

func probe() (Features, error) {
	var f Features
	var err error
	if f.TSyncESRCH, err = unotify.ProbeFilterFlag(unotify.FilterFlagTSyncESRCH); err != nil {
		return f, fmt.Errorf("probing seccomp filter flags: %w", err)
	}
	if f.WaitKillableRecv, err = unotify.ProbeFilterFlag(unotify.FilterFlagWaitKillableRecv | unotify.FilterFlagNewListener); err != nil {
		return f, fmt.Errorf("probing seccomp filter flags: %w", err)
	}
	l, err := orphanListener()
	if err != nil {
		return f, err
	}
	defer unix.Close(l)

	// A bogus id makes every supported request fail with ENOENT after its
	// arguments were checked; unsupported flags or requests fail with EINVAL
	// (ENOTTY on some kernels) before that.
	const bogusID = ^uint64(0)
	resp := unotify.Resp{ID: bogusID, Flags: unotify.FlagContinue}
	f.Continue = unotify.Send(l, &resp) == unix.ENOENT

	add := unotify.AddFD{ID: bogusID, SrcFD: uint32(l)}
	_, err = unotify.AddFDIoctl(l, &add)
	f.AddFD = err == unix.ENOENT
	add.Flags = unotify.AddFDFlagSend
	_, err = unotify.AddFDIoctl(l, &add)
	f.AddFDSend = err == unix.ENOENT

	// Setting SYNC_WAKE_UP on a listener nobody else holds changes nothing.
	f.SyncWakeup = unotify.SetFlags(l, unotify.FDSyncWakeUp) == nil

	f.HUPOnExit = recvFailsWithoutUsers(l)
	return f, nil
}

// allowAll is the probes' filter: every call is allowed.
var allowAll = func() []bpf.RawInstruction {
	var a cbpf.Assembler
	a.Ret(unix.SECCOMP_RET_ALLOW)
	prog, err := a.Assemble()
	if err != nil {
		panic(err)
	}
	return prog
}()

// orphanListener returns a listener whose filter has no users left: the
// filter is installed on a locked OS thread, which then exits (a goroutine
// that returns while locked takes its thread with it).
func orphanListener() (int, error) {
	type result struct {
		fd  int
		err error
	}
	var r result
	nsthread.Run(func() {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			r = result{-1, fmt.Errorf("probing seccomp: prctl(PR_SET_NO_NEW_PRIVS): %w", err)}
			return
		}
		fd, err := unotify.SetModeFilter(unotify.SockFilters(allowAll), unotify.FilterFlagNewListener)
		if err != nil {
			r = result{-1, fmt.Errorf("probing seccomp: seccomp(SET_MODE_FILTER, NEW_LISTENER): %w", err)}
			return
		}
		r = result{fd, nil}
	})
	if r.err != nil {
		return -1, r.err
	}
	// Wait for the thread to be gone: the listener hangs up once the filter
	// has no users (Linux 5.9; earlier kernels never report it).
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 10)
		if err == nil && n > 0 && pfd[0].Revents&unix.POLLHUP != 0 {
			break
		}
	}
	return r.fd, nil
}

// recvFailsWithoutUsers reports whether RECV on a listener without users
// fails at once (Linux 6.11) rather than blocking. Where it blocks, the
// probe interrupts it with a signal (RECV's wait is interruptible and is not
// restarted), so the probe never hangs.
func recvFailsWithoutUsers(l int) bool {
	var pfd = []unix.PollFd{{Fd: int32(l), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 0); err != nil || n == 0 || pfd[0].Revents&unix.POLLHUP == 0 {
		// No hang-up reported at all: an old kernel.
		return false
	}
	tidc := make(chan int, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tidc <- unix.Gettid()
		var n unotify.Notif
		done <- unotify.Recv(l, &n)
	}()
	tid := <-tidc
	select {
	case err := <-done:
		return err == unix.ENOENT
	case <-time.After(200 * time.Millisecond):
	}
	// Kernels that block here (before 6.11) end the wait with EINTR on a
	// handled signal. (6.11 made the wait restartable, together with the
	// ENOENT answer above.) Should a kernel do neither, give up after two
	// seconds; the goroutine then stays blocked on the orphan listener,
	// which is closed below, for the life of the process.
	for range 200 {
		_ = unix.Tgkill(unix.Getpid(), tid, unix.SIGURG)
		select {
		case <-done:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return false
}
