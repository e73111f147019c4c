package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/policy"
)

const runUsage = `Usage: seccomp-stream run [flags] -- PROGRAM [ARGS...]

Run PROGRAM under a seccomp filter. Calls named by --trace are shown and
then run; calls named by --deny are shown and fail with an errno. The
program's children and everything it executes stay under the filter and
are traced too.

Flags:
  --trace LIST   show these system calls and let them run. LIST is
                 comma-separated kernel names (openat,execve,connect), or
                 "all" for every call. May be repeated.
  --deny LIST    make these calls fail, and show them. LIST is comma-
                 separated names, each optionally NAME:ERRNO, where ERRNO
                 is an errno name (EACCES) or number. An :ERRNO applies to
                 its name and to every name before it back to the previous
                 :ERRNO; names after the last one get EPERM:
                   --deny mkdir,mkdirat:EACCES     mkdir and mkdirat: EACCES
                   --deny mkdir:EACCES,unlink      mkdir EACCES, unlink EPERM
                   --deny a,b:EACCES,c,d:ENOENT,e  a,b EACCES; c,d ENOENT; e EPERM
                 A name given two different errnos is an error. A call
                 both traced and denied is denied. May be repeated.
  --json         print one JSON object per call instead of a text line:
                 {"pid":..,"syscall":..,"args":[..],"raw":[..],"decision":..}
  -o FILE        write the trace to FILE instead of standard error.

Names are the kernel's ("openat", "newfstatat"), and a name applies on every
ABI this machine runs: on x86_64 to the x86_64 call, to the i386 call of that
name (int $0x80) and to the x32 one. Calls of those other ABIs are shown and
decided like the native ones; their lines carry the ABI, as in getpid[i386].
Unknown names are an error before anything runs. The syntax is described in
full, once, in the documentation of package policy:
  ` + policyDoc + `

Each line shows the calling thread id, the call with its arguments decoded
(paths and strings read from the program's memory, socket addresses of
connect/bind/sendto, open and *at flags by name) and the decision:

  4242 openat(AT_FDCWD, "/etc/hostname", O_RDONLY|O_CLOEXEC) = continue
  4242 mkdir("/tmp/x", 0777) = EACCES

The exit status is the program's, or 128+N if signal N killed it; 126 if
PROGRAM cannot be executed, 127 if it does not exist, 2 for bad usage, 1
if the supervisor failed. SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to
seccomp-stream are passed on to the program. If SIGSYS kills the program,
one line says whether the filter can have done it.

Calls answered "continue" are run by the kernel after the trace line was
made: the program could have changed a path between the two. --deny is
decided from the call's name alone and is not affected by that.

Examples:
  seccomp-stream run --trace openat,execve -- ls /
  seccomp-stream run --deny mkdir,mkdirat:EACCES -- mkdir /tmp/x
  seccomp-stream run --trace connect --json -o trace.jsonl -- curl -s example.com
  seccomp-stream run --trace all -- /bin/true
`

// runRun is the "run" subcommand.
func runRun(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("run", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	var trace, deny stringFlag
	flags.Var(&trace, "trace", "")
	flags.Var(&deny, "deny", "")
	asJSON := flags.Bool("json", false, "")
	outFile := flags.String("o", "", "")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(stdout, runUsage)
			return 0
		}
		fmt.Fprintf(stderr, "seccomp-stream run: %v\n\n%s", err, runUsage)
		return exitUsage
	}
	prog := flags.Args()
	if len(prog) == 0 {
		fmt.Fprintf(stderr, "seccomp-stream run: no program given\n\n%s", runUsage)
		return exitUsage
	}
	rules, err := policy.ParseLists(trace, deny)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
		return exitUsage
	}
	f, err := rules.Filter()
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
		return exitUsage
	}

	// The trace, the program's standard error and our messages may share
	// stderr: one writer, one whole line at a time. A file is handed to
	// the program as it is (its writes are single write(2) calls too).
	errOut := &lineWriter{w: stderr}
	progErr := io.Writer(errOut)
	if file, ok := stderr.(*os.File); ok {
		progErr = file
	}
	traceOut := errOut
	if *outFile != "" {
		file, err := os.Create(*outFile)
		if err != nil {
			fmt.Fprintf(errOut, "seccomp-stream run: %v\n", err)
			return exitFailure
		}
		defer file.Close()
		traceOut = &lineWriter{w: bufio.NewWriter(file)}
	}
	tr := &tracer{out: traceOut, json: *asJSON}
	h, err := rules.Handler(func(_ context.Context, n *seccompstream.Notification, r seccompstream.Response) {
		tr.show("", n, r)
	})
	if err != nil {
		fmt.Fprintf(errOut, "seccomp-stream run: %v\n", err)
		return exitUsage
	}

	// Catch the signals to forward before the program exists, so that
	// none kills the supervisor instead.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)

	cmd := exec.Command(prog[0], prog[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, progErr
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		fmt.Fprintf(errOut, "seccomp-stream run: %v\n", err)
		switch {
		case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
			return exitNotFound
		case errors.Is(err, fs.ErrPermission):
			return exitNoExec
		}
		return exitFailure
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
	serr := s.Serve(ctx, h, seccompstream.WithErrorHandler(func(err error) {
		fmt.Fprintf(errOut, "seccomp-stream run: %v\n", err)
	}))
	if serr != nil {
		// Calls still waiting, and later ones, fail with ENOSYS.
		s.Close()
	}
	werr := <-waited
	close(stopFwd)
	<-fwdDone
	if err := traceOut.Flush(); err != nil {
		fmt.Fprintf(errOut, "seccomp-stream run: writing the trace: %v\n", err)
	}
	if serr != nil {
		fmt.Fprintf(errOut, "seccomp-stream run: %v\n", serr)
		if cmd.ProcessState == nil {
			return exitFailure
		}
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == unix.SIGSYS {
		io.WriteString(errOut, sigsysNote(prog[0], f))
	}
	return exitStatus(cmd.ProcessState, werr)
}

// sigsysNote is the line that explains a program killed by SIGSYS, the
// signal of seccomp's kill actions: whether this filter can have sent it.
// Only its mismatch action kills (the rules notify or allow), and on x86_64
// that is Notify too: every ABI reaches the rules.
func sigsysNote(prog string, f *filter.Filter) string {
	switch f.MismatchAction() {
	case filter.KillProcess, filter.KillThread:
		abis := make([]string, 0, 2)
		for _, a := range f.Arches() {
			abis = append(abis, sysnames.ArchName(a))
		}
		return fmt.Sprintf("seccomp-stream run: %s was killed by SIGSYS: the filter kills calls through an ABI other than %s, which it cannot decode; or another seccomp filter or a signal did\n",
			prog, strings.Join(abis, ", "))
	}
	return fmt.Sprintf("seccomp-stream run: %s was killed by SIGSYS, not by this filter (it kills no call): another seccomp filter or a signal did\n", prog)
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
