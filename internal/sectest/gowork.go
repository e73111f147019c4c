package sectest

import (
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// GoWorkSum is what GoWork returns.
const GoWorkSum = 399920000

// GoWork does a Go program's ordinary work, for tests that record or
// filter what a Go program does (run it in a re-executed test binary):
// goroutines that allocate and collect garbage and sleep, a signal
// delivered to a handler (and its return through rt_sigreturn), and a
// busy loop long enough to be preempted (SIGURG). It returns GoWorkSum,
// which does not depend on timing, for the program to print.
func GoWork() (int, error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sum := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := 0
			for i := range 5000 {
				b := make([]byte, 1024+i%4096) // garbage
				b[0] = byte(g)
				local += i * 4
				if i%1000 == 0 {
					runtime.GC()
					time.Sleep(time.Millisecond)
				}
			}
			mu.Lock()
			sum += local
			mu.Unlock()
		}()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		wg.Wait()
		return 0, err
	}
	<-sigs
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
	}
	wg.Wait()
	return sum, nil
}
