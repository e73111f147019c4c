// Command seccomp-stream runs programs under a seccomp filter and shows or
// denies the system calls it notifies, records and enforces OCI seccomp
// profiles, and serves container runtimes as a seccomp agent.
//
// Usage:
//
//	seccomp-stream run [flags] -- PROGRAM [ARGS...]
//	seccomp-stream record [flags] -- PROGRAM [ARGS...]
//	seccomp-stream profile merge|diff [flags] PROFILE...
//	seccomp-stream agent [flags]
//	seccomp-stream help [COMMAND]
//
// Run "seccomp-stream help run" for the flags and examples.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// subcommand is one "seccomp-stream NAME" command.
type subcommand struct {
	// summary is the one-line description in the usage text.
	summary string
	// run runs the command with the arguments after its name and returns
	// the exit status.
	run func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// subcommands lists the commands by name. Files register theirs in an init
// function (agent.go registers "agent").
var subcommands = map[string]subcommand{
	"run": {
		summary: "run a program under a filter and trace or deny its system calls",
		run:     runRun,
	},
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command: it takes the arguments without the program
// name and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if sc, ok := subcommands[args[1]]; ok {
				return sc.run(ctx, []string{"--help"}, stdin, stdout, stderr)
			}
			fmt.Fprintf(stderr, "seccomp-stream: unknown command %q\n", args[1])
			return exitUsage
		}
		usage(stdout)
		return 0
	}
	sc, ok := subcommands[name]
	if !ok {
		fmt.Fprintf(stderr, "seccomp-stream: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	return sc.run(ctx, args[1:], stdin, stdout, stderr)
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("Usage: seccomp-stream COMMAND [flags] [ARGS...]\n\nCommands:\n")
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range subcommands {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, subcommands[n].summary)
	}
	b.WriteString("  help     show this text, or a command's: seccomp-stream help run\n")
	b.WriteString("\nExample:\n  seccomp-stream run --trace openat,execve -- ls /\n")
	io.WriteString(w, b.String())
}

// flagsDone reports whether parsing a subcommand's flags (err is what
// flag.FlagSet.Parse returned) ends the command, and with which status:
// -h or --help writes usage to stdout (status 0), a bad flag writes the
// error and usage to stderr (exitUsage). name is the subcommand, as
// messages call it ("record", "profile merge").
func flagsDone(err error, name, usage string, stdout, stderr io.Writer) (code int, done bool) {
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, flag.ErrHelp):
		io.WriteString(stdout, usage)
		return 0, true
	}
	fmt.Fprintf(stderr, "seccomp-stream %s: %v\n\n%s", name, err, usage)
	return exitUsage, true
}

// Exit statuses of the command itself (the program's status is passed
// through otherwise).
const (
	exitFailure  = 1   // the supervisor failed
	exitUsage    = 2   // bad flags or arguments
	exitNoExec   = 126 // the program exists but cannot be executed
	exitNotFound = 127 // the program does not exist
)
