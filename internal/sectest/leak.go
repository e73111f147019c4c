package sectest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// OpenFDs lists the process's open file descriptors with their targets.
func OpenFDs() map[string]string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	m := make(map[string]string, len(ents))
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		m[e.Name()] = l
	}
	return m
}

// RunMain runs the tests and fails the run if it leaked file descriptors
// (compared with before) or goroutines running package code.
func RunMain(run func() int, pkgPrefixes ...string) int {
	// The runtime's poller opens its epoll and eventfd with the first
	// pollable file; make that happen before taking the inventory.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before := OpenFDs()
	code := run()
	if code != 0 {
		return code
	}
	// Give goroutines that are on their way out a moment.
	var leakedFDs, leakedG []string
	for i := 0; i < 50; i++ {
		leakedFDs = leakedFDs[:0]
		for fd, target := range OpenFDs() {
			if _, ok := before[fd]; !ok && !strings.HasPrefix(target, "/proc/") {
				leakedFDs = append(leakedFDs, fd+" -> "+target)
			}
		}
		leakedG = leakedGoroutines(pkgPrefixes)
		if len(leakedFDs) == 0 && len(leakedG) == 0 {
			return 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(leakedFDs) > 0 {
		fmt.Fprintf(os.Stderr, "leaked file descriptors: %v\n", leakedFDs)
	}
	for _, g := range leakedG {
		fmt.Fprintf(os.Stderr, "leaked goroutine:\n%s\n\n", g)
	}
	return 1
}

func leakedGoroutines(prefixes []string) []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "sectest.RunMain") || strings.Contains(g, "testing.(*M)") {
			continue
		}
		for _, p := range prefixes {
			if strings.Contains(g, p) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
