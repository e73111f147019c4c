package seccompstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/kernel"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// How Start works
//
// Go has no hook between fork and exec, so Start re-executes the running
// binary (/proc/self/exe) as a launcher, marked by the environment variable
// envStart, through cmd.Start itself: cmd.Process, cmd.Wait, Stdin, Stdout,
// Stderr, Dir, ExtraFiles, SysProcAttr and Cancel all behave as usual. The
// launcher's package init hook (startInit, in start_launcher.go) never
// returns to the program's main:
//
//  1. It reads its configuration (program path, environment, BPF program,
//     flags) from a SOCK_SEQPACKET socket it inherits right after
//     cmd.ExtraFiles, checks that the program can be executed, builds argv
//     and envp, turns garbage collection off, makes sure GOMAXPROCS >= 2
//     and starts a helper goroutine locked to its own, unfiltered, thread.
//     The launcher runs with GODEBUG=asyncpreemptoff=1 (the program gets
//     its own environment back).
//  2. On the main thread it sets no_new_privs and installs the filter with
//     a raw seccomp(2) call (NEW_LISTENER, and WAIT_KILLABLE_RECV where the
//     kernel has it; no TSYNC: only this thread is filtered). The listener
//     is close-on-exec.
//  3. The thread publishes the listener number in memory (no system call)
//     and makes a raw execveat(2) call with a random marker in the upper
//     half of the dirfd argument. The kernel reads dirfd as an int, so the
//     marker changes nothing for the call, but the filter Start installs
//     has a prefix that notifies exactly this call: it is the boundary
//     between launcher and program.
//  4. The helper sends the listener to the parent with SCM_RIGHTS (so
//     neither pidfd_getfd, Linux 5.6, nor ptrace permission is needed) and
//     closes its copy. It then polls, with raw nanosleep calls, for a failed
//     execveat, which it reports before ending the process.
//  5. The parent answers every notification from the launcher with
//     Continue (whatever the filter notifies), answers the marked execveat
//     with Continue, and waits for the socket to close, which happens when
//     the exec succeeds (close-on-exec) before the program runs. Only then
//     does Start return the Stream, so the user sees nothing from the
//     launcher.
//
// After the filter is installed, the filtered thread makes no system call
// but the marked execveat, and no signal reaches it (nothing in the
// launcher sends one), so a filter that denies or notifies any other call
// cannot trap the launcher, and the Continue for the execveat cannot be
// lost to an interrupted, restarted call.

const (
	// envStart marks a launcher; its value is the number of the socket.
	envStart = "SECCOMPSTREAM_START_FD"

	// Messages from the launcher, by their first byte.
	msgListener = 'L' // SCM_RIGHTS carries the listener
	msgError    = 'E' // errno (4 bytes), then "op\x00path\x00detail"

	maxConfig = 1 << 20
)

// noWaitKillable turns WAIT_KILLABLE_RECV off even where the kernel has
// it. Tests set it (start_export_test.go) to exercise the fallback.
var noWaitKillable atomic.Bool

func init() {
	if v, ok := syscall.Getenv(envStart); ok {
		startInit(v)
	}
}

