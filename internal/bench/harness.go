package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type benchConfig struct {
	binDir     string
	pureGo     string
	self       string
	latSups    []string
	tputSups   []string
	idleKinds  []string
	rounds     int
	calls      int
	batch      int
	placements []string
	sameCPU    int
	crossTgt   int
	crossSup   int
	syncModes  []bool
	tputN      []int
	tputCalls  int
	tputRounds int
	idleN      int
	only       map[string]bool
	supWrap    []string // command prefix for latency supervisors (-sup-wrap)
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var (
		c                                                 benchConfig
		latSups, tputSups, idleKinds, placements, syncStr string
		tputN, only, cross, supWrap                       string
	)
	fs.StringVar(&c.binDir, "bin", filepath.Dir(self), "directory holding the C programs target, csup and listeners")
	fs.StringVar(&c.pureGo, "purego", "", "bench binary built with CGO_ENABLED=0, used for the ours* supervisors (default: this binary)")
	fs.StringVar(&latSups, "sups", "c,ours,ours-ctx,ours-ded,ours-serve,lsg,go-raw,go-raw-poll", "latency: supervisors (c = C libseccomp loop, lsg = libseccomp-golang, go-raw = raw ioctls on a locked thread; see bench kinds)")
	fs.StringVar(&tputSups, "tput-sups", "c,ours,ours-serve,lsg", "throughput: supervisors")
	fs.StringVar(&idleKinds, "idle-kinds", "ours,ours-serve,ours-ded,lsg", "idle streams: supervisors")
	fs.IntVar(&c.rounds, "rounds", 8, "latency: rounds; each round runs every supervisor once, in rotating order")
	fs.IntVar(&c.calls, "calls", 20000, "latency: trapped calls per run (the first batch is warm-up)")
	fs.IntVar(&c.batch, "batch", 1000, "latency: calls per timed batch")
	fs.StringVar(&placements, "placements", "same,cross,free", "latency: CPU placements (same: both on -same-cpu; cross: target and supervisor on -cross; free: unpinned)")
	fs.IntVar(&c.sameCPU, "same-cpu", 1, "CPU for placement same")
	fs.StringVar(&cross, "cross", "1,0", "target CPU,supervisor CPU for placement cross")
	fs.StringVar(&syncStr, "sync", "off,on", "SYNC_WAKE_UP settings to measure")
	fs.StringVar(&tputN, "tput-targets", "1,4,16,64", "throughput: numbers of concurrent targets")
	fs.IntVar(&c.tputCalls, "tput-calls", 64000, "throughput: calls per run, split evenly between the targets")
	fs.IntVar(&c.tputRounds, "tput-rounds", 5, "throughput: rounds")
	fs.IntVar(&c.idleN, "idle", 1000, "idle streams for the thread count")
	fs.StringVar(&only, "only", "lat,tput,fair,idle,syscalls", "which benchmarks to run (syscalls: one run per supervisor and placement under perf stat; fair: calls per Stream with many busy Streams)")
	fs.StringVar(&supWrap, "sup-wrap", "", "latency: command prefix for every supervisor, split at spaces; %s in it becomes supervisor-placement-sync-round (e.g. \"perf record -g -o /tmp/%s.data --\")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.self = self
	c.supWrap = strings.Fields(supWrap)
	if c.pureGo == "" {
		c.pureGo = self
	}
	avail := map[string]bool{"c": true}
	for _, s := range goSupervisors() {
		avail[s.name] = true
	}
	pick := func(list string) []string {
		var out []string
		for _, s := range splitList(list) {
			if avail[s] {
				out = append(out, s)
			} else {
				fmt.Printf("note: supervisor %q is not compiled in; skipped\n", s)
			}
		}
		return out
	}
	c.latSups, c.tputSups, c.idleKinds = pick(latSups), pick(tputSups), pick(idleKinds)
	c.placements = splitList(placements)
	for _, s := range splitList(syncStr) {
		c.syncModes = append(c.syncModes, s == "on")
	}
	for _, s := range splitList(tputN) {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("bad -tput-targets entry %q", s)
		}
		c.tputN = append(c.tputN, n)
	}
	cp := splitList(cross)
	if len(cp) != 2 {
		return fmt.Errorf("bad -cross %q: want TARGET,SUPERVISOR", cross)
	}
	if c.crossTgt, err = strconv.Atoi(cp[0]); err != nil {
		return fmt.Errorf("bad -cross %q: %w", cross, err)
	}
	if c.crossSup, err = strconv.Atoi(cp[1]); err != nil {
		return fmt.Errorf("bad -cross %q: %w", cross, err)
	}
	for _, pl := range c.placements {
		if pl != "same" && pl != "cross" && pl != "free" {
			return fmt.Errorf("unknown placement %q (want same, cross or free)", pl)
		}
	}
	c.only = map[string]bool{}
	for _, s := range splitList(only) {
		c.only[s] = true
	}
	if c.calls%c.batch != 0 || c.calls/c.batch < 2 {
		return fmt.Errorf("-calls %d must be a multiple of -batch %d with at least 2 batches", c.calls, c.batch)
	}

	printMachine()
	if c.only["lat"] {
		if err := latencyBench(&c); err != nil {
			return err
		}
	}
	if c.only["tput"] {
		if err := throughputBench(&c); err != nil {
			return err
		}
	}
	if c.only["fair"] {
		if err := fairBench(&c); err != nil {
			return err
		}
	}
	if c.only["syscalls"] {
		if err := syscallsBench(&c); err != nil {
			return err
		}
	}
	if c.only["idle"] {
		if err := idleBench(&c); err != nil {
			return err
		}
	}
	return nil
}

