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
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
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
  --deny LIST    make these calls fail. Each item is NAME or NAME:ERRNO
                 (mkdir:EACCES, unlink:1); the default errno is EPERM.
                 Denied calls are shown too. May be repeated.
  --json         print one JSON object per call instead of a text line:
                 {"pid":..,"syscall":..,"args":[..],"raw":[..],"decision":..}
  -o FILE        write the trace to FILE instead of standard error.

Names are the kernel's for this machine's architecture: on x86_64 a
program may use "open" or "openat", "stat" or "newfstatat". Unknown names
are an error before anything runs.

Each line shows the calling thread id, the call with its arguments decoded
(paths and strings read from the program's memory, socket addresses of
connect/bind/sendto, open and *at flags by name) and the decision:

  4242 openat(AT_FDCWD, "/etc/hostname", O_RDONLY|O_CLOEXEC) = continue
  4242 mkdir("/tmp/x", 0777) = EACCES

The exit status is the program's, or 128+N if signal N killed it; 126 if
PROGRAM cannot be executed, 127 if it does not exist, 2 for bad usage, 1
if the supervisor failed. SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to
seccomp-stream are passed on to the program.

Calls answered "continue" are run by the kernel after the trace line was
made: the program could have changed a path between the two. --deny is
decided from the call's name alone and is not affected by that.

Examples:
  seccomp-stream run --trace openat,execve -- ls /
  seccomp-stream run --deny mkdir:EACCES,mkdirat:EACCES -- mkdir /tmp/x
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
	r, err := parseRules(trace, deny)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
		return exitUsage
	}
	f, err := r.filter()
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
		return exitUsage
	}

	if _, ok := stderr.(*os.File); !ok {
		// The trace and the program's standard error may share it: one
		// writer at a time.
		stderr = &lockedWriter{w: stderr}
	}
	var out io.Writer = stderr
	if *outFile != "" {
		file, err := os.Create(*outFile)
		if err != nil {
			fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
			return exitFailure
		}
		defer file.Close()
		bw := bufio.NewWriter(file)
		defer bw.Flush()
		out = bw
	}

	// Catch the signals to forward before the program exists, so that
	// none kills the supervisor instead.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)

	cmd := exec.Command(prog[0], prog[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
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

	serr := serveTrace(ctx, s, r, out, *asJSON)
	if serr != nil {
		// Calls still waiting, and later ones, fail with ENOSYS.
		s.Close()
	}
	werr := <-waited
	close(stopFwd)
	<-fwdDone
	if serr != nil {
		fmt.Fprintf(stderr, "seccomp-stream run: %v\n", serr)
		if cmd.ProcessState == nil {
			return exitFailure
		}
	}
	return exitStatus(cmd.ProcessState, werr)
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

// serveTrace answers every notification of s by the rules and writes a
// trace line for each call the rules show, until the stream ends. Several
// goroutines serve at once, so that one slow call does not hold up the
// program's other threads and processes.
func serveTrace(ctx context.Context, s *seccompstream.Stream, r *rules, out io.Writer, asJSON bool) error {
	const workers = 4
	var (
		mu       sync.Mutex // out, firstErr
		firstErr error
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := s.Receive(ctx)
				if err == io.EOF {
					return
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil && ctx.Err() == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				name := n.SyscallName()
				resp := r.decide(name)
				var line []byte
				if r.traces(name) {
					line = formatCall(n, resp, asJSON)
				}
				if err := s.Respond(n, resp); err != nil && !errors.Is(err, seccompstream.ErrGone) {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				if line != nil {
					mu.Lock()
					out.Write(line)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
