// Command bench measures seccompstream against a C libseccomp supervisor and
// libseccomp-golang: round-trip latency of one trapped call, aggregate
// throughput with many targets, OS threads held by idle streams, and heap
// allocations per notification. See BENCHMARKS.md at the repository root and
// scripts/bench, which builds the C programs and runs this command.
//
// Usage:
//
//	bench run [flags]       run the benchmarks and print the tables (default)
//	bench sup [flags]       a Go supervisor process (started by run)
//	bench idle [flags]      the idle-streams thread count (started by run)
//	bench fairsup [flags]   the fairness benchmark's supervisor (started by run)
//	bench kinds             list the Go supervisors compiled in
//
// It lives in its own module so that cgo and libseccomp-golang stay out of
// the library's go.mod.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = runBench(args)
	case "sup":
		err = runSup(args)
	case "idle":
		err = runIdle(args)
	case "fairsup":
		err = runFairSup(args)
	case "kinds":
		for _, s := range goSupervisors() {
			fmt.Println(s.name)
		}
	default:
		err = fmt.Errorf("unknown command %q (want run, sup, idle, fairsup or kinds)", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", cmd, err)
		os.Exit(1)
	}
}