// usage returns the CPU time (ns) and context switches of a finished process
// per call.
func usage(ps *os.ProcessState, calls int) (cpu, csw float64) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || calls == 0 {
		return 0, 0
	}
	ns := func(tv syscall.Timeval) float64 { return float64(tv.Sec)*1e9 + float64(tv.Usec)*1e3 }
	return (ns(ru.Utime) + ns(ru.Stime)) / float64(calls), float64(ru.Nvcsw+ru.Nivcsw) / float64(calls)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func printMachine() {
	kernel, _ := exec.Command("uname", "-r").Output()
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(l[strings.Index(l, ":")+1:])
				break
			}
		}
	}
	fmt.Printf("date: %s\nkernel: %s\ncpus: %d (%s)\ngo: %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), strings.TrimSpace(string(kernel)), runtime.NumCPU(), model, runtime.Version())
}

// placementCPUs returns the CPUs of target and supervisor (-1: unpinned).
func (c *benchConfig) placementCPUs(pl string) (tgt, sup int) {
	switch pl {
	case "same":
		return c.sameCPU, c.sameCPU
	case "cross":
		return c.crossTgt, c.crossSup
	}
	return -1, -1
}

// supArgv is the command line of a supervisor serving nfds listeners.
func (c *benchConfig) supArgv(sup string, nfds int, sync bool, per int) []string {
	if sup == "c" {
		s := "0"
		if sync {
			s = "1"
		}
		return []string{filepath.Join(c.binDir, "csup"), strconv.Itoa(nfds), s, strconv.Itoa(per)}
	}
	bin := c.pureGo
	if sup == "lsg" {
		bin = c.self
	}
	return []string{bin, "sup", "-kind", sup, "-n", strconv.Itoa(nfds), "-sync=" + strconv.FormatBool(sync), "-per", strconv.Itoa(per)}
}

// latRun is the result of one latency run.
type latRun struct {
	batches    []float64 // ns per call, warm-up batch dropped
	allocs     float64   // heap allocations per call, -1 if not reported
	gomaxprocs string
	eof        bool    // the supervisor exited by itself
	supCPU     float64 // supervisor user+system CPU ns per call (whole process life)
	supCSW     float64 // supervisor context switches (voluntary+involuntary) per call
	tgtCPU     float64 // target user+system CPU ns per call
}

// runLatency runs one target against one supervisor.
// wrap, if not empty, is a command prefix for the supervisor (strace).
func (c *benchConfig) runLatency(sup string, sync bool, tgtCPU, supCPU int, wrap ...string) (latRun, error) {
	res := latRun{allocs: -1}
	supSock, tgtSock, err := socketPair()
	if err != nil {
		return res, err
	}
	p, err := startSup(append(wrap, c.supArgv(sup, 1, sync, c.calls)...), supSock, supCPU)
	supSock.Close()
	if err != nil {
		tgtSock.Close()
		return res, err
	}
	tgt := exec.Command(filepath.Join(c.binDir, "target"), "lat", strconv.Itoa(c.calls), strconv.Itoa(c.batch))
	tgt.ExtraFiles = []*os.File{tgtSock}
	var out, stderr bytes.Buffer
	tgt.Stdout, tgt.Stderr = &out, &stderr
	err = startOn(tgt, tgtCPU)
	tgtSock.Close()
	if err != nil {
		p.kill()
		return res, err
	}
	if err := waitTimeout(tgt, runTimeout); err != nil {
		p.kill()
		return res, fmt.Errorf("target under %s: %v: %s%s", sup, err, stderr.String(), p.stderr.String())
	}
	stats, alone, err := p.finish(10 * time.Second)
	if err != nil {
		return res, err
	}
	res.eof = alone
	res.gomaxprocs = stats["gomaxprocs"]
	res.supCPU, res.supCSW = usage(p.cmd.ProcessState, c.calls)
	res.tgtCPU, _ = usage(tgt.ProcessState, c.calls)
	if a, ok := stats["allocs"]; ok {
		res.allocs, _ = strconv.ParseFloat(a, 64)
	}
	for i, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 || f[0] != "batch" {
			return res, fmt.Errorf("target: unexpected output %q", l)
		}
		if i == 0 {
			continue // warm-up
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return res, fmt.Errorf("target: %q: %w", l, err)
		}
		res.batches = append(res.batches, v)
	}
	return res, nil
}

type latCell struct {
	batches     []float64
	roundMed    []float64
	allocs      []float64
	gomaxprocs  string
	selfExits   int
	runs        int
	ratioRounds []float64
	oursRounds  []float64 // per-round ratios to (b), the default Receive/Respond loop
	supCPU      []float64
	supCSW      []float64
	tgtCPU      []float64
}

