package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
)

// Servers: how a target's Stream is served.
const (
	srvServe        = iota // its own Serve, restarted when cancelled
	srvLoop                // a Receive/Respond loop of two receivers
	srvGroup               // the steady Group
	srvDisruptGroup        // the Group that is closed from time to time
)

var serverNames = [...]string{"serve", "loop", "group", "disrupt-group"}

// harness is one soak run.
type harness struct {
	cfg  Config
	feat seccompstream.Features
	c    counters

	self          string // this executable, for Go targets
	cbin, cstatic string // the C target, dynamic and static
	tmp           string // build directory
	memfd         int    // the descriptor opFD calls get a copy of
	magic         string // memfd's content
	goFilter      *filter.Filter

	nextID atomic.Uint64

	// serveCtx ends when serving must stop (after the drain); startCtx
	// when no new target may start; faultCtx when injection stops.
	serveCtx, startCtx, faultCtx context.Context

	mu         sync.Mutex
	live       map[*target]struct{}
	ids        map[uint64]*target
	group      *seccompstream.Group // steady
	groupStats seccompstream.Stats
	dg         *seccompstream.Group // disrupted, replaced when closed
	dgStats    *seccompstream.Stats // dg's
	dgRNG      *rand.Rand

	threadsPeak atomic.Int64
	agent       atomic.Pointer[agentRun] // nil without the agent scenario

	// The supervisor's threads, refreshed now and then (signalSelf's).
	tids   []int
	tidsAt time.Time
}

// target is one running target process and its Stream.
type target struct {
	h        *harness
	id       uint64
	c        bool // C (or Go)
	server   int
	mix      int
	killable bool
	rng      *rand.Rand // the slot's

	cmd *exec.Cmd
	s   *seccompstream.Stream
	// res guards pidfd and l against finish, which closes them: the
	// injectors hold targets that may finish meanwhile, and a closed
	// pidfd's number can be reused at once by another target's.
	res    sync.RWMutex
	pidfd  int
	l      *ledger
	stats  seccompstream.Stats
	exited chan struct{}
	status syscall.WaitStatus

	killed   atomic.Bool // SIGKILLed by the harness (a fault, a hang or the drain)
	closed   atomic.Bool // its Stream closed by the harness mid-flight
	hungSeq  atomic.Uint64
	inServe  atomic.Bool
	cancelMu sync.Mutex
	cancel   context.CancelFunc // the current Serve's

	// What the supervisor side saw.
	seenMu   sync.Mutex
	seenIDs  map[uint64]struct{}
	seenSeqs map[uint64]struct{}
	received atomic.Uint64 // loop: notifications received
	settled  atomic.Uint64 // loop: answered, gone, or failed because closed
}

// Run runs a soak and returns its report. An error means the soak could
// not run at all.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.Defaults()
	rep := &Report{Config: cfg, Race: raceEnabled}
	var u unix.Utsname
	_ = unix.Uname(&u)
	rep.Kernel = unix.ByteSliceToString(u.Release[:])
	h := &harness{cfg: cfg, live: make(map[*target]struct{}), ids: make(map[uint64]*target), memfd: -1,
		dgRNG: rand.New(rand.NewPCG(cfg.Seed, 5))}
	h.c.rep = rep

	// The runtime's poller starts with the first pollable file: start it
	// before counting.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	rep.FDsBefore = countFDs()
	rep.GoroutinesBefore = runtime.NumGoroutine()
	rep.ThreadsBefore = countThreads()
	h.threadsPeak.Store(int64(rep.ThreadsBefore))

	if err := h.setup(); err != nil {
		h.teardown()
		return nil, err
	}
	begin := time.Now()
	h.run(ctx)
	rep.Elapsed = time.Since(begin)
	h.teardown()

	settle(func() bool { return runtime.NumGoroutine() <= rep.GoroutinesBefore && countFDs() == rep.FDsBefore })
	rep.FDsAfter = countFDs()
	rep.GoroutinesAfter = runtime.NumGoroutine()
	rep.ThreadsAfter = countThreads()
	rep.ThreadsPeak = int(h.threadsPeak.Load())
	// Go keeps idle threads, so the count after is the peak's. The bound:
	// the design's idle budget, plus one thread per Stream (a
	// dedicated-mode receiver, or a handler in a blocking ioctl).
	rep.ThreadLimit = rep.ThreadsBefore + 2*runtime.GOMAXPROCS(0) + 16 + cfg.Targets + max(cfg.Group, 0) + max(cfg.DisruptGroup, 0)
	if _, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); err != unix.ECHILD {
		rep.ProcessesLeft = 1
		h.c.detail("a child process is left (wait4: %v)", err)
	}
	return rep, nil
}