// Start starts cmd with the filter f installed, and returns the Stream
// that receives the notifications of cmd's process and all its descendants
// (children inherit the filter; it cannot be removed).
//
// cmd is started with cmd.Start and is used as usual afterwards:
// cmd.Process is set, and cmd.Wait must be called to reap it. Stdin,
// Stdout, Stderr, Env, Dir, ExtraFiles, SysProcAttr and Cancel keep their
// meaning. cmd.Path is executed as given (exec.Command has already looked
// it up in PATH); a relative Path is relative to Dir.
//
// Call cmd.Wait concurrently with serving the Stream (typically in its own
// goroutine): before Linux 6.11 the Stream reports io.EOF only once the
// last filtered process has been reaped, so a supervisor that serves until
// io.EOF and only then calls cmd.Wait waits forever.
//
// The first notification the Stream delivers comes from the program
// itself: Start answers everything its own launcher code does under the
// filter, up to and including the execve of the program, with Continue
// before it returns. So a filter that notifies every call (default action
// filter.Notify) works, and a filter that notifies execve or execveat
// shows the program's later executions but not its own start.
//
// Start works with any filter: one without Notify rules still gives a
// Stream, which reports io.EOF when the processes have exited. The filter
// is preceded by a short prefix that notifies execveat(2) calls whose
// dirfd argument carries a random 32-bit marker in its upper half (the
// kernel ignores those bits); a program that makes such a call by accident
// would present it to the Stream as an ordinary execveat notification.
//
// The program runs with no_new_privs set (setuid and file capabilities do
// not raise privileges), as the kernel requires for unprivileged filter
// installation. The binary re-executes itself (/proc/self/exe) as the
// launcher, so /proc must be mounted, also inside SysProcAttr.Chroot. The
// launcher runs the package init functions of the program that calls
// Start before it does its work; init functions must not depend on being
// the supervisor.
//
// Start needs Linux 5.5 (SECCOMP_USER_NOTIF_FLAG_CONTINUE) and uses
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV where the kernel has it (Linux
// 5.19), so that notified calls of the program are not interrupted by its
// own signals (Go programs get SIGURG often); without it every call is
// still answered correctly, but an interrupted call comes back as a new
// notification.
//
// opts configure the returned Stream as they do for New (WithSyncWakeup,
// WithDedicatedThread); an option the kernel cannot honour makes Start fail
// with no process left.
//
// Errors: a program that cannot be executed (missing, not executable)
// gives an *fs.PathError like os/exec does, matching fs.ErrNotExist or
// fs.ErrPermission; a filter the kernel refuses gives the kernel's errno
// with an explanation (EBUSY when the process already runs under a
// filter with a listener, as in some containers). On error no process is
// left: a started child has been killed and reaped, and cmd must not be
// waited for.
func Start(cmd *exec.Cmd, f *filter.Filter, opts ...Option) (*Stream, error) {
	if cmd == nil {
		return nil, errors.New("seccompstream: Start: nil *exec.Cmd")
	}
	if f == nil {
		return nil, errors.New("seccompstream: Start: nil *filter.Filter")
	}
	if cmd.Process != nil {
		return nil, errors.New("seccompstream: Start: exec: already started")
	}
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	if cmd.Path == "" {
		return nil, errors.New("seccompstream: Start: exec: no command")
	}
	feat, err := kernel.Probe()
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("seccompstream: Start: this process already runs under a seccomp filter with a listener, and a filter chain can have only one: %w", err)
		}
		return nil, fmt.Errorf("seccompstream: Start: %w", err)
	}
	if !feat.Continue {
		return nil, fmt.Errorf("seccompstream: Start: %w",
			&kernel.UnsupportedFeatureError{Name: "SECCOMP_USER_NOTIF_FLAG_CONTINUE", MinimumVersion: kernel.VersionContinue})
	}
	user, err := f.Assemble()
	if err != nil {
		return nil, fmt.Errorf("seccompstream: Start: %w", err)
	}
	marker := uint64(rand.Uint32()|1<<31) << 32
	prog, err := launcherProgram(user, marker)
	if err != nil {
		return nil, fmt.Errorf("seccompstream: Start: %w", err)
	}
	var flags uint32
	if feat.WaitKillableRecv && !noWaitKillable.Load() {
		flags |= cfgWaitKillable
	}
	env := cmd.Environ()
	config := encodeConfig(launchConfig{marker: marker, flags: flags, path: cmd.Path, env: env, prog: prog})

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("seccompstream: Start: socketpair: %w", err)
	}
	conn, err := newLauncherConn(fds[0])
	if err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, err
	}
	defer conn.close()
	childEnd := os.NewFile(uintptr(fds[1]), "seccompstream-launcher")

	// Start the launcher through cmd itself, then put cmd back as it was.
	path, args, env, extra := cmd.Path, cmd.Args, cmd.Env, cmd.ExtraFiles
	if len(args) == 0 {
		cmd.Args = []string{path}
	}
	// The launcher runs without asynchronous preemption, so that the
	// runtime never signals its filtered thread (see installAndExec); the
	// program gets env as it is.
	cmd.Env = append(slices.Clip(env), envStart+"="+strconv.Itoa(3+len(extra)), "GODEBUG="+launcherGODEBUG(env))
	cmd.ExtraFiles = append(slices.Clip(extra), childEnd)
	cmd.Path = "/proc/self/exe"
	err = cmd.Start()
	cmd.Path, cmd.Args, cmd.Env, cmd.ExtraFiles = path, args, env, extra
	childEnd.Close()
	if err != nil {
		return nil, fmt.Errorf("seccompstream: Start: starting the launcher: %w", err)
	}
	s, err := launch(cmd, conn, config, marker, opts)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	return s, nil
}

