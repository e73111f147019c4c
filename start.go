package seccompstream

import (
	"context"
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
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/kernel"
	"github.com/seccompstream/seccompstream/internal/launcher"
)

// Start re-executes the running binary as a launcher (internal/launcher,
// whose package documentation says how, and why the launcher makes no
// system call under the filter but the execve of the program). This init
// function is the hook: in a launcher it never returns.
func init() {
	if v, ok := syscall.Getenv(launcher.Env); ok {
		launcher.Run(v)
	}
}

// waitKillable is Start's choice about SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV.
type waitKillable uint8

const (
	waitKillableAuto waitKillable = iota // where the kernel has it
	waitKillableOn                       // required
	waitKillableOff                      // never
)

// WithWaitKillableRecv decides whether Start installs the filter with
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19): once a notified call
// of the program was received, the program ignores all but fatal signals
// until it is answered, so its calls are not interrupted and notified
// again. With on, Start fails with an error matching ErrNotSupported on
// older kernels; with off, Start never sets the flag (to compare, or for a
// program that must see EINTR). Default: the flag is set where the kernel
// has it, and left out silently where it does not.
//
// It is an option of Start only: New, whose listener's filter is installed
// already, ignores it.
func WithWaitKillableRecv(on bool) Option {
	return func(c *streamConfig) {
		c.waitKillable = waitKillableOff
		if on {
			c.waitKillable = waitKillableOn
		}
	}
}

// Start starts cmd with the filter f installed and returns the Stream that
// receives the notifications of cmd's process and all its descendants. It
// needs Linux 5.5 (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
//
// cmd is started with cmd.Start and used as usual afterwards: its fields
// keep their meaning, cmd.Path is executed as given, and cmd.Wait must be
// called, concurrently with serving the Stream: before Linux 6.11 the
// Stream reports io.EOF only once the last filtered process was reaped.
//
// Any filter works, one whose default action is filter.Notify included:
// Start answers the calls of its own launcher (a re-execution of the
// running binary through /proc/self/exe, which must be mounted) with
// Continue, up to the execve of the program, so the first notification
// comes from the program. The filter is preceded by a prefix that notifies
// execveat calls carrying a random marker in the upper half of dirfd; a
// program making such a call by accident would see it served as any other.
// The program runs with no_new_privs set. The launcher runs in this
// package's init function, so the init functions of packages initialized
// before it run in the launcher too: they must not depend on being the
// supervisor.
//
// opts configure the Stream as for New (WithSyncWakeup,
// WithDedicatedThread) and the filter (WithWaitKillableRecv: by default
// the program's notified calls are not interrupted by its own signals
// where the kernel allows it).
//
// Errors: a program that cannot be executed gives an *fs.PathError, as
// os/exec does; a filter or option the kernel refuses gives the kernel's
// errno or an error matching ErrNotSupported, with an explanation (EBUSY
// when this process already runs under a filter with a listener, as in
// some containers); an environment, path and filter of more than 128 KiB
// together are refused. On error no process is left, and cmd must not be
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
			return nil, startError("this process already runs under a seccomp filter with a listener, and a filter chain can have only one", err)
		}
		return nil, startError("", err)
	}
	if !feat.Continue {
		return nil, startError("", &kernel.UnsupportedFeatureError{Name: "SECCOMP_USER_NOTIF_FLAG_CONTINUE", MinimumVersion: kernel.VersionContinue})
	}
	var sc streamConfig
	for _, o := range opts {
		o(&sc)
	}
	killable := feat.WaitKillableRecv
	switch sc.waitKillable {
	case waitKillableOn:
		if !killable {
			return nil, startError("WithWaitKillableRecv(true)", &kernel.UnsupportedFeatureError{Name: "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", MinimumVersion: kernel.VersionWaitKillableRecv})
		}
	case waitKillableOff:
		killable = false
	}
	user, err := f.Assemble()
	if err != nil {
		return nil, startError("", err)
	}
	marker := uint64(rand.Uint32()|1<<31) << 32
	prog, err := launcher.Prefix(user, marker)
	if err != nil {
		return nil, startError("", err)
	}
	config := launcher.Config{
		Marker:           marker,
		WaitKillableRecv: killable,
		Path:             cmd.Path,
		Env:              cmd.Environ(),
		Prog:             prog,
	}.Encode()
	if len(config) > launcher.MaxConfig {
		return nil, fmt.Errorf("seccompstream: Start: the environment, path and filter of %s take %d bytes, more than the launcher takes (%d)", cmd.Path, len(config), launcher.MaxConfig)
	}

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, startError("socketpair", err)
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
	// runtime never signals its filtered thread (see internal/launcher);
	// the program gets env as it is.
	cmd.Env = append(slices.Clip(env), launcher.Env+"="+strconv.Itoa(3+len(extra)), "GODEBUG="+launcherGODEBUG(env))
	cmd.ExtraFiles = append(slices.Clip(extra), childEnd)
	cmd.Path = "/proc/self/exe"
	err = cmd.Start()
	cmd.Path, cmd.Args, cmd.Env, cmd.ExtraFiles = path, args, env, extra
	childEnd.Close()
	if err != nil {
		return nil, startError("starting the launcher", err)
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
		return nil, startError("sending the configuration to the launcher", err)
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
		return nil, startError("", err)
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
	var (
		rerr     error
		doing    = "serving the launcher" // for rerr
		released bool                     // the launcher's execveat was answered
	)
	for {
		n, err := s.Receive(ctx)
		if err != nil {
			rerr = err
			break
		}
		if launcher.IsRelease(n.Arch, n.Syscall, n.Args[0], marker) && n.PID == pid {
			err := s.Respond(n, Continue())
			if errors.Is(err, ErrGone) {
				// Interrupted by a signal: it comes back (SA_RESTART).
				continue
			}
			if err != nil {
				rerr, doing = err, "letting the launcher execute "+cmd.Path
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
		return nil, startError(doing, rerr)
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
	var le *launcher.Error
	if errors.As(err, &le) {
		switch le.Op {
		case "exec":
			return &fs.PathError{Op: "fork/exec", Path: cmd.Path, Err: le.Errno}
		case "install":
			return startError("installing the filter for "+cmd.Path, le)
		}
		return startError("launcher for "+cmd.Path+": "+le.Op, le)
	}
	return startError("launcher for "+cmd.Path, err)
}

// startError returns err with Start's prefix and, if not empty, what Start
// was doing: "seccompstream: Start: doing: err". An error of this package
// carries the prefix "seccompstream: " already, which is then said once.
// The result wraps err (errors.Is and errors.As see through it).
func startError(doing string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "seccompstream: ")
	if doing != "" {
		msg = doing + ": " + msg
	}
	return &wrapError{msg: "seccompstream: Start: " + msg, err: err}
}

// wrapError is an error with its own message that wraps another.
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }
