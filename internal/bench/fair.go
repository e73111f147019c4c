//go:build !noours && !nodedicated

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seccompstream/seccompstream"
)

// runFairSup is the supervisor of the fairness benchmark: it receives n
// listener fds on fd 3 and serves each with a Receive/Respond loop on its
// own Stream: with -mix mixed, the even-numbered ones in the default mode
// and the odd-numbered ones WithDedicatedThread; with -mix default, all in
// the default mode. It prints "ready"; on SIGUSR1 it prints one line "fair
// MODE CALLS" per stream (calls answered so far) and exits.
func runFairSup(args []string) error {
	fs := flag.NewFlagSet("fairsup", flag.ContinueOnError)
	n := fs.Int("n", 8, "number of listener fds to receive on fd 3")
	mix := fs.String("mix", "mixed", "mixed (default and dedicated-thread Streams, alternating) or default")
	syncWake := fs.Bool("sync", false, "set SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mix != "mixed" && *mix != "default" {
		return fmt.Errorf("bad -mix %q", *mix)
	}
	fds, err := recvFDs(3, *n)
	if err != nil {
		return err
	}
	syscall.Close(3)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGUSR1)
	counts := make([]atomic.Int64, len(fds))
	modes := make([]string, len(fds))
	errs := make(chan error, len(fds))
	for i, fd := range fds {
		var opts []seccompstream.Option
		modes[i] = "default"
		if *mix == "mixed" && i%2 == 1 {
			modes[i] = "dedicated"
			opts = append(opts, seccompstream.WithDedicatedThread())
		}
		if *syncWake {
			opts = append(opts, seccompstream.WithSyncWakeup())
		}
		s, err := seccompstream.New(fd, opts...)
		if err != nil {
			return err
		}
		go func() {
			for {
				m, err := s.Receive(context.Background())
				if err != nil {
					if err != io.EOF {
						errs <- err
					}
					return
				}
				if err := s.Respond(m, seccompstream.Return(int64(m.Args[0]+1))); err != nil && !errors.Is(err, seccompstream.ErrGone) {
					errs <- err
					return
				}
				counts[i].Add(1)
			}
		}()
	}
	fmt.Println("ready")
	select {
	case <-stop:
	case err := <-errs:
		return err
	}
	var b strings.Builder
	for i := range counts {
		fmt.Fprintf(&b, "fair %s %d\n", modes[i], counts[i].Load())
	}
	os.Stdout.WriteString(b.String())
	return nil
}

// fairRun runs one fairness round: n targets under one fairsup process for
// window, and returns the calls answered per stream, by mode.
func (c *benchConfig) fairRun(mix string, n int, syncWake bool, window time.Duration) (map[string][]float64, error) {
	supSock, tgtSock, err := socketPair()
	if err != nil {
		return nil, err
	}
	goR, goW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer goW.Close()
	sup := exec.Command(c.pureGo, "fairsup", "-n", strconv.Itoa(n), "-mix", mix, "-sync="+strconv.FormatBool(syncWake))
	sup.ExtraFiles = []*os.File{supSock}
	var stderr bytes.Buffer
	sup.Stderr = &stderr
	out, err := sup.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := sup.Start(); err != nil {
		return nil, err
	}
	supSock.Close()
	var tgts []*exec.Cmd
	reap := func() {
		for _, t := range tgts {
			t.Process.Kill()
			t.Wait()
		}
		sup.Process.Kill()
		sup.Wait()
	}
	for range n {
		// Many more calls than a window takes: the targets are killed.
		t := exec.Command(filepath.Join(c.binDir, "target"), "tput", "1000000000")
		t.ExtraFiles = []*os.File{tgtSock, goR}
		if err := t.Start(); err != nil {
			tgtSock.Close()
			goR.Close()
			reap()
			return nil, err
		}
		tgts = append(tgts, t)
	}
	tgtSock.Close()
	goR.Close()
	lines := make(chan string, n+1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		if !ok || l != "ready" {
			reap()
			return nil, fmt.Errorf("fairsup: %q: %s", l, stderr.String())
		}
	case <-time.After(60 * time.Second):
		reap()
		return nil, errors.New("fairsup not ready after 60s")
	}
	goW.Close() // go
	time.Sleep(window)
	sup.Process.Signal(syscall.SIGUSR1)
	res := map[string][]float64{}
	for l := range lines {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "fair" {
			v, _ := strconv.ParseFloat(f[2], 64)
			res[f[1]] = append(res[f[1]], v)
		}
	}
	wg.Wait()
	reap()
	if len(res["default"])+len(res["dedicated"]) != n {
		return nil, fmt.Errorf("fairsup reported %d streams of %d: %s", len(res["default"])+len(res["dedicated"]), n, stderr.String())
	}
	return res, nil
}

// fairBench measures how evenly one process serves many busy Streams: n
// targets, each calling as fast as it is answered, for a window; calls
// answered per stream. "mixed" puts default-mode and dedicated-thread
// Streams side by side.
func fairBench(c *benchConfig) error {
	const n = 8
	window := 2 * time.Second
	sync := slices.Contains(c.syncModes, true)
	fmt.Printf("## Fairness: %d busy Streams in one process, one target each, calls answered per Stream in %v (SYNC_WAKE_UP %s, unpinned, median over %d rounds)\n\n",
		n, window, onOff(sync), c.tputRounds)
	fmt.Println("| Streams | median calls, default mode | median calls, dedicated thread | default / dedicated | fewest / most over all Streams |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, mix := range []string{"mixed", "default"} {
		var def, ded, spread []float64
		for range c.tputRounds {
			res, err := c.fairRun(mix, n, sync, window)
			if err != nil {
				return fmt.Errorf("fairness %s: %w", mix, err)
			}
			def = append(def, median(res["default"]))
			if len(res["dedicated"]) > 0 {
				ded = append(ded, median(res["dedicated"]))
			}
			all := append(slices.Clone(res["default"]), res["dedicated"]...)
			if mx := slices.Max(all); mx > 0 {
				spread = append(spread, slices.Min(all)/mx)
			}
		}
		label := "half default, half WithDedicatedThread"
		dedS, ratio := "-", "-"
		if mix == "default" {
			label = "all default"
		} else {
			dedS = fmt.Sprintf("%.0f", median(ded))
			if median(ded) > 0 {
				ratio = fmt.Sprintf("%.2f", median(def)/median(ded))
			}
		}
		fmt.Printf("| %s | %.0f | %s | %s | %.2f |\n", label, median(def), dedS, ratio, median(spread))
	}
	fmt.Println()
	return nil
}