// settle waits up to 10s for ok.
func settle(ok func() bool) {
	for i := 0; i < 200 && !ok(); i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

func countThreads() int {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return -1
	}
	return len(ents)
}

func (h *harness) setup() error {
	feat, err := seccompstream.KernelFeatures()
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	h.feat = feat
	if !feat.AddFD || !feat.Continue {
		return errors.New("soak: needs SECCOMP_IOCTL_NOTIF_ADDFD and CONTINUE (Linux 5.9)")
	}
	if h.self, err = os.Executable(); err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	if h.tmp, err = os.MkdirTemp("", "seccompstream-soak-"); err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	if !h.cfg.NoC {
		h.cbin, h.cstatic, err = buildC(h.tmp)
		if err != nil {
			if inCI() {
				return err
			}
			h.cfg.NoC = true
			h.c.do(func(r *Report) { r.Skipped = append(r.Skipped, "C targets: "+err.Error()) })
		}
	}
	if h.cfg.NoC && h.cfg.NoGo {
		return errors.New("soak: no targets (C and Go both off)")
	}
	if h.cfg.Agent && h.cfg.NoC {
		h.cfg.Agent = false
		h.c.do(func(r *Report) { r.Skipped = append(r.Skipped, "agent scenario: needs the C target") })
	}
	h.magic = fmt.Sprintf("soak%08x", h.cfg.Seed&0xffffffff)
	fd, err := unix.MemfdCreate("soak-fd", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("soak: memfd_create: %w", err)
	}
	h.memfd = fd
	if _, err := unix.Write(fd, []byte(h.magic)); err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	h.goFilter = filter.New(filter.Allow)
	if err := h.goFilter.Add(filter.Notify, "getpriority"); err != nil {
		return err
	}
	return nil
}

func (h *harness) teardown() {
	if h.memfd >= 0 {
		unix.Close(h.memfd)
		h.memfd = -1
	}
	if h.tmp != "" {
		os.RemoveAll(h.tmp)
	}
}

// logf writes a progress line.
func (h *harness) logf(format string, a ...any) {
	if h.cfg.Log != nil {
		fmt.Fprintf(h.cfg.Log, "soak: "+format+"\n", a...)
	}
}