func latencyBench(c *benchConfig) error {
	if len(c.latSups) == 0 {
		return nil
	}
	fmt.Printf("## Round trip of one trapped call (median ns/call; %d rounds x %d calls per supervisor and setting, batches of %d)\n\n",
		c.rounds, c.calls, c.batch)
	for _, pl := range c.placements {
		tgtCPU, supCPU := c.placementCPUs(pl)
		cells := map[string]*latCell{}
		key := func(sup string, sync bool) string { return fmt.Sprintf("%s/%t", sup, sync) }
		type job struct {
			sup  string
			sync bool
		}
		var jobs []job
		for _, sync := range c.syncModes {
			for _, s := range c.latSups {
				jobs = append(jobs, job{s, sync})
				cells[key(s, sync)] = &latCell{}
			}
		}
		start := time.Now()
		for r := 0; r < c.rounds; r++ {
			roundMed := map[string]float64{}
			for i := range jobs {
				j := jobs[(i+r)%len(jobs)] // rotate the order every round
				var wrap []string
				for _, w := range c.supWrap {
					wrap = append(wrap, strings.ReplaceAll(w, "%s", fmt.Sprintf("%s-%s-%s-%d", j.sup, pl, onOff(j.sync), r)))
				}
				res, err := c.runLatency(j.sup, j.sync, tgtCPU, supCPU, wrap...)
				if err != nil {
					return fmt.Errorf("placement %s, %s sync=%t: %w", pl, j.sup, j.sync, err)
				}
				cell := cells[key(j.sup, j.sync)]
				cell.batches = append(cell.batches, res.batches...)
				m := median(res.batches)
				cell.roundMed = append(cell.roundMed, m)
				roundMed[key(j.sup, j.sync)] = m
				if res.allocs >= 0 {
					cell.allocs = append(cell.allocs, res.allocs)
				}
				if res.gomaxprocs != "" {
					cell.gomaxprocs = res.gomaxprocs
				}
				cell.supCPU = append(cell.supCPU, res.supCPU)
				cell.supCSW = append(cell.supCSW, res.supCSW)
				cell.tgtCPU = append(cell.tgtCPU, res.tgtCPU)
				cell.runs++
				if res.eof {
					cell.selfExits++
				}
			}
			for _, j := range jobs {
				base := roundMed[key("c", j.sync)]
				if base > 0 {
					cell := cells[key(j.sup, j.sync)]
					cell.ratioRounds = append(cell.ratioRounds, roundMed[key(j.sup, j.sync)]/base)
				}
				if ours := roundMed[key("ours", j.sync)]; ours > 0 && j.sup != "c" && j.sup != "ours" {
					cell := cells[key(j.sup, j.sync)]
					cell.oursRounds = append(cell.oursRounds, roundMed[key(j.sup, j.sync)]/ours)
				}
			}
		}
		desc := map[string]string{
			"same":  fmt.Sprintf("both pinned to CPU %d", c.sameCPU),
			"cross": fmt.Sprintf("target on CPU %d, supervisor on CPU %d", c.crossTgt, c.crossSup),
			"free":  "unpinned",
		}[pl]
		fmt.Printf("### placement %s: %s (%.0fs)\n\n", pl, desc, time.Since(start).Seconds())
		fmt.Println("| supervisor | SYNC_WAKE_UP | median ns/call | p10-p90 of batches | ratio to C (median of per-round ratios) | ratio range over rounds | ratio to (b) (median of per-round ratios) | supervisor CPU ns/call | supervisor ctx switches/call | target CPU ns/call | allocs/call | GOMAXPROCS |")
		fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		var notes []string
		for _, sync := range c.syncModes {
			for _, s := range c.latSups {
				cell := cells[key(s, sync)]
				ratio, rng := "-", "-"
				if len(cell.ratioRounds) > 0 {
					ratio = fmt.Sprintf("%.2fx", median(cell.ratioRounds))
					rng = fmt.Sprintf("%.2f-%.2f", slices.Min(cell.ratioRounds), slices.Max(cell.ratioRounds))
				}
				toOurs := "-"
				if len(cell.oursRounds) > 0 {
					toOurs = fmt.Sprintf("%.2fx", median(cell.oursRounds))
				}
				allocs := "-"
				if len(cell.allocs) > 0 {
					allocs = fmt.Sprintf("%.2f", median(cell.allocs))
				}
				gmp := cell.gomaxprocs
				if gmp == "" {
					gmp = "-"
				}
				fmt.Printf("| %s | %s | %.0f | %.0f-%.0f | %s | %s | %s | %.0f | %.2f | %.0f | %s | %s |\n",
					supLabel(s), onOff(sync), median(cell.batches), percentile(cell.batches, 10), percentile(cell.batches, 90), ratio, rng, toOurs,
					median(cell.supCPU), median(cell.supCSW), median(cell.tgtCPU), allocs, gmp)
				if strings.HasPrefix(s, "ours") && cell.selfExits != cell.runs {
					notes = append(notes, fmt.Sprintf("%s sync=%s: the supervisor did not end by itself (no io.EOF) in %d of %d runs", s, onOff(sync), cell.runs-cell.selfExits, cell.runs))
				}
			}
		}
		for _, n := range notes {
			fmt.Println("\nnote:", n)
		}
		fmt.Println()
	}
	return nil
}