// launch drives a started launcher up to the program's execve.
func launch(cmd *exec.Cmd, conn *launcherConn, config []byte, marker uint64, opts []Option) (*Stream, error) {
	if err := conn.send(config); err != nil {
		return nil, fmt.Errorf("seccompstream: Start: sending the configuration to the launcher: %w", err)
	}
	events := make(chan launcherEvent, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			ev := conn.recv()
			events <- ev
			if ev.err != nil {
				return
			}
		}
	}()
	// Whatever happens, the reader must be gone when launch returns: close
	// the socket to wake it and drain what it still sends.
	defer func() {
		conn.close()
		for {
			select {
			case <-events:
			case <-readerDone:
				return
			}
		}
	}()

	ev := <-events
	if ev.err != nil {
		return nil, launcherFailure(cmd, ev.err)
	}
	s, err := New(ev.fd, opts...)
	if err != nil {
		unix.Close(ev.fd)
		return nil, fmt.Errorf("seccompstream: Start: %w", err)
	}
	// Answer the launcher's own calls until its execveat of the program.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		early    launcherEvent
		gotEvent bool
	)
	gotEarly := make(chan struct{})
	go func() {
		defer close(gotEarly)
		select {
		case early = <-events:
			gotEvent = true
			cancel()
		case <-ctx.Done():
		}
	}()
	pid := cmd.Process.Pid
	execveat, _ := sysnames.Number(sysnames.Native(), "execveat")
	var (
		rerr     error
		released bool // the launcher's execveat was answered
	)
	for {
		n, err := s.Receive(ctx)
		if err != nil {
			rerr = err
			break
		}
		if n.Arch == sysnames.Native() && n.Syscall == execveat && n.Args[0]&^0xffffffff == marker && n.PID == pid {
			err := s.Respond(n, Continue())
			if errors.Is(err, ErrGone) {
				// Interrupted by a signal: it comes back (SA_RESTART).
				continue
			}
			if err != nil {
				rerr = fmt.Errorf("seccompstream: Start: letting the launcher execute %s: %w", cmd.Path, err)
			} else {
				released = true
			}
			break
		}
		// A call of the launcher's own code.
		if err := s.Respond(n, Continue()); err != nil && !errors.Is(err, ErrGone) {
			rerr = err
			break
		}
	}
	cancel()
	<-gotEarly
	if !released {
		s.Close()
		if gotEvent {
			return nil, launcherFailure(cmd, early.err)
		}
		if rerr == io.EOF {
			return nil, launcherFailure(cmd, io.EOF)
		}
		return nil, fmt.Errorf("seccompstream: Start: serving the launcher: %w", rerr)
	}
	// The socket closes when the exec succeeds (close-on-exec) or the
	// launcher dies; a failed exec is reported before. The event may have
	// come in already, while the loop above was ending.
	ev = early
	if !gotEvent {
		ev = <-events
	}
	if ev.err != io.EOF {
		s.Close()
		return nil, launcherFailure(cmd, ev.err)
	}
	return s, nil
}

// launcherGODEBUG returns the GODEBUG value for the launcher: the
// program's, with asynchronous preemption off.
func launcherGODEBUG(env []string) string {
	v := "asyncpreemptoff=1"
	for _, kv := range env {
		if old, ok := strings.CutPrefix(kv, "GODEBUG="); ok && old != "" {
			v = old + "," + v
		}
	}
	return v
}

// launcherFailure turns what the launcher reported (or io.EOF: it died)
// into Start's error.
func launcherFailure(cmd *exec.Cmd, err error) error {
	if err == io.EOF {
		return fmt.Errorf("seccompstream: Start: the launcher for %s exited before executing it", cmd.Path)
	}
	var le *launcherError
	if errors.As(err, &le) {
		switch le.op {
		case "exec":
			return &fs.PathError{Op: "fork/exec", Path: cmd.Path, Err: le.errno}
		case "install":
			return fmt.Errorf("seccompstream: Start: installing the filter for %s: %w", cmd.Path, le)
		}
		return fmt.Errorf("seccompstream: Start: launcher for %s: %s: %w", cmd.Path, le.op, le)
	}
	return fmt.Errorf("seccompstream: Start: launcher for %s: %w", cmd.Path, err)
}

// launcherError is an error the launcher reported.
type launcherError struct {
	op     string // "exec", "install", "config", ...
	errno  syscall.Errno
	detail string
}

// Error returns the launcher's explanation, which names the errno.
func (e *launcherError) Error() string {
	if strings.Contains(e.detail, e.errno.Error()) {
		return e.detail
	}
	return fmt.Sprintf("%s: %v", e.detail, e.errno)
}

// Unwrap returns the errno.
func (e *launcherError) Unwrap() error { return e.errno }