// run starts the slots and the injectors, lets them run for Duration,
// drains and stops everything.
func (h *harness) run(ctx context.Context) {
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	startCtx, stopStart := context.WithCancel(ctx)
	faultCtx, stopFaults := context.WithCancel(startCtx)
	h.serveCtx, h.startCtx, h.faultCtx = serveCtx, startCtx, faultCtx
	defer stopServe()

	var slots, faults sync.WaitGroup
	rng := rand.New(rand.NewPCG(h.cfg.Seed, 1))
	slot := func(server, mix int, c bool) {
		seed := rng.Uint64()
		slots.Add(1)
		go func() {
			defer slots.Done()
			h.slot(server, mix, c, rand.New(rand.NewPCG(seed, 2)))
		}()
	}
	lang := func(i int) bool { return !h.cfg.NoC && (h.cfg.NoGo || i%2 == 0) }
	if h.cfg.Group > 0 {
		h.group = seccompstream.NewGroup(serveCtx, seccompstream.HandlerFunc(h.handle),
			append(serveOptions(rng, mixSteady), seccompstream.WithStats(&h.groupStats), seccompstream.WithErrorHandler(h.onGroupError))...)
		for i := range h.cfg.Group {
			// Mostly C: 64 race-instrumented Go processes are heavy.
			slot(srvGroup, mixSteady, !h.cfg.NoC && (h.cfg.NoGo || i%4 != 0))
		}
	}
	if h.cfg.DisruptGroup > 0 {
		h.dg, h.dgStats = h.newDisruptGroup()
		for i := range h.cfg.DisruptGroup {
			slot(srvDisruptGroup, mixDisrupted, lang(i))
		}
	}
	for i := range h.cfg.Targets {
		switch i % 4 {
		case 0:
			slot(srvServe, mixSteady, lang(i/4))
		case 1:
			slot(srvServe, mixDisrupted, lang(i/4))
		case 2:
			slot(srvLoop, mixLoop, lang(i/4))
		case 3:
			slot(srvLoop, mixDisrupted, lang(i/4))
		}
	}
	var agent *agentRun
	if h.cfg.Agent {
		agent = h.startAgent(&slots)
		h.agent.Store(agent)
	}
	type injector struct {
		every time.Duration
		f     func(*rand.Rand)
	}
	injectors := []injector{
		{h.cfg.SignalEvery, h.signalTarget},
		{h.cfg.SelfSignalEvery, h.signalSelf},
		{h.cfg.KillEvery, h.killInCall},
		{h.cfg.CancelEvery, h.cancelServe},
		{h.cfg.CloseEvery, h.closeStream},
		{h.cfg.GroupCloseEvery, h.closeGroup},
		{250 * time.Millisecond, h.watch},
	}
	if agent != nil {
		injectors = append(injectors, injector{h.cfg.AgentKillEvery, agent.kill})
	}
	for _, inj := range injectors {
		seed := rng.Uint64()
		faults.Add(1)
		go func() {
			defer faults.Done()
			r := rand.New(rand.NewPCG(seed, 3))
			t := time.NewTicker(inj.every)
			defer t.Stop()
			for {
				select {
				case <-faultCtx.Done():
					return
				case <-t.C:
					inj.f(r)
				}
			}
		}()
	}

	// Progress, until the end.
	end := time.NewTimer(h.cfg.Duration)
	tick := time.NewTicker(10 * time.Second)
	begin := time.Now()
wait:
	for {
		select {
		case <-end.C:
			break wait
		case <-ctx.Done():
			break wait
		case <-tick.C:
			h.progress(begin)
		}
	}
	end.Stop()
	tick.Stop()

	// Drain: no new targets, no more faults; the live ones finish their
	// call and exit. The watch goes on meanwhile.
	h.logf("draining")
	stopStart()
	faults.Wait()
	h.forLive(func(t *target) {
		t.signal(unix.SIGCONT)
		t.stop()
	})
	if agent != nil {
		agent.stopAll()
	}
	drained := make(chan struct{})
	go func() {
		slots.Wait()
		close(drained)
	}()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		r := rand.New(rand.NewPCG(h.cfg.Seed, 4))
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-drained:
				return
			case <-t.C:
				h.watch(r)
			}
		}
	}()
	select {
	case <-drained:
	case <-time.After(h.cfg.Hang + 10*time.Second):
		h.forLive(func(t *target) {
			h.c.detail("drain: target %d (%s) still alive after %v", t.id, t.describe(), h.cfg.Hang+10*time.Second)
			h.c.do(func(r *Report) { r.Hung++ })
			t.kill()
		})
		stopServe()
		<-drained
	}
	<-watchDone
	// The Groups are empty now (unless the drain timed out, and then
	// serving has stopped, which Close reports as context.Canceled).
	if h.group != nil {
		h.closeGroupAndCheck(h.group, &h.groupStats)
	}
	if h.dg != nil {
		h.closeGroupAndCheck(h.dg, h.dgStats)
	}
	stopServe()
	if agent != nil {
		agent.close()
	}
	stopFaults()
	h.progress(begin)
}

func (h *harness) progress(begin time.Time) {
	h.mu.Lock()
	live := len(h.live)
	h.mu.Unlock()
	var calls, fails uint64
	h.c.do(func(r *Report) {
		calls = r.Calls
		fails = r.Lost + r.Double + r.Wrong + r.Hung + r.ServeErrors + r.TargetFails + r.Orphans
	})
	h.logf("%v: %d targets live, %s calls by finished targets, %d failures", time.Since(begin).Round(time.Second), live, num(calls), fails)
}

// serveOptions picks Serve options for a stream of mix m.
func serveOptions(r *rand.Rand, m int) []seccompstream.ServeOption {
	opts := []seccompstream.ServeOption{seccompstream.WithMaxInFlight([]int{1, 4, 1024}[r.IntN(3)])}
	if m == mixDisrupted && r.IntN(2) == 0 {
		opts = append(opts, seccompstream.WithStopGrace(5*time.Millisecond))
	}
	return opts
}

