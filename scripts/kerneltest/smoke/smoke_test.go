//go:build linux && amd64

package smoke

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/cbpf"
	"github.com/seccompstream/seccompstream/internal/procstatus"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// helperEnv makes the re-executed test binary run helperMain instead of the
// tests; its value is the number of getppid calls to make, followed by
// ",storm" to have the calls interrupted by signals.
const helperEnv = "KT_SMOKE_HELPER"

// answer is what the supervisor returns for every notified getppid.
const answer = 4242

// wait bounds every wait in these tests; generous for a TCG guest.
const wait = 60 * time.Second

func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(helperEnv); ok {
		os.Exit(helperMain(v))
	}
	os.Exit(m.Run())
}

// helperMain runs in the child: it installs a filter that notifies getppid
// on its locked thread, passes the listener to the parent over fd 3, makes
// n getppid calls and checks that each returns the parent's answer.
func helperMain(v string) int {
	v, storm := strings.CutSuffix(v, ",storm")
	n, err := strconv.Atoi(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper: bad %s=%q\n", helperEnv, v)
		return 2
	}
	// The filter goes on this thread only (no TSYNC) and the thread stays
	// locked to this goroutine until exit, so no other goroutine runs on it.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "helper: no_new_privs: %v\n", err)
		return 2
	}
	prog := getppidFilter()
	fd, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(prog.Filter)
	if e != 0 {
		fmt.Fprintf(os.Stderr, "helper: seccomp: %v\n", e)
		return 2
	}
	err = unix.Sendmsg(3, []byte{0}, unix.UnixRights(int(fd)), nil, 0)
	unix.Close(int(fd))
	unix.Close(3)
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper: sendmsg: %v\n", err)
		return 2
	}
	if storm {
		// SIGURG (Go's preemption signal, handled with SA_RESTART) at the
		// filtered thread: a waiting call is withdrawn and notified again.
		pid, tid := unix.Getpid(), unix.Gettid()
		var done atomic.Bool
		defer done.Store(true)
		go func() {
			for !done.Load() {
				unix.Tgkill(pid, tid, unix.SIGURG)
				runtime.Gosched()
			}
		}()
	}
	for i := 0; i < n; i++ {
		r, _, e := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		if e != 0 || r != answer {
			fmt.Fprintf(os.Stderr, "helper: getppid call %d = %d, errno %v; want %d\n", i, int(r), e, answer)
			return 1
		}
	}
	return 0
}

// getppidFilter returns a program that notifies getppid on x86_64, allows
// every other x86_64 call and kills on any other ABI.
func getppidFilter() unotify.SockFprog {
	var a cbpf.Assembler
	native, notify := a.NewLabel(), a.NewLabel()
	a.LoadAbs(cbpf.OffArch)
	a.JumpIf(bpf.JumpEqual, unix.AUDIT_ARCH_X86_64, native, cbpf.Next)
	a.Ret(unix.SECCOMP_RET_KILL_PROCESS)
	a.Bind(native)
	a.LoadAbs(cbpf.OffNr)
	a.JumpIf(bpf.JumpEqual, unix.SYS_GETPPID, notify, cbpf.Next)
	a.Ret(unix.SECCOMP_RET_ALLOW)
	a.Bind(notify)
	a.Ret(unix.SECCOMP_RET_USER_NOTIF)
	prog, err := a.Assemble()
	if err != nil {
		panic(err)
	}
	ins := unotify.SockFilters(prog)
	return unotify.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]}
}

// target is a running helper and the listener fd of its filter.
type target struct {
	cmd      *exec.Cmd
	listener int
	exited   chan struct{} // closed once the helper exited (a zombie or reaped)
	release  chan struct{} // closed to let the helper be reaped
	unhold   sync.Once
	done     chan struct{} // closed once the helper was reaped
	err      error         // cmd.Wait's result, set before done is closed
}

// reap lets a held helper be reaped.
func (tg *target) reap() { tg.unhold.Do(func() { close(tg.release) }) }

// wait waits for the helper to be reaped and returns how it exited.
func (tg *target) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-tg.done:
		return tg.err
	case <-time.After(wait):
		t.Fatalf("helper still running after %v", wait)
		return nil
	}
}

