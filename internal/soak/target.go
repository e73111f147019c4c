package soak

import (
	_ "embed"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/cbuild"
)

// envGoTarget marks a process started as the Go target (see TargetMain).
const envGoTarget = "SECCOMPSTREAM_SOAK_GO_TARGET"

// TargetMain runs the Go target when the process was started as one (by
// the harness, through seccompstream.Start), or the agent of the agent
// scenario, and returns otherwise. The
// soak command calls it first thing in main, and the package's tests in
// TestMain.
func TargetMain() {
	if socket := os.Getenv(envAgent); socket != "" {
		os.Exit(agentMain(socket, os.Getenv("SECCOMPSTREAM_SOAK_MAGIC")))
	}
	if os.Getenv(envGoTarget) == "" {
		return
	}
	os.Exit(goTarget(os.Args[1:]))
}

// goTarget is the Go target: arguments ID CALLS MIX MAGIC ENOSYS TARGETDO
// (the last two 0 or 1; TARGETDO is target.c's -target-do), the ledger on
// fd 3. It follows target.c's rules, except that the Go
// runtime installs every signal handler with SA_RESTART, so EINTR is never
// a right answer for it.
func goTarget(args []string) int {
	if len(args) != 6 {
		fmt.Fprintln(os.Stderr, "soak target: want ID CALLS MIX MAGIC ENOSYS TARGETDO")
		return 2
	}
	id, _ := strconv.ParseUint(args[0], 10, 64)
	calls, _ := strconv.ParseUint(args[1], 10, 64)
	mix, _ := strconv.Atoi(args[2])
	magic := []byte(args[3])
	enosysOK := args[4] == "1"
	targetDo := args[5] == "1"
	l, err := mapLedger(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	sig := make(chan os.Signal, 16)
	signal.Notify(sig, unix.SIGUSR1, unix.SIGUSR2, unix.SIGURG)
	go func() {
		for range sig {
		}
	}()
	// Garbage, so that the collector runs (and signals its threads) too.
	go func() {
		var keep [][]byte
		for {
			keep = append(keep, make([]byte, 32<<10))
			if len(keep) > 32 {
				keep = nil
				time.Sleep(time.Millisecond)
			}
		}
	}()
	// The runtime's poller (an epoll and an eventfd) starts with the first
	// timer or pollable file: start it before counting descriptors.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	time.Sleep(time.Microsecond)
	fdsStart := countFDs()
	l.set(lMagic, ledgerMagic)
	buf := make([]byte, len(magic))
	enosysRun := 0
	for seq := uint64(1); seq <= calls && l.get(lStop) == 0; seq++ {
		op := targetOp(pickOp(id, seq, mix), seq, targetDo)
		l.set(lCurSeq, seq)
		l.set(lCurOp, op)
		l.set(lCallStart, monotonicNS())
		l.add(lStarted, 1)
		r, _, e := unix.Syscall(unix.SYS_GETPRIORITY, uintptr(id), uintptr(seq), uintptr(op))
		l.set(lCallStart, 0)
		l.add(lReturned, 1)
		right := false
		switch op {
		case opValue, opTarget:
			right = e == 0 && uint64(r) == id<<32|seq
		case opErrno:
			right = e == expectedErrno(seq)
		case opFD:
			if e == 0 {
				if n, err := unix.Pread(int(r), buf, 0); err == nil && n == len(buf) && string(buf) == string(magic) {
					right = true
					unix.Close(int(r))
				}
			}
		case opContinue:
			right = e == unix.EINVAL
		case opPanic, opInvalid:
			right = e == unix.ENOSYS
		case opBlock:
			right = e == unix.ENOSYS || e == unix.ECANCELED
			if e == unix.ECANCELED {
				l.add(lECANCELED, 1)
			}
		}
		if e == unix.ENOSYS {
			enosysRun++
		} else {
			enosysRun = 0
		}
		switch {
		case right:
			l.add(lRight, 1)
		case e == unix.ENOSYS && enosysOK:
			l.add(lENOSYS, 1)
		default:
			l.add(lWrong, 1)
			l.set(lWrongSeq, seq)
			l.set(lWrongOp, op)
			l.set(lWrongRet, uint64(r))
			l.set(lWrongErrno, uint64(e))
		}
		if enosysOK && enosysRun >= giveUp {
			break // the listener is gone for good
		}
	}
	if end := countFDs(); fdsStart >= 0 && end > fdsStart {
		l.set(lOrphans, uint64(end-fdsStart))
	}
	l.set(lDone, 1)
	return 0
}

// giveUp is the number of consecutive ENOSYS answers after which a target
// whose stream may be disrupted stops: its listener is gone.
const giveUp = 32

// countFDs returns the number of open descriptors of the process, -1 if
// unknown.
func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // ReadDir's own
}

// monotonicNS returns CLOCK_MONOTONIC in nanoseconds: one clock for every
// process on the machine.
func monotonicNS() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

//go:embed csrc/target.c
var targetC []byte

// envCTarget names a prebuilt C target (csrc/target.c built with gcc
// -static) to use instead of building one, for machines without a
// compiler such as the qemu guest of scripts/kernel-test.
const envCTarget = "SECCOMPSTREAM_C_TARGET"

// buildC compiles the C target into dir, dynamically linked (target) and
// static (target-static, for containers), and returns the paths; where
// SECCOMPSTREAM_C_TARGET names a prebuilt static one, that is both.
func buildC(dir string) (dyn, static string, err error) {
	prog := cbuild.Program{Name: "target", Source: targetC, Flags: []string{"-O2"}, Prebuilt: envCTarget}
	if dyn, err = prog.Build(dir); err != nil {
		return "", "", fmt.Errorf("soak: C targets: %w", err)
	}
	prog.Name, prog.Flags = "target-static", []string{"-O2", "-static"}
	if static, err = prog.Build(dir); err != nil {
		return "", "", fmt.Errorf("soak: C targets: %w", err)
	}
	return dyn, static, nil
}