// streamOptions picks Stream options.
func (h *harness) streamOptions(r *rand.Rand) []seccompstream.Option {
	var opts []seccompstream.Option
	if !h.cfg.NoDedicated && r.IntN(4) == 0 {
		opts = append(opts, seccompstream.WithDedicatedThread())
	}
	if h.feat.SyncWakeup && r.IntN(2) == 0 {
		opts = append(opts, seccompstream.WithSyncWakeup())
	}
	return opts
}

// slot runs targets of one kind one after another until no new one may
// start.
func (h *harness) slot(server, mix int, c bool, r *rand.Rand) {
	for h.startCtx.Err() == nil {
		t, err := h.start(server, mix, c, r)
		if err != nil {
			if h.startCtx.Err() != nil {
				return
			}
			h.c.do(func(r *Report) { r.TargetFails++ })
			h.c.detail("starting a %s target: %v", serverNames[server], err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		h.serve(t)
		h.finish(t)
	}
}

// start starts a target and makes its Stream.
func (h *harness) start(server, mix int, c bool, r *rand.Rand) (*target, error) {
	t := &target{h: h, id: firstID + h.nextID.Add(1), c: c, server: server, mix: mix, rng: r,
		exited: make(chan struct{}), pidfd: -1, seenIDs: make(map[uint64]struct{}), seenSeqs: make(map[uint64]struct{})}
	l, err := newLedger()
	if err != nil {
		return nil, err
	}
	t.l = l
	calls := h.cfg.Calls/10 + r.IntN(h.cfg.Calls-h.cfg.Calls/10+1)
	enosys := mix == mixDisrupted
	opts := h.streamOptions(r)
	if c {
		t.killable = h.feat.WaitKillableRecv && r.IntN(2) == 0
		err = h.startC(t, calls, enosys, opts)
	} else {
		t.killable = h.feat.WaitKillableRecv && r.IntN(2) == 0
		err = h.startGo(t, calls, enosys, append(opts, seccompstream.WithWaitKillableRecv(t.killable)))
	}
	if err != nil {
		l.close()
		return nil, err
	}
	h.c.fault(faultTargetsStarted)
	h.mu.Lock()
	h.live[t] = struct{}{}
	h.ids[t.id] = t
	h.mu.Unlock()
	return t, nil
}

// reap opens the target's pidfd and reaps it in the background once it
// has exited. The wait is in the runtime's poller (a pidfd polls readable
// when its process exits), so waiting targets cost no thread.
func (t *target) reap() error {
	fd, err := unix.PidfdOpen(t.cmd.Process.Pid, 0)
	if err != nil {
		_ = t.cmd.Process.Kill()
		_ = t.cmd.Wait()
		return fmt.Errorf("pidfd_open: %w", err)
	}
	t.pidfd = fd
	var f *os.File
	if w, err := unix.Dup(fd); err == nil {
		unix.CloseOnExec(w)
		if unix.SetNonblock(w, true) == nil {
			f = os.NewFile(uintptr(w), "pidfd")
		} else {
			unix.Close(w)
		}
	}
	go func() {
		if f != nil {
			if rc, err := f.SyscallConn(); err == nil {
				pfd := []unix.PollFd{{Fd: -1, Events: unix.POLLIN}}
				_ = rc.Read(func(fd uintptr) bool {
					pfd[0].Fd = int32(fd)
					n, err := unix.Poll(pfd, 0)
					return err != unix.EINTR && (err != nil || n > 0)
				})
			}
			f.Close()
		}
		_ = t.cmd.Wait()
		t.status = t.cmd.ProcessState.Sys().(syscall.WaitStatus)
		close(t.exited)
	}()
	return nil
}

func (h *harness) startC(t *target, calls int, enosys bool, opts []seccompstream.Option) error {
	args := []string{"-filter"}
	if t.killable {
		args = append(args, "-killable")
	}
	if enosys {
		args = append(args, "-enosys")
	}
	if !h.cfg.NoTargetDo {
		args = append(args, "-target-do")
	}
	args = append(args, strconv.FormatUint(t.id, 10), strconv.Itoa(calls), strconv.Itoa(t.mix), h.magic)
	cmd := exec.Command(h.cbin, args...)
	cmd.ExtraFiles = []*os.File{t.l.file}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = outW, outW
	err = cmd.Start()
	outW.Close()
	if err != nil {
		outR.Close()
		return err
	}
	t.cmd = cmd
	if err := t.reap(); err != nil {
		outR.Close()
		return err
	}
	br := bufio.NewReader(outR)
	line, err := br.ReadString('\n')
	go func() { // the rest of the output: nothing, unless something is wrong
		defer outR.Close()
		rest, _ := io.ReadAll(br)
		if len(rest) > 0 {
			t.h.c.detail("target %d said: %q", t.id, rest)
		}
	}()
	n, perr := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "listener "))
	if err != nil || perr != nil || !strings.HasPrefix(line, "listener ") {
		t.kill()
		<-t.exited
		unix.Close(t.pidfd)
		return fmt.Errorf("C target did not report its listener (%q, %v; %v)", line, err, t.status)
	}
	lfd, err := unix.PidfdGetfd(t.pidfd, n, 0)
	if err == nil {
		unix.CloseOnExec(lfd)
		t.s, err = seccompstream.New(lfd, opts...)
		if err != nil {
			unix.Close(lfd)
		}
	}
	if err != nil {
		t.kill()
		<-t.exited
		unix.Close(t.pidfd)
		return fmt.Errorf("listener of the C target: %w", err)
	}
	_, _ = stdin.Write([]byte{'A'})
	stdin.Close()
	return nil
}