// launcherProgram puts a prefix in front of the user's program that
// notifies the launcher's marked execveat: native arch, execveat, the upper
// half of args[0] equal to marker>>32. Everything else runs the user's
// program unchanged, with A and X cleared as at the start of a filter.
func launcherProgram(user []bpf.RawInstruction, marker uint64) ([]bpf.RawInstruction, error) {
	nr, ok := sysnames.Number(sysnames.Native(), "execveat")
	if !ok {
		return nil, fmt.Errorf("no execveat system call on %s", sysnames.ArchName(sysnames.Native()))
	}
	hiOff := uint32(16 + 4) // seccomp_data.args[0], upper half on little endian
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	if b[0] == 0 {
		hiOff = 16
	}
	const (
		ldw  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retk = unix.BPF_RET | unix.BPF_K
	)
	prefix := []bpf.RawInstruction{
		{Op: ldw, K: 4}, // arch
		{Op: jeq, Jt: 0, Jf: 5, K: sysnames.Native()},
		{Op: ldw, K: 0}, // nr
		{Op: jeq, Jt: 0, Jf: 3, K: uint32(nr)},
		{Op: ldw, K: hiOff},
		{Op: jeq, Jt: 0, Jf: 1, K: uint32(marker >> 32)},
		{Op: retk, K: unix.SECCOMP_RET_USER_NOTIF},
		{Op: unix.BPF_LD | unix.BPF_IMM, K: 0},
		{Op: unix.BPF_LDX | unix.BPF_IMM, K: 0},
	}
	const maxInsns = 4096
	if len(prefix)+len(user) > maxInsns {
		return nil, fmt.Errorf("filter program of %d instructions leaves no room for the launcher's %d (limit %d)", len(user), len(prefix), maxInsns)
	}
	return append(prefix, user...), nil
}

// Configuration sent to the launcher: a header, the path, the program's
// environment, the BPF program.
const cfgWaitKillable = 1 << 0

type launchConfig struct {
	marker uint64
	flags  uint32
	path   string
	env    []string
	prog   []bpf.RawInstruction
}

func encodeConfig(c launchConfig) []byte {
	b := make([]byte, 0, 24+len(c.path)+8*len(c.prog))
	b = binary.LittleEndian.AppendUint64(b, c.marker)
	b = binary.LittleEndian.AppendUint32(b, c.flags)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.path)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.env)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.prog)))
	b = append(b, c.path...)
	for _, kv := range c.env {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(kv)))
		b = append(b, kv...)
	}
	for _, ins := range c.prog {
		b = binary.LittleEndian.AppendUint16(b, ins.Op)
		b = append(b, ins.Jt, ins.Jf)
		b = binary.LittleEndian.AppendUint32(b, ins.K)
	}
	return b
}

func decodeConfig(b []byte) (launchConfig, error) {
	var c launchConfig
	bad := func(what string) (launchConfig, error) {
		return launchConfig{}, fmt.Errorf("configuration of %d bytes: %s", len(b), what)
	}
	if len(b) < 24 {
		return bad("short header")
	}
	c.marker = binary.LittleEndian.Uint64(b)
	c.flags = binary.LittleEndian.Uint32(b[8:])
	np := uint64(binary.LittleEndian.Uint32(b[12:]))
	ne := uint64(binary.LittleEndian.Uint32(b[16:]))
	ni := uint64(binary.LittleEndian.Uint32(b[20:]))
	r := b[24:]
	if uint64(len(r)) < np+8*ni {
		return bad("short body")
	}
	c.path = string(r[:np])
	r = r[np:]
	c.env = make([]string, 0, min(ne, uint64(len(r))/4))
	for range ne {
		if len(r) < 4 {
			return bad("short environment")
		}
		n := uint64(binary.LittleEndian.Uint32(r))
		if uint64(len(r)-4) < n {
			return bad("short environment entry")
		}
		c.env = append(c.env, string(r[4:4+n]))
		r = r[4+n:]
	}
	if uint64(len(r)) != 8*ni {
		return bad("program length")
	}
	c.prog = make([]bpf.RawInstruction, ni)
	for i := range c.prog {
		c.prog[i] = bpf.RawInstruction{
			Op: binary.LittleEndian.Uint16(r),
			Jt: r[2],
			Jf: r[3],
			K:  binary.LittleEndian.Uint32(r[4:]),
		}
		r = r[8:]
	}
	return c, nil
}

func encodeError(op string, errno syscall.Errno, detail string) []byte {
	b := []byte{msgError}
	b = binary.LittleEndian.AppendUint32(b, uint32(errno))
	b = append(b, op...)
	b = append(b, 0)
	return append(b, detail...)
}

func decodeError(b []byte) error {
	if len(b) < 5 {
		return fmt.Errorf("short message from the launcher (%d bytes)", len(b))
	}
	e := &launcherError{errno: syscall.Errno(binary.LittleEndian.Uint32(b[1:]))}
	rest := string(b[5:])
	for i := 0; i < len(rest); i++ {
		if rest[i] == 0 {
			e.op, e.detail = rest[:i], rest[i+1:]
			return e
		}
	}
	e.op = rest
	return e
}
