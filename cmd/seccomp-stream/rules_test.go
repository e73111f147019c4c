package main

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysnames"
)

func TestParseRules(t *testing.T) {
	r, err := parseRulesArch(unix.AUDIT_ARCH_X86_64,
		[]string{"openat,execve", " connect ", "openat"},
		[]string{"mkdir:EACCES,unlink", "rmdir:eperm", "chmod:13", "mkdirat:EROFS"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.trace, ","); got != "openat,execve,connect" {
		t.Errorf("trace = %s", got)
	}
	want := map[string]unix.Errno{"mkdir": unix.EACCES, "unlink": unix.EPERM, "rmdir": unix.EPERM, "chmod": unix.EACCES, "mkdirat": unix.EROFS}
	for name, e := range want {
		if r.deny[name] != e {
			t.Errorf("deny[%s] = %v, want %v", name, r.deny[name], e)
		}
		if got := r.decide(name); got.Errno() != e {
			t.Errorf("decide(%s) = %v", name, got)
		}
		if !r.traces(name) {
			t.Errorf("denied %s not shown", name)
		}
	}
	if got := r.decide("openat"); !got.IsContinue() {
		t.Errorf("decide(openat) = %v", got)
	}
	if r.traces("read") {
		t.Error("read shown")
	}
	f, err := r.filter()
	if err != nil {
		t.Fatal(err)
	}
	if !f.HasNotify() {
		t.Error("filter notifies nothing")
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, tc := range []struct {
		trace, deny string
		want        string
	}{
		{trace: "opne", want: `unknown system call "opne"`},
		{trace: "openat,bogus", want: `"bogus"`},
		{deny: "mkdir:EWHAT", want: `unknown errno "EWHAT"`},
		{deny: "mkdir:0", want: "out of range"},
		{deny: "mkdir:5000", want: "out of range"},
		{deny: "all", want: "only valid for --trace"},
		{deny: "mkdir:EACCES,mkdir:EPERM", want: "both"},
		{deny: "fstatat", want: `did you mean "newfstatat"`},
	} {
		_, err := parseRulesArch(unix.AUDIT_ARCH_X86_64, []string{tc.trace}, []string{tc.deny})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("trace %q deny %q: %v, want error containing %q", tc.trace, tc.deny, err, tc.want)
		}
	}
}

func TestTraceAll(t *testing.T) {
	r, err := parseRules([]string{"all"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.all || !r.traces("read") {
		t.Fatal("all does not trace everything")
	}
	f, err := r.filter()
	if err != nil {
		t.Fatal(err)
	}
	if f.DefaultAction().String() != "notify" && !f.HasNotify() {
		t.Fatalf("default action %v", f.DefaultAction())
	}
	_ = sysnames.Native()
}

func FuzzParseRules(f *testing.F) {
	f.Add("openat,execve", "mkdir:EACCES")
	f.Add("all", "unlink:1,rmdir")
	f.Add("", ":")
	f.Fuzz(func(t *testing.T, trace, deny string) {
		r, err := parseRulesArch(unix.AUDIT_ARCH_X86_64, []string{trace}, []string{deny})
		if err != nil {
			return
		}
		for name, e := range r.deny {
			if e <= 0 || e > 4095 {
				t.Fatalf("deny %s errno %d", name, e)
			}
			if _, ok := sysnames.Number(unix.AUDIT_ARCH_X86_64, name); !ok {
				t.Fatalf("unknown name %q accepted", name)
			}
		}
	})
}