func (h *harness) startGo(t *target, calls int, enosys bool, opts []seccompstream.Option) error {
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	cmd := exec.Command(h.self, strconv.FormatUint(t.id, 10), strconv.Itoa(calls), strconv.Itoa(t.mix), h.magic,
		flag(enosys), flag(!h.cfg.NoTargetDo))
	cmd.Env = append(os.Environ(), envGoTarget+"=1")
	cmd.ExtraFiles = []*os.File{t.l.file}
	s, err := seccompstream.Start(cmd, h.goFilter, opts...)
	if err != nil {
		return err
	}
	t.cmd, t.s = cmd, s
	if err := t.reap(); err != nil {
		s.Close()
		return err
	}
	return nil
}

// kill SIGKILLs the target.
func (t *target) kill() {
	t.killed.Store(true)
	t.signal(unix.SIGKILL)
}

// signal sends sig to the target through its pidfd (never a reused pid),
// and reports whether it was sent.
func (t *target) signal(sig unix.Signal) bool {
	t.res.RLock()
	defer t.res.RUnlock()
	return t.pidfd >= 0 && unix.PidfdSendSignal(t.pidfd, sig, nil, 0) == nil
}

// get reads word i of the target's ledger, 0 once it has finished.
func (t *target) get(i int) uint64 {
	t.res.RLock()
	defer t.res.RUnlock()
	if t.l == nil {
		return 0
	}
	return t.l.get(i)
}

// stop tells the target to finish after its current call.
func (t *target) stop() {
	t.res.RLock()
	defer t.res.RUnlock()
	if t.l != nil {
		t.l.set(lStop, 1)
	}
}

func (t *target) describe() string {
	lang := "Go"
	if t.c {
		lang = "C"
	}
	mix := []string{"steady", "disrupted", "loop"}[t.mix]
	k := ""
	if t.killable {
		k = ", WAIT_KILLABLE_RECV"
	}
	return fmt.Sprintf("%s %s %s%s", lang, serverNames[t.server], mix, k)
}

// serve serves the target's Stream until it ends.
func (h *harness) serve(t *target) {
	switch t.server {
	case srvServe:
		opts := append(serveOptions(t.rng, t.mix), seccompstream.WithStats(&t.stats), seccompstream.WithErrorHandler(func(err error) { h.onError(t, err) }))
		for {
			ctx, cancel := context.WithCancel(h.serveCtx)
			t.cancelMu.Lock()
			t.cancel = cancel
			t.cancelMu.Unlock()
			t.inServe.Store(true)
			err := t.s.Serve(ctx, t, opts...)
			t.inServe.Store(false)
			cancel()
			switch {
			case err == nil, errors.Is(err, os.ErrClosed) && t.closed.Load():
				return
			case h.serveCtx.Err() != nil:
				return
			case errors.Is(err, context.Canceled):
				continue // a cancel injected: serve again
			}
			h.serveError(t, "Serve", err)
			if errors.Is(err, os.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond)
		}
	case srvLoop:
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.loop(t)
			}()
		}
		wg.Wait()
	case srvGroup, srvDisruptGroup:
		for {
			g := h.group
			if t.server == srvDisruptGroup {
				h.mu.Lock()
				g = h.dg
				h.mu.Unlock()
			}
			err := <-g.Serve(t.s)
			switch {
			case err == nil:
			case t.server == srvDisruptGroup && (errors.Is(err, context.Canceled) || errors.Is(err, os.ErrClosed)):
				// Its Group was closed (which closed the Stream): the
				// target's calls fail with ENOSYS from now on.
				t.closed.Store(true)
				t.kill()
			case h.serveCtx.Err() != nil:
			default:
				h.serveError(t, "Group stream", err)
			}
			return
		}
	}
}

