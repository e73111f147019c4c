package procstatus_test

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/internal/procstatus"
)

const sample = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t4242\n" +
	"Uid:\t1000\t1000\t1000\t1000\nGroups:\t\nno colon here\nSeccomp:\t2\nSeccomp_filters:\t3\nThreads:\tx1"

func TestLines(t *testing.T) {
	var got []string
	for k, v := range procstatus.Lines([]byte(sample)) {
		got = append(got, string(k)+"="+string(v))
	}
	want := "Name=cat Umask=0022 State=R (running) Tgid=4242 Uid=1000\t1000\t1000\t1000 Groups= Seccomp=2 Seccomp_filters=3 Threads=x1"
	if strings.Join(got, " ") != want {
		t.Errorf("Lines:\n%q\nwant\n%q", strings.Join(got, " "), want)
	}
	n := 0
	for range procstatus.Lines([]byte(sample)) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("break after one line: %d lines", n)
	}
	for range procstatus.Lines(nil) {
		t.Error("a line in nothing")
	}
}

func TestFieldInt(t *testing.T) {
	b := []byte(sample)
	if v, ok := procstatus.Field(b, "State"); !ok || string(v) != "R (running)" {
		t.Errorf("Field(State) = %q, %v", v, ok)
	}
	if v, ok := procstatus.Field(b, "Groups"); !ok || len(v) != 0 {
		t.Errorf("Field(Groups) = %q, %v; want an empty value", v, ok)
	}
	for _, tc := range []struct {
		key  string
		want int
		ok   bool
	}{
		{"Tgid", 4242, true},
		{"Seccomp", 2, true},
		{"Seccomp_filters", 3, true},
		{"Threads", 0, false}, // not a number
		{"Umask", 22, true},   // decimal, as Int says; octal is the caller's
		{"Pid", 0, false},
		{"tgid", 0, false},
	} {
		if n, ok := procstatus.Int(b, tc.key); n != tc.want || ok != tc.ok {
			t.Errorf("Int(%s) = %d, %v; want %d, %v", tc.key, n, ok, tc.want, tc.ok)
		}
	}
}

func TestSelf(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := procstatus.Int(b, "Tgid"); !ok || n != os.Getpid() {
		t.Errorf("Tgid %d, %v; want %d", n, ok, os.Getpid())
	}
	if n, ok := procstatus.Int(b, "Threads"); !ok || n < 1 {
		t.Errorf("Threads %d, %v", n, ok)
	}
}

func TestLinesAllocs(t *testing.T) {
	b := []byte(sample)
	if n := testing.AllocsPerRun(100, func() { procstatus.Field(b, "Threads") }); n != 0 {
		t.Errorf("Field allocates %v times", n)
	}
}

func TestStat(t *testing.T) {
	// A command with blanks and parentheses of its own.
	const line = "4242 (a b) (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200\n"
	f := procstatus.StatFields([]byte(line))
	if len(f) < 20 || f[0] != "S" || f[1] != "1" {
		t.Errorf("StatFields = %q; want the state S and the ppid 1 first", f)
	}
	if ticks, ok := procstatus.StartTime([]byte(line)); !ok || ticks != 987654 {
		t.Errorf("StartTime = %d, %v; want 987654", ticks, ok)
	}
	for _, bad := range []string{"", "4242 comm S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 soon\n"} {
		if ticks, ok := procstatus.StartTime([]byte(bad)); ok {
			t.Errorf("StartTime(%q) = %d, true; want false", bad, ticks)
		}
	}
	// Moved from emulate's TestStartTime (emulate's startTime is this one).
	if ticks, ok := procstatus.StartTime([]byte("1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10")); !ok || ticks != 98765 {
		t.Errorf("StartTime = %d, %v; want 98765", ticks, ok)
	}
	if ticks, ok := procstatus.StartTime([]byte("garbage")); ok {
		t.Errorf("StartTime of garbage = %d, true", ticks)
	}
	// The reading thread's own stat: it is running while it reads. The
	// process's (/proc/self/stat) is its main thread's, which may sleep
	// while this goroutine runs on another thread (seen in CI as "S").
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Fatal(err)
	}
	if f := procstatus.StatFields(self); len(f) == 0 || f[0] != "R" {
		t.Errorf("StatFields(/proc/thread-self/stat) = %q; want state R first", f)
	}
	if ticks, ok := procstatus.StartTime(self); !ok || ticks <= 0 {
		t.Errorf("StartTime(/proc/thread-self/stat) = %d, %v", ticks, ok)
	}
}
