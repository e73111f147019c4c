package policy_test

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"slices"
	"strconv"
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

func TestParseNetworkLists(t *testing.T) {
	p, err := policy.ParseNetworkLists([]string{"127.0.0.1:8080, [::1]:443", "/run/app.sock"}, []string{"127.0.0.1:*,@app"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Connect, []string{"127.0.0.1:8080", "[::1]:443", "/run/app.sock"}) || !slices.Equal(p.Bind, []string{"127.0.0.1:*", "@app"}) {
		t.Errorf("ParseNetworkLists = %+v", p)
	}
	if p, err := policy.ParseNetworkLists(nil, nil); p != nil || err != nil {
		t.Errorf("no lists: %v, %v; want no policy", p, err)
	}
	for _, tc := range []struct {
		connect, bind []string
		want          string
	}{
		{[]string{"127.0.0.1:80,,[::1]:80"}, nil, `--allow-connect: empty item`},
		{[]string{""}, nil, `--allow-connect: empty item`},
		{nil, []string{"127.0.0.1:80,"}, `--allow-bind: empty item`},
		{[]string{"127.0.0.1"}, nil, `--allow-connect "127.0.0.1": missing port`},
		{[]string{"::1:443"}, nil, `--allow-connect "::1:443": missing port`},
		{[]string{"localhost:80"}, nil, `--allow-connect "localhost:80": "localhost" is not an IP address`},
		{nil, []string{"127.0.0.1:99999"}, `--allow-bind "127.0.0.1:99999": bad port`},
		{nil, []string{"run/app.sock"}, `--allow-bind "run/app.sock": missing port (write IP:PORT or IP:*), or a relative path`},
	} {
		_, err := policy.ParseNetworkLists(tc.connect, tc.bind)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseNetworkLists(%q, %q): %v, want an error containing %q", tc.connect, tc.bind, err, tc.want)
		}
	}
}

// A policy file's "network": the top level's for every container, with a
// container's added to it.
func TestPolicyNetwork(t *testing.T) {
	p, err := policy.Parse([]byte(`{
  "network": {"connect": ["127.0.0.53:53"]},
  "files": {"read": ["/srv"]},
  "containers": [{"match": {"id": "web-*"}, "network": {"connect": ["10.0.0.0/8:443"], "bind": ["0.0.0.0:8080"]}}]
}`))
	if err != nil {
		t.Fatal(err)
	}
	web := p.For(policy.Subject{ID: "web-1"})
	if web.Network == nil || !slices.Equal(web.Network.Connect, []string{"127.0.0.53:53", "10.0.0.0/8:443"}) || !slices.Equal(web.Network.Bind, []string{"0.0.0.0:8080"}) {
		t.Errorf("web-1 network = %+v", web.Network)
	}
	other := p.For(policy.Subject{ID: "db"})
	if other.Network == nil || !slices.Equal(other.Network.Connect, []string{"127.0.0.53:53"}) || len(other.Network.Bind) != 0 {
		t.Errorf("db network = %+v", other.Network)
	}
	checkRoundTrip(t, p)
}

// Under a network policy a network call is decided by it: traced, it is
// shown with its answer; denied by name, it is denied; the refusals are
// shown; both policies together share the refusals of io_uring_setup.
func TestHandlerNetworkCalls(t *testing.T) {
	native := sysnames.Native()
	for _, tc := range []struct {
		name        string
		trace, deny []string
		files       bool
		call        string
		args        [6]uint64
		want        seccompstream.Response // zero: any error answer
		shown       bool
	}{
		{"connect", nil, nil, false, "connect", [6]uint64{3, 0, 16}, seccompstream.Response{}, false},
		{"connect denied by name", nil, []string{"connect:ENETDOWN"}, false, "connect", [6]uint64{}, seccompstream.Errno(unix.ENETDOWN), true},
		{"TCP socket", nil, nil, false, "socket", [6]uint64{unix.AF_INET, unix.SOCK_STREAM}, seccompstream.Continue(), false},
		{"TCP socket traced", []string{"all"}, nil, false, "socket", [6]uint64{unix.AF_INET, unix.SOCK_STREAM}, seccompstream.Continue(), true},
		{"packet socket", nil, nil, false, "socket", [6]uint64{unix.AF_PACKET, unix.SOCK_RAW}, seccompstream.Errno(unix.EACCES), true},
		{"io_uring_setup", nil, nil, false, "io_uring_setup", [6]uint64{}, seccompstream.Errno(unix.EPERM), true},
		{"io_uring_setup, files too", nil, nil, true, "io_uring_setup", [6]uint64{}, seccompstream.Errno(unix.EPERM), true},
		{"process_vm_writev", nil, nil, false, "process_vm_writev", [6]uint64{}, seccompstream.Errno(unix.EPERM), true},
		{"getpid", nil, nil, true, "getpid", [6]uint64{}, seccompstream.Continue(), false},
	} {
		r, err := policy.ParseLists(tc.trace, tc.deny)
		if err != nil {
			t.Fatal(err)
		}
		r.Network = &emulate.NetworkPolicy{Connect: []string{"127.0.0.1:80"}}
		if tc.files {
			r.Files = &emulate.FilePolicy{Read: []string{"/"}}
		}
		var s shown
		h, err := r.Handler(s.show)
		if err != nil {
			t.Fatal(err)
		}
		got := h.ServeNotification(context.Background(), &seccompstream.Notification{ID: 1, PID: 1, Arch: native, Syscall: number(t, native, tc.call), Args: tc.args})
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
}

// The rule set's filter and handler, on the kernel: a network policy and
// a trace list together.
func TestRulesNetworkOnKernel(t *testing.T) {
	sectest.RequireKernel(t, sectest.AddFD)
	bb := sectest.RequireTool(t, "busybox")
	ok, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	go func() {
		for {
			c, err := ok.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := strconv.Itoa(ok.Addr().(*net.TCPAddr).Port)
	r, err := policy.ParseLists([]string{"connect"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Network, err = policy.ParseNetworkLists([]string{"127.0.0.1:" + port}, nil); err != nil {
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
	cmd := exec.Command(bb, "sh", "-c", "echo | "+bb+" nc 127.0.0.1 "+port+" && echo one; echo | "+bb+" nc 127.0.0.2 "+port+" || echo two")
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
	if !strings.HasPrefix(out.String(), "one\n") || !strings.Contains(out.String(), "Permission denied") || !strings.HasSuffix(out.String(), "two\n") {
		t.Errorf("output %q", out.String())
	}
	native := sysnames.ArchName(sysnames.Native())
	if got := s.calls[native+" connect"]; got != seccompstream.Errno(unix.EACCES) {
		t.Errorf("connects shown as %v (the last one), want EACCES", s.calls)
	}
}