// loop is one receiver of a Receive/Respond loop.
func (h *harness) loop(t *target) {
	for {
		n, err := t.s.Receive(h.serveCtx)
		if err != nil {
			switch {
			case err == io.EOF:
			case errors.Is(err, os.ErrClosed) && t.closed.Load():
			case h.serveCtx.Err() != nil:
			default:
				h.serveError(t, "Receive", err)
			}
			return
		}
		t.received.Add(1)
		t.note(n)
		id, seq, op := n.Args[0], n.Args[1], n.Args[2]
		switch op {
		case opValue:
			err = t.s.Respond(n, seccompstream.Return(int64(id<<32|seq)))
		case opTarget:
			err = t.s.Respond(n, h.targetDo(h.serveCtx, n))
		case opErrno:
			err = t.s.Respond(n, seccompstream.Errno(expectedErrno(seq)))
		case opContinue:
			h.c.fault(faultContinue)
			err = t.s.Respond(n, seccompstream.Continue())
		case opFD:
			h.c.fault(faultFD)
			_, err = t.s.RespondFD(n, h.memfd)
		default:
			err = t.s.Respond(n, seccompstream.Errno(unix.ENOSYS))
		}
		switch {
		case err == nil, errors.Is(err, seccompstream.ErrGone):
		case errors.Is(err, os.ErrClosed) && t.closed.Load():
		default:
			h.c.do(func(r *Report) { r.Wrong++ })
			h.c.detail("target %d (%s): answering %v: %v", t.id, t.describe(), n, err)
		}
		t.settled.Add(1)
	}
}

// note records a received notification: an ID seen twice, or a call seen
// twice (the same seq) on a WAIT_KILLABLE_RECV target, was answered twice.
func (t *target) note(n *seccompstream.Notification) {
	seq := n.Args[1]
	t.seenMu.Lock()
	_, dupID := t.seenIDs[n.ID]
	_, dupSeq := t.seenSeqs[seq]
	t.seenIDs[n.ID] = struct{}{}
	t.seenSeqs[seq] = struct{}{}
	t.seenMu.Unlock()
	switch {
	case dupID:
		t.h.c.do(func(r *Report) { r.Double++ })
		t.h.c.detail("target %d (%s): notification %d received twice", t.id, t.describe(), n.ID)
	case dupSeq && t.killable:
		t.h.c.do(func(r *Report) { r.Double++ })
		t.h.c.detail("target %d (%s): call %d came back after it was received, under WAIT_KILLABLE_RECV", t.id, t.describe(), seq)
	case dupSeq:
		t.h.c.do(func(r *Report) { r.Restarts++ })
	}
}

// ServeNotification is the handler of the target's Serve.
func (t *target) ServeNotification(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
	t.note(n)
	return t.h.answer(ctx, n)
}

// handle is the Groups' handler.
func (h *harness) handle(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
	if t := h.byID(n.Args[0]); t != nil {
		t.note(n)
	}
	return h.answer(ctx, n)
}

// byID finds a live target.
func (h *harness) byID(id uint64) *target {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ids[id]
}

// answer decides a call as its op asks.
func (h *harness) answer(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
	switch op := n.Args[2]; op {
	case opFD, opContinue:
		r := answerSteady(n, h.memfd)
		if op == opContinue {
			h.c.fault(faultContinue)
		} else if r.Errno() == 0 {
			h.c.fault(faultFD)
		}
		return r
	case opValue, opErrno:
		return answerSteady(n, h.memfd)
	case opPanic:
		h.c.fault(faultPanic)
		panic("soak: a handler panics")
	case opInvalid:
		h.c.fault(faultInvalid)
		return seccompstream.Response{}
	case opBlock:
		// Until cancelled; or until the soak drains, when nothing
		// cancels any more.
		h.c.fault(faultBlock)
		select {
		case <-ctx.Done():
		case <-h.startCtx.Done():
		}
		return seccompstream.Errno(unix.ECANCELED)
	case opTarget:
		return h.targetDo(ctx, n)
	}
	return seccompstream.Errno(unix.ENOSYS)
}

