package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
)

// superviseProgram runs prog under f and serves its calls with h until it
// and everything it started have exited: the one supervising path of the
// subcommands that run a program (run, record). It returns how the
// program ended, with the command's exit status: the program's (128+N for
// signal N), 126 or 127 when it could not be executed, 1 when the
// supervisor failed. ps is nil when the program never ran. serveErr is
// Serve's error, already reported on errOut; the program then ran with
// its remaining calls failing with ENOSYS, and ps and code are still how
// it ended (when it could be reaped).
//
// SIGINT, SIGTERM, SIGHUP and SIGQUIT are passed on to the program. Its
// standard error is stderr when that is a file, errOut otherwise. name is
// the subcommand, for messages on errOut; opts go to Start.
func superviseProgram(ctx context.Context, name string, prog []string, f *filter.Filter, h seccompstream.Handler,
	stdin io.Reader, stdout, stderr io.Writer, errOut io.Writer, opts ...seccompstream.Option) (ps *os.ProcessState, code int, serveErr error) {
	// Catch the signals to forward before the program exists, so that
	// none kills the supervisor instead.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)

	// The program's standard error and our messages may share stderr:
	// errOut writes whole lines. A file is handed to the program as it is
	// (its writes are single write(2) calls too).
	progErr := io.Writer(errOut)
	if file, ok := stderr.(*os.File); ok {
		progErr = file
	}
	cmd := exec.Command(prog[0], prog[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, progErr
	s, err := seccompstream.Start(cmd, f, opts...)
	if err != nil {
		switch {
		case errors.Is(err, unix.EBUSY):
			fmt.Fprintf(errOut, "seccomp-stream %s: the kernel refused a seccomp listener (EBUSY): this process already runs under a filter that has one (a seccomp agent's container, or another seccomp-stream), and a filter chain can have only one, so nothing can be served from inside it: run seccomp-stream outside (%v)\n",
				name, err)
			return nil, exitFailure, nil
		case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(errOut, "seccomp-stream %s: %v\n", name, err)
			return nil, exitNotFound, nil
		case errors.Is(err, fs.ErrPermission):
			fmt.Fprintf(errOut, "seccomp-stream %s: %v\n", name, err)
			return nil, exitNoExec, nil
		}
		fmt.Fprintf(errOut, "seccomp-stream %s: %v\n", name, err)
		return nil, exitFailure, nil
	}
	defer s.Close()

	// Reap the program as soon as it exits: before Linux 6.11 the stream
	// ends only once it was reaped.
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	fwdDone := make(chan struct{})
	stopFwd := make(chan struct{})
	go func() {
		defer close(fwdDone)
		for {
			select {
			case sig := <-sigs:
				_ = cmd.Process.Signal(sig)
			case <-stopFwd:
				return
			}
		}
	}()

	// Serve answers every call exactly once, whatever a handler does (one
	// that panics gets ENOSYS for its call), and reports what went wrong.
	serveErr = s.Serve(ctx, h, seccompstream.WithErrorHandler(func(err error) {
		fmt.Fprintf(errOut, "seccomp-stream %s: %v\n", name, err)
	}))
	if serveErr != nil {
		// Calls still waiting, and later ones, fail with ENOSYS.
		s.Close()
	}
	werr := <-waited
	close(stopFwd)
	<-fwdDone
	if serveErr != nil {
		fmt.Fprintf(errOut, "seccomp-stream %s: %v\n", name, serveErr)
	}
	return cmd.ProcessState, exitStatus(cmd.ProcessState, werr), serveErr
}

// exitStatus maps the program's end to the command's exit status.
func exitStatus(ps *os.ProcessState, err error) int {
	if ps == nil {
		return exitFailure
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
