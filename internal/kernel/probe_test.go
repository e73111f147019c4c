package kernel

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// release returns the running kernel's major and minor version.
func release(t *testing.T) (int, int) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	r := unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(r, ".", 3)
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		t.Fatalf("cannot parse kernel release %q", r)
	}
	return major, minor
}

func atLeast(major, minor int, version string) bool {
	var vmaj, vmin int
	parts := strings.SplitN(version, ".", 2)
	vmaj, _ = strconv.Atoi(parts[0])
	vmin, _ = strconv.Atoi(parts[1])
	return major > vmaj || major == vmaj && minor >= vmin
}

// TestProbeMatchesKernelVersion checks each probe against the release it
// names: a feature must be found on kernels that have it (a broken probe
// would silently disable it) and must not be found on older ones. Distro
// kernels can backport features; none of the kernels CI runs do.
func TestProbeMatchesKernelVersion(t *testing.T) {
	f, err := Probe()
	if err != nil {
		t.Fatal(err)
	}
	major, minor := release(t)
	for _, c := range []struct {
		name    string
		got     bool
		version string
	}{
		{"Continue", f.Continue, VersionContinue},
		{"TSyncESRCH", f.TSyncESRCH, VersionTSyncESRCH},
		{"AddFD", f.AddFD, VersionAddFD},
		{"AddFDSend", f.AddFDSend, VersionAddFDSend},
		{"WaitKillableRecv", f.WaitKillableRecv, VersionWaitKillableRecv},
		{"SyncWakeup", f.SyncWakeup, VersionSyncWakeUp},
		{"HUPOnExit", f.HUPOnExit, VersionHUPOnExit},
	} {
		if want := atLeast(major, minor, c.version); c.got != want {
			t.Errorf("%s = %v on Linux %d.%d (feature of %s)", c.name, c.got, major, minor, c.version)
		}
	}
	t.Logf("Linux %d.%d: %+v", major, minor, f)
}

// TestProbeLeavesNoFilter checks that probing leaves no seccomp filter on
// any thread of the process.
func TestProbeLeavesNoFilter(t *testing.T) {
	if _, err := Probe(); err != nil {
		t.Fatal(err)
	}
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited meanwhile
		}
		if !strings.Contains(string(b), "\nSeccomp:\t0\n") {
			t.Errorf("%s carries a seccomp filter after Probe", p)
		}
	}
}

func TestOnThrowawayThread(t *testing.T) {
	pid := unix.Getpid()
	for range 20 {
		var tid int
		OnThrowawayThread(func() { tid = unix.Gettid() })
		if tid == pid {
			t.Fatal("ran on the main thread")
		}
		// The thread is gone (or going): it never runs anything else.
		if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid)); err == nil {
			// It may still be exiting; it must not stay.
			for i := 0; i < 1000; i++ {
				if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid)); err != nil {
					break
				}
				if i == 999 {
					t.Fatalf("thread %d still exists", tid)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
}
