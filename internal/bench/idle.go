package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// runIdle counts the OS threads of this process while it holds n idle
// streams, each with a goroutine waiting in Receive. The listeners come from
// the C helper "listeners", which keeps their filters alive until its stdin
// closes. It prints one "idle" line.
func runIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	kind := fs.String("kind", "ours", "supervisor")
	n := fs.Int("n", 1000, "number of idle streams")
	helper := fs.String("listeners", "listeners", "path of the C listeners helper")
	settle := fs.Duration("settle", time.Second, "how long to sample the thread count after the receivers started")
	stopWait := fs.Duration("stop-wait", 30*time.Second, "how long cancelled receivers may take to return")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sup, err := findGoSupervisor(*kind)
	if err != nil {
		return err
	}
	if sup.idle == nil {
		return fmt.Errorf("supervisor %q has no idle mode", *kind)
	}

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	mine, theirs := pair[0], os.NewFile(uintptr(pair[1]), "listeners-sock")
	cmd := exec.Command(*helper, fmt.Sprint(*n))
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", *helper, err)
	}
	theirs.Close()
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	fds, err := recvFDs(mine, *n)
	unix.Close(mine)
	if err != nil {
		return err
	}

	before := threadCount()
	stop, err := sup.idle(fds)
	if err != nil {
		return err
	}
	peak := 0
	deadline := time.Now().Add(*settle)
	for time.Now().Before(deadline) {
		if t := threadCount(); t > peak {
			peak = t
		}
		time.Sleep(20 * time.Millisecond)
	}
	last := threadCount()
	if last > peak {
		peak = last
	}
	stopped := "n/a"
	if stop != nil {
		errc := make(chan error, 1)
		t0 := time.Now()
		go func() { errc <- stop() }()
		select {
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("stopping the receivers: %w", err)
			}
			stopped = fmt.Sprintf("ok(%.0fms)", time.Since(t0).Seconds()*1000)
		case <-time.After(*stopWait):
			// Leave the waiters behind; the process exits below.
			stopped = fmt.Sprintf("HUNG(>%v)", *stopWait)
		}
	}
	fmt.Printf("idle kind=%s streams=%d gomaxprocs=%d threads_before=%d threads_peak=%d threads_end=%d goal=%d stop=%s\n",
		*kind, *n, runtime.GOMAXPROCS(0), before, peak, last, 2*runtime.GOMAXPROCS(0)+16, stopped)
	return nil
}
