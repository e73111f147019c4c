package errnames

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]syscall.Errno{
		"EACCES": unix.EACCES, "eacces": unix.EACCES, " 13 ": 13, "4095": 4095, "ENOSYS": unix.ENOSYS,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "0", "-1", "4096", "EWHAT", "E"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, got)
		}
	}
}

func TestNameRoundTrip(t *testing.T) {
	for _, e := range []syscall.Errno{unix.EPERM, unix.EACCES, unix.ENOSYS, 4000, Max} {
		name := Name(e)
		if got, err := Parse(name); err != nil || got != e {
			t.Errorf("Parse(Name(%d) = %q) = %v, %v", int(e), name, got, err)
		}
	}
	if got := Name(unix.EACCES); got != "EACCES" {
		t.Errorf("Name(EACCES) = %q", got)
	}
	if got := Name(4000); got != "4000" {
		t.Errorf("Name(4000) = %q", got)
	}
}
