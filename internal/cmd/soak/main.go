// Command soak runs the reliability campaign of package internal/soak for
// a bounded time and prints its table; scripts/soak runs it. The exit
// status is 0 when no failure column is non-zero, 1 when one is, and 2 when
// the soak could not run (bad flags, a missing kernel feature).
//
//	go run ./internal/cmd/soak -duration 60s
//	go run -race ./internal/cmd/soak -duration 60s -targets 8   # CI
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/soak"
)

func main() {
	soak.TargetMain()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg soak.Config
	fs.DurationVar(&cfg.Duration, "duration", 60*time.Second, "how long targets are started and faults injected (then a drain of at most -hang)")
	fs.IntVar(&cfg.Targets, "targets", 16, "target slots with a Stream of their own")
	fs.IntVar(&cfg.Group, "group", 64, "steady targets served by one Group (-1: none)")
	fs.IntVar(&cfg.DisruptGroup, "disrupt-group", 8, "disrupted targets served by a Group that is closed from time to time (-1: none)")
	fs.IntVar(&cfg.Calls, "calls", 3000, "calls a target makes at most before it exits and is replaced")
	fs.DurationVar(&cfg.Hang, "hang", 30*time.Second, "a call unanswered for this long is hung")
	fs.BoolVar(&cfg.NoC, "no-c", false, "no C targets (they need gcc)")
	fs.BoolVar(&cfg.NoGo, "no-go", false, "no Go targets")
	fs.BoolVar(&cfg.NoDedicated, "no-dedicated", false, "no Streams in dedicated-thread mode")
	fs.BoolVar(&cfg.Agent, "agent", true, "kill and restart an OCI agent while runc containers make calls (needs runc and busybox)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the random choices (0: from the clock)")
	fs.DurationVar(&cfg.SignalEvery, "signal-every", 200*time.Microsecond, "interval between signals to targets")
	fs.DurationVar(&cfg.SelfSignalEvery, "self-signal-every", 200*time.Microsecond, "interval between signals to the supervisor's threads")
	fs.DurationVar(&cfg.KillEvery, "kill-every", 25*time.Millisecond, "interval between SIGKILLs of targets in a call")
	fs.DurationVar(&cfg.CancelEvery, "cancel-every", 20*time.Millisecond, "interval between Serve cancellations")
	fs.DurationVar(&cfg.CloseEvery, "close-every", 100*time.Millisecond, "interval between Stream closes")
	fs.DurationVar(&cfg.GroupCloseEvery, "group-close-every", 2*time.Second, "interval between closes of the disrupted Group")
	fs.DurationVar(&cfg.AgentKillEvery, "agent-kill-every", 2*time.Second, "interval between agent kills")
	quiet := fs.Bool("q", false, "no progress lines")
	out := fs.String("o", "", "also write the table to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "soak: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if cfg.Duration <= 0 || cfg.Hang <= 0 || cfg.Targets < 0 || cfg.Calls < 1 {
		fmt.Fprintln(stderr, "soak: -duration and -hang must be positive, -targets at least 0, -calls at least 1")
		return 2
	}
	if !*quiet {
		cfg.Log = stderr
	}
	// SIGINT ends the soak early, with the drain and the table.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	table := rep.Table()
	fmt.Fprint(stdout, table)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(table), 0o644); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	if rep.Failed() {
		return 1
	}
	return 0
}
