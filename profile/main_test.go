package profile_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// envGoWork makes the test binary run goWork instead of the tests: a Go
// program for the recorder to watch.
const envGoWork = "SECCOMPSTREAM_PROFILE_GOWORK"

const goWorkOutput = "sum 399920000\n"

// goWork runs goroutines that allocate, collect garbage, sleep, get a
// signal and get preempted (SIGURG), and prints a result that does not
// depend on timing.
func goWork() int {
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
	// A signal for sure (a handler, and its return through rt_sigreturn),
	// and a busy loop long enough to be preempted by SIGURG.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		fmt.Println(err)
		return 1
	}
	<-sigs
	signal.Stop(sigs)
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
	}
	wg.Wait()
	fmt.Printf("sum %d\n", sum)
	return 0
}

// Child scenarios (see sectest.StartChild).
var scenarios = map[string]sectest.Scenario{
	// spin N: make N getppid calls.
	"spin": func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		for range n {
			unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
		}
		return 0
	},
}

func TestMain(m *testing.M) {
	if os.Getenv(envGoWork) == "1" {
		os.Exit(goWork())
	}
	if fams := os.Getenv(envSockets); fams != "" {
		os.Exit(sockets(fams))
	}
	sectest.Main(scenarios)
	os.Exit(sectest.RunMain(m.Run, "seccompstream/profile."))
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
