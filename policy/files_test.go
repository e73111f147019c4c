package policy_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/policy"
)

func TestParseFileLists(t *testing.T) {
	p, err := policy.ParseFileLists([]string{"/srv, /usr/share", "@system"}, []string{"/tmp/out"})
	if err != nil {
		t.Fatal(err)
	}
	wantRead := append([]string{"/srv", "/usr/share"}, emulate.SystemPaths()...)
	if !slices.Equal(p.Read, wantRead) || !slices.Equal(p.Write, []string{"/tmp/out"}) {
		t.Errorf("ParseFileLists = %+v", p)
	}
	if p, err := policy.ParseFileLists(nil, nil); p != nil || err != nil {
		t.Errorf("no lists: %v, %v; want no policy", p, err)
	}
	if p, err := policy.ParseFileLists(nil, []string{"/w"}); err != nil || p == nil || len(p.Read) != 0 {
		t.Errorf("a write list alone: %+v, %v", p, err)
	}
	for _, tc := range []struct {
		read, write []string
		want        string
	}{
		{[]string{"/a,,/b"}, nil, `--allow-read: empty item`},
		{[]string{"/a,"}, nil, `--allow-read: empty item`},
		{[]string{""}, nil, `--allow-read: empty item`},
		{nil, []string{"tmp"}, `--allow-write "tmp": not an absolute path`},
		{nil, []string{"/tmp/../etc"}, `--allow-write "/tmp/../etc": has a ".." component`},
		{nil, []string{"@system"}, `--allow-write "@system": @system is for reading only`},
		{[]string{"@sys"}, nil, `--allow-read "@sys": not an absolute path`},
	} {
		_, err := policy.ParseFileLists(tc.read, tc.write)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFileLists(%q, %q): %v, want an error containing %q", tc.read, tc.write, err, tc.want)
		}
	}
}

const filesPolicy = `{
  "files": {"read": ["@system", "/srv"]},
  "syscalls": {"mkdir": "deny:EACCES"},
  "containers": [
    {"match": {"id": "web-*"}, "files": {"write": ["/var/cache/web"]}},
    {"match": {"id": "batch"}, "syscalls": {"unlink": "trace"}}
  ]
}`

// A policy file's "files": the top level's for every container, with a
// container's added to it.
func TestPolicyFiles(t *testing.T) {
	p, err := policy.Parse([]byte(filesPolicy))
	if err != nil {
		t.Fatal(err)
	}
	read := append(emulate.SystemPaths(), "/srv")
	web := p.For(policy.Subject{ID: "web-1"})
	if web.Files == nil || !slices.Equal(web.Files.Read, read) || !slices.Equal(web.Files.Write, []string{"/var/cache/web"}) {
		t.Errorf("web-1 files = %+v", web.Files)
	}
	batch := p.For(policy.Subject{ID: "batch"})
	if batch.Files == nil || !slices.Equal(batch.Files.Read, read) || len(batch.Files.Write) != 0 {
		t.Errorf("batch files = %+v", batch.Files)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, p)
}

// Under a file policy a file call is never let run by the kernel: with
// every call traced it is carried out (here it cannot be: the notification
// is a made-up one) and shown; denied by name it is denied; the calls
// that go around the policy are refused and shown.
func TestHandlerFileCalls(t *testing.T) {
	native := sysnames.Native()
	nr := func(name string) int32 { return number(t, native, name) }
	for _, tc := range []struct {
		name        string
		trace, deny []string
		call        string
		want        seccompstream.Response // zero: any error answer
		shown       bool
	}{
		{"traced openat", []string{"all"}, nil, "openat", seccompstream.Response{}, true},
		{"openat", nil, nil, "openat", seccompstream.Response{}, false},
		{"openat denied by name", nil, []string{"openat:EROFS"}, "openat", seccompstream.Errno(unix.EROFS), true},
		{"io_uring_setup", nil, nil, "io_uring_setup", seccompstream.Errno(unix.EPERM), true},
		{"mount", nil, nil, "mount", seccompstream.Errno(unix.EPERM), true},
		{"io_uring_setup traced", []string{"io_uring_setup"}, nil, "io_uring_setup", seccompstream.Errno(unix.EPERM), true},
		{"ptrace", nil, nil, "ptrace", seccompstream.Errno(unix.EPERM), true},
		{"pidfd_getfd", nil, nil, "pidfd_getfd", seccompstream.Errno(unix.EPERM), true},
		{"ptrace denied by name", nil, []string{"ptrace:ESRCH"}, "ptrace", seccompstream.Errno(unix.ESRCH), true},
		{"getpid", nil, nil, "getpid", seccompstream.Continue(), false},
	} {
		r, err := policy.ParseLists(tc.trace, tc.deny)
		if err != nil {
			t.Fatal(err)
		}
		r.Files = &emulate.FilePolicy{Read: []string{"/"}}
		var s shown
		h, err := r.Handler(s.show)
		if err != nil {
			t.Fatal(err)
		}
		got := h.ServeNotification(context.Background(), &seccompstream.Notification{ID: 1, PID: 1, Arch: native, Syscall: nr(tc.call)})
		switch {
		case tc.want == seccompstream.Response{}:
			if got.Errno() == 0 {
				t.Errorf("%s: %v, want an error (never Continue)", tc.name, got)
			}
		case got != tc.want:
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if len(s.calls) == 1 != tc.shown {
			t.Errorf("%s: shown %v, want %v", tc.name, s.calls, tc.shown)
		}
	}
	r := &policy.Rules{Syscalls: map[string]policy.Action{"openat": policy.Allow}, Files: &emulate.FilePolicy{Read: []string{"/"}}}
	if _, err := r.Handler(nil); err == nil || !strings.Contains(err.Error(), `syscalls.openat: "allow"`) {
		t.Errorf("allow of openat under a file policy: %v", err)
	}
}

// The rule set's filter and handler, on the kernel: a file policy and a
// deny list together.
func TestRulesFilesOnKernel(t *testing.T) {
	sectest.RequireKernel(t, sectest.AddFD)
	busybox := sectest.RequireTool(t, "busybox")
	dir := t.TempDir()
	os.WriteFile(dir+"/ok", []byte("readable\n"), 0o644)
	r, err := policy.ParseLists(nil, []string{"mkdir:EROFS"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Files, err = policy.ParseFileLists([]string{dir}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := r.Filter()
	if err != nil {
		t.Fatal(err)
	}
	var s shown
	h, err := r.Handler(s.show)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	other := t.TempDir()
	os.WriteFile(other+"/no", []byte("outside\n"), 0o644)
	cmd := exec.Command(busybox, "sh", "-c", "cat "+dir+"/ok; cat "+other+"/no; mkdir "+dir+"/x; echo end")
	cmd.Stdout, cmd.Stderr = &out, &out
	st, err := seccompstream.Start(cmd, f)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := st.Serve(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	want := "readable\ncat: can't open '" + other + "/no': Permission denied\nmkdir: can't create directory '" + dir + "/x': Read-only file system\nend\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	native := sysnames.ArchName(sysnames.Native())
	if _, ok := s.calls[native+" openat"]; !ok {
		t.Errorf("the refused open was not shown: %v", s.calls)
	}
	if got := s.calls[native+" mkdir"]; got != seccompstream.Errno(unix.EROFS) {
		t.Errorf("mkdir shown as %v, want EROFS", got)
	}
}
