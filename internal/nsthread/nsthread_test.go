package nsthread_test

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/nsthread"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// mainThreadRuns counts how often fn ran on the main thread when Run was
// called from the main goroutine (in TestMain, before the tests).
var mainThreadRuns, mainGoroutineCalls int

func TestMain(m *testing.M) {
	// The main goroutine is where a locked goroutine lands on the main
	// thread (M0); tests run on other goroutines, so check this here.
	pid := unix.Getpid()
	for range 200 {
		nsthread.Run(func() {
			if unix.Gettid() == pid {
				mainThreadRuns++
			}
		})
		mainGoroutineCalls++
	}
	os.Exit(sectest.RunMain(m.Run, "nsthread."))
}

func TestRunNeverOnMainThread(t *testing.T) {
	if mainThreadRuns != 0 {
		t.Fatalf("fn ran on the main thread %d times of %d calls from the main goroutine", mainThreadRuns, mainGoroutineCalls)
	}
}

// waitGone waits until thread tid of this process no longer exists.
func waitGone(t *testing.T, tid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid)); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d still exists", tid)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRunThreadExits(t *testing.T) {
	pid := unix.Getpid()
	hostUTS, err := os.Readlink("/proc/self/ns/uts")
	if err != nil {
		t.Fatal(err)
	}
	for range sectest.Scale(50) {
		var tid int
		var uerr error
		nsthread.Run(func() {
			tid = unix.Gettid()
			// A change no other goroutine may ever see.
			uerr = unix.Unshare(unix.CLONE_NEWUTS)
		})
		if uerr != nil {
			t.Fatal(uerr)
		}
		if tid == pid {
			t.Fatal("ran on the main thread")
		}
		waitGone(t, tid)
	}
	if l, _ := os.Readlink("/proc/self/ns/uts"); l != hostUTS {
		t.Fatalf("main thread's uts namespace is %s, want %s", l, hostUTS)
	}
	checkThreads(t, func(tid, status string) {
		if l, _ := os.Readlink("/proc/self/task/" + tid + "/ns/uts"); l != "" && l != hostUTS {
			t.Errorf("thread %s is in uts namespace %s", tid, l)
		}
	})
}

// checkThreads calls f for every thread of the process with its status.
func checkThreads(t *testing.T, f func(tid, status string)) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/status")
		if err != nil {
			continue // exited meanwhile
		}
		f(e.Name(), string(b))
	}
}

func TestRunPanic(t *testing.T) {
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v, want boom", r)
		}
	}()
	nsthread.Run(func() { panic("boom") })
	t.Fatal("Run returned after a panic")
}

func TestRunGoexit(t *testing.T) {
	ran := false
	nsthread.Run(func() {
		ran = true
		runtime.Goexit()
	})
	if !ran {
		t.Fatal("fn did not run")
	}
}

func TestSetCreds(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (setfsuid, setgroups)")
	}
	before, err := nsthread.ThreadCreds()
	if err != nil {
		t.Fatal(err)
	}
	oldUmask := unix.Umask(0o022)
	unix.Umask(oldUmask)
	want := nsthread.Creds{FSUID: 65534, FSGID: 65533, Groups: []uint32{4, 65534}, Caps: 1 << unix.CAP_CHOWN}
	var got nsthread.Creds
	var serr, gerr error
	var tid int
	var umask int
	nsthread.Run(func() {
		tid = unix.Gettid()
		if serr = nsthread.UnshareFS(); serr != nil {
			return
		}
		if serr = nsthread.SetCreds(want, 0o077, true); serr != nil {
			return
		}
		got, gerr = nsthread.ThreadCreds()
		umask = unix.Umask(0o077)
	})
	if serr != nil || gerr != nil {
		t.Fatal(serr, gerr)
	}
	if got.FSUID != want.FSUID || got.FSGID != want.FSGID || !nsthread.SameGroups(got.Groups, want.Groups) || got.Caps != want.Caps {
		t.Fatalf("thread credentials %+v, want %+v", got, want)
	}
	if umask != 0o077 {
		t.Errorf("thread umask %#o, want 0o077", umask)
	}
	waitGone(t, tid)
	after, err := nsthread.ThreadCreds()
	if err != nil {
		t.Fatal(err)
	}
	if after.FSUID != before.FSUID || after.Caps != before.Caps || !nsthread.SameGroups(after.Groups, before.Groups) {
		t.Fatalf("caller's credentials changed: %+v, were %+v", after, before)
	}
	if u := unix.Umask(oldUmask); u != oldUmask {
		t.Fatalf("process umask %#o, was %#o", u, oldUmask)
	}
	checkThreads(t, func(tid, status string) {
		for _, l := range strings.Split(status, "\n") {
			if f := strings.Fields(l); len(f) == 5 && f[0] == "Uid:" && f[4] != "0" {
				t.Errorf("thread %s has fsuid %s", tid, f[4])
			}
		}
	})
}

// SetCreds never leaves more capabilities than the thread held.
func TestSetCredsNoNewCaps(t *testing.T) {
	var serr error
	var got nsthread.Creds
	nsthread.Run(func() {
		all := nsthread.Creds{Caps: ^uint64(0)}
		cur, _ := nsthread.ThreadCreds()
		all.FSUID, all.FSGID, all.Groups = cur.FSUID, cur.FSGID, cur.Groups
		// Drop to CAP_CHOWN first, then ask for everything.
		if serr = nsthread.SetCreds(nsthread.Creds{FSUID: cur.FSUID, FSGID: cur.FSGID, Groups: cur.Groups, Caps: 1 << unix.CAP_CHOWN}, -1, false); serr != nil {
			return
		}
		if serr = nsthread.SetCreds(all, -1, false); serr != nil {
			return
		}
		got, serr = nsthread.ThreadCreds()
	})
	if serr != nil {
		t.Fatal(serr)
	}
	if got.Caps != 1<<unix.CAP_CHOWN {
		t.Fatalf("caps %#x after asking for all, want only CAP_CHOWN", got.Caps)
	}
}

// fn that unlocks its thread once too often (runtime.UnlockOSThread with
// no LockOSThread of its own) must not hand the thread, with what it
// changed, back to the runtime: the thread still ends with fn.
func TestRunUnbalancedUnlock(t *testing.T) {
	hostUTS, err := os.Readlink("/proc/self/ns/uts")
	if err != nil {
		t.Fatal(err)
	}
	var tid int
	var uerr error
	nsthread.Run(func() {
		tid = unix.Gettid()
		uerr = unix.Unshare(unix.CLONE_NEWUTS)
		runtime.UnlockOSThread()
	})
	if uerr != nil {
		t.Fatal(uerr)
	}
	waitGone(t, tid)
	checkThreads(t, func(tid, status string) {
		if l, _ := os.Readlink("/proc/self/task/" + tid + "/ns/uts"); l != "" && l != hostUTS {
			t.Errorf("thread %s is in uts namespace %s", tid, l)
		}
	})
}
