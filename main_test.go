package seccompstream_test

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// Child scenarios. Each runs in a re-executed test binary under a filter
// that notifies the calls the test lists, and reports through its exit
// status (0: every check passed) and its output.
var scenarios = map[string]sectest.Scenario{
	// getppid N: call getppid(i) for i in 0..N-1; expect the supervisor's
	// answer 1000+i.
	"getppid": func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		for i := 0; i < n; i++ {
			r, _, e := unix.Syscall(unix.SYS_GETPPID, uintptr(i), 0, 0)
			if e != 0 || int(r) != 1000+i {
				fmt.Printf("call %d: got %d, errno %v\n", i, int(r), e)
				return 1
			}
		}
		return 0
	},
	// errno E: getppid must fail with errno E.
	"errno": func(args []string) int {
		want, _ := strconv.Atoi(args[0])
		_, _, e := unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
		if int(e) != want {
			fmt.Printf("errno %d, want %d\n", int(e), want)
			return 1
		}
		return 0
	},
	// continue: getppid must return the real parent pid.
	"continue": func([]string) int {
		r, _, e := unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
		if e != 0 || int(r) != os.Getppid() && int(r) != unix.Getppid() {
			fmt.Printf("getppid = %d, %v\n", int(r), e)
			return 1
		}
		return 0
	},
	// once: one getppid; print what it returned.
	"once": func([]string) int {
		r, _, e := unix.Syscall(unix.SYS_GETPPID, 7, 0, 0)
		fmt.Printf("result %d errno %d\n", int64(r), int(e))
		return 0
	},
	// wait-once: as once, after a line arrives on stdin.
	"wait-once": func(args []string) int {
		var line string
		fmt.Scanln(&line)
		r, _, e := unix.Syscall(unix.SYS_GETPPID, 7, 0, 0)
		fmt.Printf("result %d errno %d\n", int64(r), int(e))
		return 0
	},
	// restart: as once, with a SIGUSR1 handler installed (Go installs
	// handlers with SA_RESTART), expecting the answer 42.
	"restart": func([]string) int {
		c := make(chan os.Signal, 8)
		signal.Notify(c, unix.SIGUSR1)
		r, _, e := unix.Syscall(unix.SYS_GETPPID, 7, 0, 0)
		if e != 0 || r != 42 {
			fmt.Printf("result %d errno %v\n", int64(r), e)
			return 1
		}
		return 0
	},
	// idle: make no notified calls; wait to be killed.
	"idle": func([]string) int {
		time.Sleep(time.Hour)
		return 0
	},
	// threads T N: T locked threads each make N calls getppid(t<<20|i) and
	// expect (t<<20|i)*3.
	"threads": func(args []string) int {
		nt, _ := strconv.Atoi(args[0])
		n, _ := strconv.Atoi(args[1])
		return getppidThreads(nt, n, true)
	},
}

// getppidThreads has nt goroutines (each locked to its own thread if lock
// says so) make n calls getppid(t<<20|i) each, expecting (t<<20|i)*3, and
// returns the exit status: 1, after saying how many answers were wrong,
// if any was.
func getppidThreads(nt, n int, lock bool) int {
	var wg sync.WaitGroup
	var bad atomic.Int64
	for t := range nt {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if lock {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			for i := range n {
				a := uintptr(t<<20 | i)
				r, _, e := unix.Syscall(unix.SYS_GETPPID, a, 0, 0)
				if e != 0 || r != a*3 {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		fmt.Printf("%d wrong answers\n", bad.Load())
		return 1
	}
	return 0
}

func TestMain(m *testing.M) {
	sectest.Main(scenarios)
	os.Exit(sectest.RunMain(m.Run, "seccompstream."))
}

func sectestGetppid(a uintptr) (uintptr, unix.Errno) {
	r, _, e := unix.Syscall(unix.SYS_GETPPID, a, 0, 0)
	return r, e
}
