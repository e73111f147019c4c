package profile_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// envGoWork makes the test binary run goWork instead of the tests: a Go
// program for the recorder to watch.
const envGoWork = "SECCOMPSTREAM_PROFILE_GOWORK"

// goWorkOutput is what goWork prints.
var goWorkOutput = fmt.Sprintf("sum %d\n", sectest.GoWorkSum)

// goWork runs sectest.GoWork and prints its result.
func goWork() int {
	sum, err := sectest.GoWork()
	if err != nil {
		fmt.Println(err)
		return 1
	}
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