func supLabel(s string) string {
	switch s {
	case "c":
		return "(a) C libseccomp loop"
	case "ours":
		return "(b) seccompstream default"
	case "ours-ctx":
		return "(b') seccompstream default, cancellable ctx"
	case "ours-ded":
		return "(c) seccompstream WithDedicatedThread"
	case "ours-serve":
		return "seccompstream Serve, HandlerFunc"
	case "lsg":
		return "(d) libseccomp-golang"
	case "go-raw":
		return "Go floor: raw blocking ioctls, locked thread"
	case "go-raw-poll":
		return "Go floor + blocking ppoll before RECV"
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// runThroughput runs n targets at once against one supervisor process and
// returns the aggregate answered calls per second.
func (c *benchConfig) runThroughput(sup string, sync bool, n int) (float64, error) {
	per := c.tputCalls / n
	supSock, tgtSock, err := socketPair()
	if err != nil {
		return 0, err
	}
	goR, goW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer goW.Close()
	p, err := startSup(c.supArgv(sup, n, sync, per), supSock, -1)
	supSock.Close()
	if err != nil {
		tgtSock.Close()
		goR.Close()
		return 0, err
	}
	type tgtProc struct {
		cmd         *exec.Cmd
		out, stderr bytes.Buffer
	}
	tgts := make([]*tgtProc, n)
	var startErr error
	for i := range tgts {
		t := &tgtProc{cmd: exec.Command(filepath.Join(c.binDir, "target"), "tput", strconv.Itoa(per))}
		t.cmd.ExtraFiles = []*os.File{tgtSock, goR}
		t.cmd.Stdout, t.cmd.Stderr = &t.out, &t.stderr
		if err := t.cmd.Start(); err != nil {
			startErr = err
			break
		}
		tgts[i] = t
	}
	tgtSock.Close()
	goR.Close()
	reap := func() {
		for _, t := range tgts {
			if t != nil {
				t.cmd.Process.Kill()
				t.cmd.Wait()
			}
		}
		p.kill()
	}
	if startErr != nil {
		goW.Close()
		reap()
		return 0, startErr
	}
	select {
	case <-p.ready:
	case <-p.done:
		goW.Close()
		reap()
		return 0, fmt.Errorf("supervisor %s exited before ready: %s", sup, p.stderr.String())
	case <-time.After(60 * time.Second):
		goW.Close()
		reap()
		return 0, fmt.Errorf("supervisor %s not ready after 60s", sup)
	}
	goW.Close() // go
	var t0, t1 uint64
	var total int
	var werr error
	for _, t := range tgts {
		if werr != nil {
			t.cmd.Process.Kill() // one failed: do not wait for the rest
		}
		if err := waitTimeout(t.cmd, runTimeout); err != nil && werr == nil {
			werr = fmt.Errorf("target under %s: %v: %s", sup, err, t.stderr.String())
			continue
		}
		var a, b uint64
		var k int
		if _, err := fmt.Sscanf(t.out.String(), "tput %d %d %d", &a, &b, &k); err != nil && werr == nil {
			werr = fmt.Errorf("target: bad output %q: %w", t.out.String(), err)
			continue
		}
		if t0 == 0 || a < t0 {
			t0 = a
		}
		if b > t1 {
			t1 = b
		}
		total += k
	}
	if werr != nil {
		p.kill()
		return 0, werr
	}
	if _, _, err := p.finish(10 * time.Second); err != nil {
		return 0, err
	}
	return float64(total) / (float64(t1-t0) / 1e9), nil
}

func throughputBench(c *benchConfig) error {
	if len(c.tputSups) == 0 {
		return nil
	}
	fmt.Printf("## Aggregate answered calls per second, N concurrent targets, one supervisor process (%d calls per run split between the targets, median of %d rounds, unpinned; in brackets the median of per-round ratios to C)\n\n",
		c.tputCalls, c.tputRounds)
	type job struct {
		sup  string
		sync bool
		n    int
	}
	var jobs []job
	res := map[job][]float64{}
	for _, n := range c.tputN {
		for _, sync := range c.syncModes {
			for _, s := range c.tputSups {
				jobs = append(jobs, job{s, sync, n})
			}
		}
	}
	start := time.Now()
	for r := 0; r < c.tputRounds; r++ {
		for i := range jobs {
			j := jobs[(i+r)%len(jobs)]
			v, err := c.runThroughput(j.sup, j.sync, j.n)
			if err != nil {
				return fmt.Errorf("throughput %s sync=%t n=%d: %w", j.sup, j.sync, j.n, err)
			}
			res[j] = append(res[j], v)
		}
	}
	// ratio: the median over rounds of each round's value over C's.
	ratio := func(j job) float64 {
		base := res[job{"c", j.sync, j.n}]
		var rs []float64
		for i, v := range res[j] {
			if i < len(base) && base[i] > 0 {
				rs = append(rs, v/base[i])
			}
		}
		return median(rs)
	}
	fmt.Printf("(%.0fs)\n\n", time.Since(start).Seconds())
	fmt.Print("| supervisor | SYNC_WAKE_UP |")
	for _, n := range c.tputN {
		fmt.Printf(" %d targets |", n)
	}
	fmt.Print("\n|---|---|")
	for range c.tputN {
		fmt.Print("---:|")
	}
	fmt.Println()
	for _, sync := range c.syncModes {
		for _, s := range c.tputSups {
			fmt.Printf("| %s | %s |", tputLabel(s), onOff(sync))
			for _, n := range c.tputN {
				v := median(res[job{s, sync, n}])
				ratioStr := ""
				if r := ratio(job{s, sync, n}); r > 0 && s != "c" {
					ratioStr = fmt.Sprintf(" (%.2fx)", r)
				}
				fmt.Printf(" %.0f%s |", v, ratioStr)
			}
			fmt.Println()
		}
	}
	fmt.Println()
	return nil
}

func tputLabel(s string) string {
	switch s {
	case "c":
		return "C libseccomp, thread per listener"
	case "ours":
		return "seccompstream, goroutine per Stream (Receive/Respond)"
	case "ours-ded":
		return "seccompstream WithDedicatedThread, goroutine per Stream"
	case "ours-serve":
		return "seccompstream, Serve per Stream (a Group for idle streams)"
	case "lsg":
		return "libseccomp-golang, goroutine per listener"
	}
	return s
}

func idleBench(c *benchConfig) error {
	if len(c.idleKinds) == 0 {
		return nil
	}
	fmt.Printf("## OS threads of a process holding %d idle streams (one waiting receiver per stream)\n\n", c.idleN)
	fmt.Println("| supervisor | GOMAXPROCS | threads before | threads with waiters (peak) | goal < 2*GOMAXPROCS+16 | waiters stop on ctx cancel |")
	fmt.Println("|---|---:|---:|---:|---:|---|")
	for _, k := range c.idleKinds {
		bin := c.pureGo
		if k == "lsg" {
			bin = c.self
		}
		cmd := exec.Command(bin, "idle", "-kind", k, "-n", strconv.Itoa(c.idleN), "-listeners", filepath.Join(c.binDir, "listeners"))
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			return err
		}
		err := waitTimeout(cmd, runTimeout)
		out := buf.Bytes()
		if err != nil {
			first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
			fmt.Printf("| %s | error: %v: %s |\n", tputLabel(k), err, first)
			continue
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(strings.TrimSpace(string(out))) {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			}
		}
		peak, _ := strconv.Atoi(kv["threads_peak"])
		goal, _ := strconv.Atoi(kv["goal"])
		verdict := "met"
		if peak >= goal {
			verdict = "over"
		}
		if k == "ours-ded" || k == "lsg" {
			verdict += "; one thread per waiter by design"
		}
		fmt.Printf("| %s | %s | %s | %s | %s (%s) | %s |\n", tputLabel(k), kv["gomaxprocs"], kv["threads_before"], kv["threads_peak"], kv["goal"], verdict, kv["stop"])
	}
	fmt.Println()
	return nil
}

func median(v []float64) float64 { return percentile(v, 50) }

// percentile returns the p-th percentile of v (nearest rank on a sorted copy).
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if p == 50 && len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	i := int(p / 100 * float64(len(s)-1))
	return s[i]
}