// startTarget starts a helper that makes n notified getppid calls, under a
// storm of signals if storm is set. A goroutine reaps the helper as soon as
// it exits (before Linux 6.11 POLLHUP on the listener comes only at reap),
// or, if hold is set, only once the test calls reap.
func startTarget(t *testing.T, n int, storm, hold bool) *target {
	t.Helper()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	child := os.NewFile(uintptr(pair[1]), "helper-sock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	v := strconv.Itoa(n)
	if storm {
		v += ",storm"
	}
	cmd.Env = append(os.Environ(), helperEnv+"="+v)
	cmd.ExtraFiles = []*os.File{child}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Start()
	child.Close()
	if err != nil {
		unix.Close(pair[0])
		t.Fatal(err)
	}
	tg := &target{
		cmd:      cmd,
		listener: -1,
		exited:   make(chan struct{}),
		release:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	if !hold {
		tg.reap()
	}
	go func() {
		var info unix.Siginfo
		for {
			// WNOWAIT: see the exit, leave the zombie.
			err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				break
			}
		}
		close(tg.exited)
		<-tg.release
		tg.err = cmd.Wait()
		close(tg.done)
	}()
	t.Cleanup(func() {
		if tg.listener >= 0 {
			unix.Close(tg.listener)
		}
		cmd.Process.Kill()
		tg.reap()
		<-tg.done
	})

	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(pair[0], buf, oob, unix.MSG_CMSG_CLOEXEC)
	unix.Close(pair[0])
	if err != nil {
		t.Fatalf("receive listener: %v", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive listener: %d control messages, %v", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("receive listener: %v fds, %v", fds, err)
	}
	tg.listener = fds[0]
	return tg
}

// pollListener waits up to wait for any of events (POLLHUP is always
// reported) and returns revents.
func pollListener(t *testing.T, fd int, events int16) int16 {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	for {
		n, err := unix.Poll(fds, int(wait.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if n == 0 {
			t.Fatalf("poll: nothing after %v", wait)
		}
		return fds[0].Revents
	}
}

// notif is struct seccomp_notif.
type notif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

// resp is struct seccomp_notif_resp.
type resp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

func recv(fd int, n *notif) error {
	*n = notif{}
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(n)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

func send(fd int, r *resp) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(r)))
	if e != 0 {
		return e
	}
	return nil
}

// atLeast reports whether the running kernel is major.minor or newer.
func atLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	at, err := sectest.KernelAtLeast(fmt.Sprintf("%d.%d", major, minor))
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestFilterFlags probes each filter flag the way the library does:
// seccomp(SET_MODE_FILTER, flag, NULL) fails with EFAULT for a flag the
// kernel knows and EINVAL for one it does not.
func TestFilterFlags(t *testing.T) {
	flags := []struct {
		name         string
		flag         uintptr
		major, minor int
	}{
		{"TSYNC", unix.SECCOMP_FILTER_FLAG_TSYNC, 3, 17},
		{"LOG", unix.SECCOMP_FILTER_FLAG_LOG, 4, 14},
		{"SPEC_ALLOW", unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW, 4, 17},
		{"NEW_LISTENER", unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, 5, 0},
		{"TSYNC_ESRCH", unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH, 5, 7},
		// WAIT_KILLABLE_RECV is refused without NEW_LISTENER.
		{"WAIT_KILLABLE_RECV", unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, 5, 19},
	}
	for _, f := range flags {
		_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, f.flag, 0)
		var known bool
		switch e {
		case unix.EFAULT:
			known = true
		case unix.EINVAL:
		default:
			t.Errorf("%s: errno %v, want EFAULT or EINVAL", f.name, e)
			continue
		}
		t.Logf("%-18s known=%-5v (since Linux %d.%d)", f.name, known, f.major, f.minor)
		if want := atLeast(t, f.major, f.minor); known != want {
			t.Errorf("%s: known=%v, want %v for this kernel", f.name, known, want)
		}
	}
}

// TestSetFlagsSyncWakeUp checks SECCOMP_IOCTL_NOTIF_SET_FLAGS: SYNC_WAKE_UP
// works from 6.6 on and gives EINVAL before.
func TestSetFlagsSyncWakeUp(t *testing.T) {
	tg := startTarget(t, 0, false, false)
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(tg.listener), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	if e == 0 {
		t.Logf("SET_FLAGS(SYNC_WAKE_UP): ok")
	} else {
		t.Logf("SET_FLAGS(SYNC_WAKE_UP): %v", e)
	}
	if atLeast(t, 6, 6) {
		if e != 0 {
			t.Errorf("SET_FLAGS(SYNC_WAKE_UP) = %v, want success on 6.6+", e)
		}
	} else if e != unix.EINVAL {
		t.Errorf("SET_FLAGS(SYNC_WAKE_UP) = %v, want EINVAL before 6.6", e)
	}
	// An unknown flag is refused wherever the ioctl exists.
	_, _, e = unix.Syscall(unix.SYS_IOCTL, uintptr(tg.listener), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, 1<<30)
	if e != unix.EINVAL {
		t.Errorf("SET_FLAGS(1<<30) = %v, want EINVAL", e)
	}
	if err := tg.wait(t); err != nil {
		t.Fatalf("helper: %v", err)
	}
}

// TestServeUntilHangup answers every notification until POLLHUP, then
// checks what RECV does on a filter without users: ENOENT every time from
// 6.11 on; before, ENOENT for each notification that was withdrawn before it
// was received (stale wake-ups), then it blocks.
//
// The signalled case interrupts the target's calls, so notifications are
// withdrawn before and after RECV and come back with new ids.
func TestServeUntilHangup(t *testing.T) {
	t.Run("quiet", func(t *testing.T) { testServeUntilHangup(t, false) })
	t.Run("signalled", func(t *testing.T) { testServeUntilHangup(t, true) })
}

func testServeUntilHangup(t *testing.T, storm bool) {
	calls := 200
	if os.Getenv("SECCOMPSTREAM_SLOW") != "" {
		calls = 50
	}
	tg := startTarget(t, calls, storm, false)
	withdrawn, gone := 0, 0
	answered := 0
	var n notif
	for {
		rev := pollListener(t, tg.listener, unix.POLLIN)
		if rev&unix.POLLIN == 0 {
			if rev&unix.POLLHUP == 0 {
				t.Fatalf("poll: revents %#x", rev)
			}
			break
		}
		if err := recv(tg.listener, &n); err != nil {
			if err == unix.ENOENT {
				withdrawn++
				continue
			}
			t.Fatalf("RECV: %v", err)
		}
		if n.nr != unix.SYS_GETPPID || n.arch != unix.AUDIT_ARCH_X86_64 {
			t.Fatalf("RECV: nr %d arch %#x, want getppid on x86_64", n.nr, n.arch)
		}
		r := resp{id: n.id, val: answer}
		switch err := send(tg.listener, &r); err {
		case nil:
			answered++
		case unix.ENOENT:
			gone++ // interrupted after RECV: it comes back with a new id
		default:
			t.Fatalf("SEND: %v", err)
		}
	}
	if err := tg.wait(t); err != nil {
		t.Fatalf("helper: %v", err)
	}
	t.Logf("%d calls: %d answered, %d gone at SEND, %d ENOENT from RECV, then POLLHUP",
		calls, answered, gone, withdrawn)
	if answered < calls {
		t.Errorf("answered %d notifications, want at least %d", answered, calls)
	}

	// From 6.11 on, RECV must keep returning ENOENT: stop after 1000.
	// Before, stale wake-ups give any number of ENOENTs (hundreds were
	// seen under TCG), then it must block.
	newKernel := atLeast(t, 6, 11)
	limit := -1
	if newKernel {
		limit = 1000
	}
	stale, blocked := recvAfterHangup(t, tg.listener, limit)
	t.Logf("RECV after POLLHUP: %d ENOENT, then blocked=%v", stale, blocked)
	if newKernel && blocked {
		t.Errorf("RECV blocked on a filter without users after %d ENOENT; want ENOENT every time on 6.11+", stale)
	}
}

// TestHangupAtReap checks when POLLHUP comes: from 6.11 on when the last
// target exits, before only when it is reaped (a zombie target still uses
// the filter). A supervisor that waits for the end of the stream before it
// reaps its targets hangs on older kernels.
func TestHangupAtReap(t *testing.T) {
	tg := startTarget(t, 0, false, true)
	select {
	case <-tg.exited:
	case <-time.After(wait):
		t.Fatalf("helper did not exit within %v", wait)
	}
	fds := []unix.PollFd{{Fd: int32(tg.listener), Events: unix.POLLIN}}
	if _, err := unix.Poll(fds, 0); err != nil {
		t.Fatalf("poll: %v", err)
	}
	zombieHup := fds[0].Revents&unix.POLLHUP != 0
	t.Logf("POLLHUP while the target is a zombie: %v", zombieHup)
	if atLeast(t, 6, 11) {
		// Released at exit: wait for it, in case exit is still under way.
		if rev := pollListener(t, tg.listener, unix.POLLIN); rev&unix.POLLHUP == 0 {
			t.Errorf("zombie target: revents %#x, want POLLHUP on 6.11+", rev)
		}
	} else if zombieHup {
		t.Errorf("POLLHUP before the target was reaped; want it only at reap before 6.11")
	}
	tg.reap()
	if err := tg.wait(t); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if rev := pollListener(t, tg.listener, unix.POLLIN); rev&unix.POLLHUP == 0 {
		t.Errorf("reaped target: revents %#x, want POLLHUP", rev)
	}
}

// recvAfterHangup calls RECV on a thread of its own until it has seen
// ENOENT limit times (no limit if negative) or the thread is asleep in the
// ioctl; then it interrupts the thread with a signal (RECV returns EINTR
// rather than restarting) and reports the count. It fails the test if
// neither happens within wait.
func recvAfterHangup(t *testing.T, fd int, limit int) (enoents int, blocked bool) {
	t.Helper()
	type result struct {
		enoents int
		err     error
	}
	tid := make(chan int, 1)
	res := make(chan result, 1)
	var stop atomic.Bool
	t.Cleanup(func() { stop.Store(true) }) // ends a spinning loop if the test fails
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		count := 0
		var n notif
		for limit < 0 || count < limit {
			_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n)))
			switch e {
			case unix.ENOENT:
				count++
				if stop.Load() {
					res <- result{count, nil}
					return
				}
			case unix.EINTR:
				if stop.Load() {
					res <- result{count, nil}
					return
				}
			case 0:
				res <- result{count, fmt.Errorf("RECV returned a notification (id %d, nr %d)", n.id, n.nr)}
				return
			default:
				res <- result{count, fmt.Errorf("RECV: %w", e)}
				return
			}
			n = notif{}
		}
		res <- result{count, nil}
	}()
	id := <-tid
	deadline := time.Now().Add(wait)
	for {
		select {
		case r := <-res:
			if r.err != nil {
				t.Fatal(r.err)
			}
			return r.enoents, false
		default:
		}
		if sleepingInIoctl(id) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RECV thread neither blocked nor done after %v", wait)
		}
		time.Sleep(5 * time.Millisecond) // polling /proc: there is no event for "asleep"
	}
	stop.Store(true)
	for {
		if err := unix.Tgkill(os.Getpid(), id, unix.SIGURG); err != nil {
			t.Fatalf("tgkill: %v", err)
		}
		select {
		case r := <-res:
			if r.err != nil {
				t.Fatal(r.err)
			}
			return r.enoents, true
		case <-time.After(100 * time.Millisecond): // resend: the signal may land before the ioctl
		}
		if time.Now().After(deadline.Add(wait)) {
			t.Fatalf("RECV thread did not return after SIGURG")
		}
	}
}

// sleepingInIoctl reports whether thread tid of this process is in an
// interruptible sleep inside ioctl(2).
func sleepingInIoctl(tid int) bool {
	dir := fmt.Sprintf("/proc/self/task/%d/", tid)
	stat, err := os.ReadFile(dir + "stat")
	if err != nil {
		return false
	}
	if f := procstatus.StatFields(stat); len(f) == 0 || f[0] != "S" {
		return false
	}
	sc, err := os.ReadFile(dir + "syscall")
	if err != nil {
		return false
	}
	f := strings.Fields(string(sc))
	return len(f) > 0 && f[0] == strconv.Itoa(unix.SYS_IOCTL)
}
