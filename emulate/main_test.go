package emulate_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// scenarios are the bodies of the child processes tests start
// (sectest.StartChild).
var scenarios = map[string]sectest.Scenario{
	// mknod-as PATH FSUID: mknod(PATH, S_IFCHR|0666, 1:3) from a thread
	// with that fsuid (which drops CAP_MKNOD), printing "errno=N".
	"mknod-as": func(args []string) int {
		uid, _ := strconv.Atoi(args[1])
		runtime.LockOSThread()
		unix.Setfsuid(uid)
		err := unix.Mknod(args[0], unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
		errno, _ := err.(unix.Errno)
		fmt.Printf("errno=%d\n", errno)
		return 0
	},
}

// TestMain fails the run if a test leaked a descriptor or a goroutine.
func TestMain(m *testing.M) {
	sectest.Main(scenarios)
	os.Exit(sectest.RunMain(m.Run, "github.com/seccompstream/seccompstream"))
}