// targetDo answers an opTarget call by acting as the target: it pins the
// caller, checks its credentials (our uid, no_new_privs: every target runs
// with it), and runs a function as the caller that sees the same, before it
// answers as for opValue. A target gone meanwhile gets the error (dropped);
// anything else wrong gets EIO, which the target counts as a wrong answer.
func (h *harness) targetDo(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
	id, seq := n.Args[0], n.Args[1]
	tg, err := n.Target()
	if err != nil {
		return h.targetDoError(n, "Target", err)
	}
	defer tg.Close()
	cr, err := tg.Creds()
	if err != nil {
		return h.targetDoError(n, "Creds", err)
	}
	if cr.FSUID != uint32(os.Getuid()) || !cr.NoNewPrivs {
		return h.targetDoError(n, "Creds", fmt.Errorf("fsuid %d, no_new_privs %v", cr.FSUID, cr.NoNewPrivs))
	}
	err = tg.Do(ctx, func() error {
		if v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err != nil || v != 1 {
			return fmt.Errorf("no_new_privs %d (%v) inside Do", v, err)
		}
		return nil
	})
	if err != nil {
		return h.targetDoError(n, "Do", err)
	}
	h.c.fault(faultTargetDo)
	return seccompstream.Return(int64(id<<32 | seq))
}