// profileEvents are counted by perf stat on the supervisor (all threads).
var profileEvents = []struct{ event, label string }{
	{"raw_syscalls:sys_enter", "syscalls"},
	{"syscalls:sys_enter_ioctl", "ioctl"},
	{"syscalls:sys_enter_ppoll", "ppoll"},
	{"syscalls:sys_enter_epoll_pwait", "epoll_pwait"},
	{"syscalls:sys_enter_futex", "futex"},
	{"syscalls:sys_enter_nanosleep", "nanosleep"},
	{"syscalls:sys_enter_sched_yield", "sched_yield"},
	{"syscalls:sys_enter_tgkill", "tgkill"},
	{"syscalls:sys_enter_gettid", "gettid"},
	{"syscalls:sys_enter_dup3", "dup3"},
	{"context-switches", "ctx switches"},
	{"cpu-migrations", "migrations"},
	{"task-clock", "CPU ns"},
}

// syscallsBench runs each latency supervisor once per placement under perf
// stat (SYNC_WAKE_UP on) and prints what its threads did per trapped call:
// system calls by kind, context switches, CPU time. Counting tracepoints
// costs a little, so the ns/call column is not comparable with the latency
// table; start-up is included in the counts.
func syscallsBench(c *benchConfig) error {
	perf, err := exec.LookPath("perf")
	if err != nil {
		fmt.Printf("## Where the supervisor's time goes: skipped (no perf)\n\n")
		return nil
	}
	dir, err := os.MkdirTemp("", "bench-perf")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var evs []string
	for _, e := range profileEvents {
		evs = append(evs, e.event)
	}
	sync := slices.Contains(c.syncModes, true)
	fmt.Printf("## Where the supervisor's time goes (perf stat on the supervisor, one run of %d calls each, SYNC_WAKE_UP %s; per trapped call, start-up included)\n\n", c.calls, onOff(sync))
	fmt.Print("| placement | supervisor | ns/call |")
	for _, e := range profileEvents {
		fmt.Printf(" %s |", e.label)
	}
	fmt.Print("\n|---|---|---:|")
	for range profileEvents {
		fmt.Print("---:|")
	}
	fmt.Println()
	for _, pl := range c.placements {
		tgtCPU, supCPU := c.placementCPUs(pl)
		for _, sup := range c.latSups {
			out := filepath.Join(dir, sup+"-"+pl)
			res, err := c.runLatency(sup, sync, tgtCPU, supCPU, perf, "stat", "-x,", "-o", out, "-e", strings.Join(evs, ","), "--")
			if err != nil {
				return fmt.Errorf("perf stat %s: %w", sup, err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				return err
			}
			counts := map[string]float64{}
			for _, l := range strings.Split(string(b), "\n") {
				f := strings.Split(l, ",")
				if len(f) < 3 {
					continue
				}
				v, err := strconv.ParseFloat(f[0], 64)
				if err != nil {
					continue
				}
				if f[1] == "msec" {
					v *= 1e6
				}
				counts[f[2]] = v
			}
			fmt.Printf("| %s | %s | %.0f |", pl, supLabel(sup), median(res.batches))
			for _, e := range profileEvents {
				v, ok := counts[e.event]
				if !ok {
					fmt.Print(" - |")
					continue
				}
				if e.label == "CPU ns" {
					fmt.Printf(" %.0f |", v/float64(c.calls))
				} else {
					fmt.Printf(" %.2f |", v/float64(c.calls))
				}
			}
			fmt.Println()
		}
	}
	fmt.Println()
	return nil
}
