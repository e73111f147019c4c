// Package soak is the reliability campaign of seccompstream: for a bounded
// time it serves many real targets (C and Go processes making trapped
// calls whose right answers follow from their arguments) through every
// serving path of the library (Serve, a Receive/Respond loop, Groups),
// while it injects faults: signal storms to the targets and to the
// supervisor, targets killed in the middle of calls, handlers that panic,
// block or answer nonsense, fd injection, Serve contexts cancelled and
// Streams and Groups closed with calls in flight, and an OCI agent killed
// and restarted under runc containers. Then it checks the ledgers of both
// sides and reports, in one table, the calls, the faults injected by kind,
// and the failures: calls lost, answered twice, answered wrongly or hung,
// and leaked descriptors, goroutines, threads and processes.
//
// RELIABILITY.md at the repository root defines each column; the soak
// command (internal/cmd/soak, run by scripts/soak) is the entry point.
package soak

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Config says what a soak runs. The zero value of a field means its
// default; see Defaults.
type Config struct {
	// Duration is how long targets are started and faults injected.
	// Then the harness drains: targets finish their current call and
	// exit, which takes at most Hang more.
	Duration time.Duration
	// Targets is the number of target slots with a Stream of their own
	// (served by Serve or by a Receive/Respond loop, steady or disrupted).
	Targets int
	// Group is the number of steady targets served by one Group; 0: the
	// default, negative: none.
	Group int
	// DisruptGroup is the number of disrupted targets served by a Group
	// that is closed from time to time; 0: the default, negative: none.
	DisruptGroup int
	// Calls bounds a target's life: it makes between Calls/10 and Calls
	// calls, then exits and is replaced.
	Calls int
	// Hang is how long a call may wait for its answer before it counts as
	// hung.
	Hang time.Duration
	// NoC turns the C targets off (they need gcc); NoGo the Go ones.
	NoC, NoGo bool
	// NoDedicated keeps every Stream in the default receive mode (no
	// WithDedicatedThread): for telling a dedicated-mode bug from others.
	NoDedicated bool
	// Agent runs the agent scenario: an OCI agent process killed and
	// restarted while runc containers make calls. It needs runc and
	// busybox (and the C targets).
	Agent bool
	// Intervals between faults (per injector): signals to targets, to
	// the supervisor's threads, kills of targets in a call, Serve
	// cancellations, Stream closes, Group closes, agent kills.
	SignalEvery, SelfSignalEvery, KillEvery, CancelEvery, CloseEvery, GroupCloseEvery, AgentKillEvery time.Duration
	// Seed makes the choices repeatable (as far as scheduling allows).
	Seed uint64
	// NoTargetDo turns off the calls answered by acting as the target:
	// one value call in twenty, whose handler pins the caller
	// ((*Notification).Target), checks its credentials and runs a function
	// as the caller (Target.Do) before it answers.
	NoTargetDo bool
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// Defaults returns cfg with every unset field set to its default.
func (cfg Config) Defaults() Config {
	set := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	set(&cfg.Duration, 60*time.Second)
	set(&cfg.Hang, 30*time.Second)
	set(&cfg.SignalEvery, 200*time.Microsecond)
	set(&cfg.SelfSignalEvery, 200*time.Microsecond)
	set(&cfg.KillEvery, 25*time.Millisecond)
	set(&cfg.CancelEvery, 20*time.Millisecond)
	set(&cfg.CloseEvery, 100*time.Millisecond)
	set(&cfg.GroupCloseEvery, 2*time.Second)
	set(&cfg.AgentKillEvery, 2*time.Second)
	if cfg.Targets == 0 {
		cfg.Targets = 16
	}
	if cfg.Group == 0 {
		cfg.Group = 64
	}
	if cfg.DisruptGroup == 0 {
		cfg.DisruptGroup = 8
	}
	if cfg.Calls == 0 {
		cfg.Calls = 3000
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	return cfg
}

// Fault kinds, as the report counts them.
const (
	faultSigUSR1        = iota // SIGUSR1 to a target (SA_RESTART handler)
	faultSigUSR2               // SIGUSR2 to a target (C: no SA_RESTART, so EINTR; Go: SA_RESTART)
	faultSigURG                // SIGURG to a target
	faultSigStop               // SIGSTOP then SIGCONT to a target
	faultSelfSignal            // SIGURG or SIGCHLD to a thread of the supervisor
	faultKill                  // SIGKILL to a target waiting in a call
	faultPanic                 // a handler panicked
	faultBlock                 // a handler blocked until its context ended
	faultInvalid               // a handler returned an invalid Response
	faultFD                    // a descriptor installed in a target (AddFD, RespondFD)
	faultContinue              // a call answered Continue
	faultTargetDo              // a call answered by a handler acting as the target (Target, Do)
	faultCancel                // a Serve context cancelled
	faultCancelBusy            // ... with handlers running
	faultClose                 // a Stream closed while its target was calling
	faultGroupClose            // a Group closed with its Streams serving
	faultAgentKill             // the agent process killed (SIGKILL) and restarted
	faultTargetsStarted        // targets started (new ones all the time)
	faultContainers            // runc containers started under the agent
	numFaults
)

var faultNames = [numFaults]string{
	faultSigUSR1:        "SIGUSR1 to targets (SA_RESTART)",
	faultSigUSR2:        "SIGUSR2 to targets (C: no SA_RESTART)",
	faultSigURG:         "SIGURG to targets",
	faultSigStop:        "SIGSTOP+SIGCONT to targets",
	faultSelfSignal:     "SIGURG/SIGCHLD to supervisor threads",
	faultKill:           "targets SIGKILLed mid-call",
	faultPanic:          "handler panics",
	faultBlock:          "handlers blocked until cancelled",
	faultInvalid:        "invalid responses",
	faultFD:             "fds injected (AddFD/RespondFD)",
	faultContinue:       "Continue answers",
	faultTargetDo:       "answers by Target/Do handlers",
	faultCancel:         "Serve contexts cancelled",
	faultCancelBusy:     "  of them with handlers running",
	faultClose:          "Streams closed mid-flight",
	faultGroupClose:     "Groups closed mid-flight",
	faultAgentKill:      "agent killed and restarted",
	faultTargetsStarted: "targets started",
	faultContainers:     "runc containers started",
}

// Report is what a soak found.
type Report struct {
	Config  Config
	Kernel  string
	Race    bool
	Elapsed time.Duration

	// Calls, by who made them.
	Calls, CCalls, GoCalls, ContainerCalls uint64
	// Answers the targets saw, by kind.
	Right, ENOSYS, EINTR, ECANCELED uint64
	// Received notifications that came back after they were received, on
	// targets without WAIT_KILLABLE_RECV (documented, not a failure).
	Restarts uint64
	// Containers that did not start although the agent was up.
	ContainerFails uint64
	// Descriptors left in targets without WAIT_KILLABLE_RECV that they did
	// not ask for (documented for RespondFD, not a failure).
	OrphansNonKillable uint64
	Faults             [numFaults]uint64

	// Failures.
	Lost        uint64 // received, never answered and never found gone
	Double      uint64 // received twice (one ID, or under WAIT_KILLABLE_RECV one call), or more outcomes than receptions in Serve's Stats
	Wrong       uint64 // answers outside the allowed set (target side), answers refused (supervisor side)
	Hung        uint64 // calls waiting longer than Hang
	ServeErrors uint64 // Serve or Receive ending with an unexpected error
	TargetFails uint64 // targets that failed to start or ended badly on their own
	Orphans     uint64 // descriptors left in WAIT_KILLABLE_RECV targets that they did not ask for

	FDsBefore, FDsAfter               int
	GoroutinesBefore, GoroutinesAfter int
	ThreadsBefore, ThreadsPeak        int
	ThreadsAfter, ThreadLimit         int
	ProcessesLeft                     int

	// Details of the first failures.
	Details []string

	// Skipped lists parts that could not run, and why.
	Skipped []string
}

// Failed reports whether any failure column is non-zero.
func (r *Report) Failed() bool {
	return r.Lost+r.Double+r.Wrong+r.Hung+r.ServeErrors+r.TargetFails+r.ContainerFails+r.Orphans > 0 ||
		r.FDsAfter != r.FDsBefore || r.GoroutinesAfter > r.GoroutinesBefore ||
		r.ThreadsAfter > r.ThreadLimit || r.ProcessesLeft > 0
}

// Table formats the report as one table.
func (r *Report) Table() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	race := "off"
	if r.Race {
		race = "on"
	}
	p("soak: %v on Linux %s, %d CPUs, race detector %s, seed %d\n", r.Elapsed.Round(time.Second), r.Kernel, runtime.NumCPU(), race, r.Config.Seed)
	p("  %d target slots, Group of %d, disrupted Group of %d, up to %d calls per target, hang bound %v\n",
		r.Config.Targets, max(r.Config.Group, 0), max(r.Config.DisruptGroup, 0), r.Config.Calls, r.Config.Hang)
	for _, s := range r.Skipped {
		p("  not run: %s\n", s)
	}
	row := func(name string, v any, note string) {
		p("%s\n", strings.TrimRight(fmt.Sprintf("  %-44s %14v  %s", name, v, note), " "))
	}
	p("calls\n")
	row("calls made", num(r.Calls), fmt.Sprintf("C %s, Go %s, in containers %s", num(r.CCalls), num(r.GoCalls), num(r.ContainerCalls)))
	row("right answers", num(r.Right), "")
	row("ENOSYS (disrupted stream: allowed)", num(r.ENOSYS), "")
	row("EINTR (signal without SA_RESTART: allowed)", num(r.EINTR), "")
	row("ECANCELED (blocked handler's own answer)", num(r.ECANCELED), "counted in right")
	row("restarted after receive (no WAIT_KILLABLE)", num(r.Restarts), "documented")
	row("orphaned fds (no WAIT_KILLABLE)", num(r.OrphansNonKillable), "documented")
	p("faults injected\n")
	for i, n := range r.Faults {
		row(faultNames[i], num(n), "")
	}
	p("failures\n")
	fail := func(name string, v uint64) {
		mark := ""
		if v > 0 {
			mark = "FAIL"
		}
		row(name, num(v), mark)
	}
	fail("lost", r.Lost)
	fail("answered twice", r.Double)
	fail("answered wrongly", r.Wrong)
	fail("hung", r.Hung)
	fail("Serve/Receive errors", r.ServeErrors)
	fail("target failures", r.TargetFails)
	fail("containers not started (agent up)", r.ContainerFails)
	fail("orphaned fds (WAIT_KILLABLE)", r.Orphans)
	leak := func(name string, before, after int, bad bool, note string) {
		mark := note
		if bad {
			mark = "FAIL " + note
		}
		row(name, fmt.Sprintf("%d -> %d", before, after), mark)
	}
	leak("fds before -> after", r.FDsBefore, r.FDsAfter, r.FDsAfter != r.FDsBefore, "")
	leak("goroutines before -> after", r.GoroutinesBefore, r.GoroutinesAfter, r.GoroutinesAfter > r.GoroutinesBefore, "")
	leak("threads before -> after", r.ThreadsBefore, r.ThreadsAfter, r.ThreadsAfter > r.ThreadLimit,
		fmt.Sprintf("peak %d, limit %d (idle threads are kept by Go)", r.ThreadsPeak, r.ThreadLimit))
	fail("processes left", uint64(r.ProcessesLeft))
	for _, d := range r.Details {
		p("  ! %s\n", d)
	}
	if r.Failed() {
		p("RESULT: FAIL\n")
	} else {
		p("RESULT: PASS\n")
	}
	return b.String()
}

// num formats n with thousands separators.
func num(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// maxDetails bounds the failure details kept: in all, and of one kind
// (the text before the first colon that follows a target's description).
const (
	maxDetails       = 40
	maxDetailsOfKind = 4
)

// counters guards the counters of a Report while a soak runs.
type counters struct {
	mu    sync.Mutex
	rep   *Report
	kinds map[string]int
}

func (c *counters) do(f func(r *Report)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c.rep)
}

func (c *counters) fault(kind int) {
	c.do(func(r *Report) { r.Faults[kind]++ })
}

// add adds a target's ledger to the answer counts.
func (r *Report) add(sn snapshot) {
	r.Calls += sn[lReturned]
	r.Right += sn[lRight]
	r.ENOSYS += sn[lENOSYS]
	r.EINTR += sn[lEINTR]
	r.ECANCELED += sn[lECANCELED]
	r.Wrong += sn[lWrong]
}

// wrong records the last wrong answer of a ledger, if there was one.
func (c *counters) wrong(who string, sn snapshot) {
	if sn[lWrong] > 0 {
		c.detail("%s: %d wrong answers; the last: call %d op %s returned %d errno %d",
			who, sn[lWrong], sn[lWrongSeq], opNames[min(sn[lWrongOp], numOps-1)], int64(sn[lWrongRet]), sn[lWrongErrno])
	}
}

func (c *counters) detail(format string, a ...any) {
	// The kind: the format without its arguments.
	kind := format
	c.do(func(r *Report) {
		if c.kinds == nil {
			c.kinds = make(map[string]int)
		}
		c.kinds[kind]++
		if len(r.Details) < maxDetails && c.kinds[kind] <= maxDetailsOfKind {
			r.Details = append(r.Details, fmt.Sprintf(format, a...))
		}
	})
}