// targetDoError answers an opTarget call whose handling failed: because
// the target is gone or the harness closed the Stream (the answer is
// dropped), because the handler's context ended (ENOSYS, as Serve's
// fallback would: with WithStopGrace Serve takes the handler's answer), or
// for another reason, a failure.
func (h *harness) targetDoError(n *seccompstream.Notification, what string, err error) seccompstream.Response {
	switch {
	case errors.Is(err, seccompstream.ErrGone), errors.Is(err, os.ErrClosed):
		return seccompstream.Error(err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return seccompstream.Errno(unix.ENOSYS)
	}
	h.c.detail("call %d of target %d: %s: %v", n.Args[1], n.Args[0], what, err)
	return seccompstream.Errno(unix.EIO)
}

// onError is the Serve error handler of the target's Streams (and of the
// Groups, with t nil): panics and invalid Responses are injected; anything
// else is an answer refused.
func (h *harness) onError(t *target, err error) {
	var pe *seccompstream.PanicError
	var he *seccompstream.HandlerError
	if errors.As(err, &pe) || errors.As(err, &he) && !he.Response.Valid() {
		return
	}
	h.c.do(func(r *Report) { r.Wrong++ })
	if t != nil {
		h.c.detail("target %d (%s): %v", t.id, t.describe(), err)
	} else {
		h.c.detail("Group: %v", err)
	}
}

// newDisruptGroup makes a disrupted Group and its Stats.
func (h *harness) newDisruptGroup() (*seccompstream.Group, *seccompstream.Stats) {
	st := new(seccompstream.Stats)
	g := seccompstream.NewGroup(h.serveCtx, seccompstream.HandlerFunc(h.handle),
		append(serveOptions(h.dgRNG, mixDisrupted), seccompstream.WithStats(st), seccompstream.WithErrorHandler(h.onGroupError))...)
	return g, st
}

// onGroupError is the Groups' error handler.
func (h *harness) onGroupError(err error) { h.onError(nil, err) }

// closeGroupAndCheck closes g and checks that every notification its
// Streams received was answered or found gone.
func (h *harness) closeGroupAndCheck(g *seccompstream.Group, st *seccompstream.Stats) {
	err := g.Close()
	if err != nil && h.serveCtx.Err() == nil {
		h.c.do(func(r *Report) { r.ServeErrors++ })
		h.c.detail("Group.Close: %v", err)
	}
	sn := st.Snapshot()
	ended := sn.Returned + sn.Errno + sn.Continued + sn.Fallback + sn.Gone + sn.Failed
	if sn.InFlight != 0 || sn.Received != ended {
		h.c.do(func(r *Report) {
			r.Lost += sn.Received - min(sn.Received, ended)
			r.Double += ended - min(sn.Received, ended) // outcomes counted twice
		})
		h.c.detail("Group: %d received, %d answered or gone, %d in flight", sn.Received, ended, sn.InFlight)
	}
}

func (h *harness) serveError(t *target, what string, err error) {
	h.c.do(func(r *Report) { r.ServeErrors++ })
	h.c.detail("target %d (%s): %s: %v", t.id, t.describe(), what, err)
}

// finish waits for the target to be gone and adds its ledgers to the
// report.
func (h *harness) finish(t *target) {
	<-t.exited
	h.mu.Lock()
	delete(h.live, t)
	delete(h.ids, t.id)
	h.mu.Unlock()
	t.s.Close()
	t.res.Lock()
	unix.Close(t.pidfd)
	t.pidfd = -1
	sn := t.l.snapshot()
	t.l.close()
	t.l = nil
	t.res.Unlock()
	killed := t.killed.Load()

	h.c.do(func(r *Report) {
		r.add(sn)
		if t.c {
			r.CCalls += sn[lReturned]
		} else {
			r.GoCalls += sn[lReturned]
		}
		if sn[lDone] == 1 {
			if t.orphansFail() {
				r.Orphans += sn[lOrphans]
			} else {
				r.OrphansNonKillable += sn[lOrphans]
			}
		}
	})
	h.c.wrong(fmt.Sprintf("target %d (%s)", t.id, t.describe()), sn)
	if t.orphansFail() && sn[lDone] == 1 && sn[lOrphans] > 0 {
		h.c.detail("target %d (%s): %d descriptors it did not ask for", t.id, t.describe(), sn[lOrphans])
	}
	if !killed && (!t.status.Exited() || t.status.ExitStatus() != 0 || sn[lDone] != 1) {
		h.c.do(func(r *Report) { r.TargetFails++ })
		h.c.detail("target %d (%s) ended with %v (done %d) after %d calls", t.id, t.describe(), t.status, sn[lDone], sn[lReturned])
	}
	// The supervisor side: every notification received ended somewhere.
	switch t.server {
	case srvServe:
		st := t.stats.Snapshot()
		ended := st.Returned + st.Errno + st.Continued + st.Fallback + st.Gone + st.Failed
		if st.InFlight != 0 || st.Received != ended {
			h.c.do(func(r *Report) {
				r.Lost += st.Received - min(st.Received, ended)
				r.Double += ended - min(st.Received, ended) // outcomes counted twice
			})
			h.c.detail("target %d (%s): %d received, %d answered or gone, %d in flight", t.id, t.describe(), st.Received, ended, st.InFlight)
		}
	case srvLoop:
		if rcv, set := t.received.Load(), t.settled.Load(); rcv != set {
			h.c.do(func(r *Report) { r.Lost += rcv - set })
			h.c.detail("target %d (%s): %d received, %d answered or gone", t.id, t.describe(), rcv, set)
		}
	}
}

// orphansFail reports whether a descriptor left in the target that it did
// not ask for is a failure: on a WAIT_KILLABLE_RECV target whose Stream is
// not disrupted. Without WAIT_KILLABLE_RECV a signal between ADDFD and
// SEND leaves one (RespondFD's doc), and so does a Serve that stops after
// a handler's AddFD and answers with the fallback.
func (t *target) orphansFail() bool { return t.killable && t.mix != mixDisrupted }

// ready reports whether the target has set itself up (its signal
// handlers are installed).
func (t *target) ready() bool { return t.get(lMagic) == ledgerMagic }

// forLive calls f for every live target.
func (h *harness) forLive(f func(*target)) {
	h.mu.Lock()
	ts := make([]*target, 0, len(h.live))
	for t := range h.live {
		ts = append(ts, t)
	}
	h.mu.Unlock()
	for _, t := range ts {
		f(t)
	}
}

// pick returns a random live target that ok accepts, or nil.
func (h *harness) pick(r *rand.Rand, ok func(*target) bool) *target {
	h.mu.Lock()
	defer h.mu.Unlock()
	var cands []*target
	for t := range h.live {
		if ok == nil || ok(t) {
			cands = append(cands, t)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[r.IntN(len(cands))]
}

func inCI() bool { return os.Getenv("SECCOMPSTREAM_CI") == "1" }
