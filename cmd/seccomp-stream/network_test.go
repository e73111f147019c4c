package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// listenCount listens on 127.0.0.1 and counts the connections it accepts.
func listenCount(t *testing.T) (port string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), accepted
}

// run --allow-connect: a connect to the listed port works (busybox nc),
// one to another port fails with "Permission denied", its listener never
// accepts, and the refusal is shown as a --deny line is.
func TestRunAllowConnect(t *testing.T) {
	sectest.RequireKernel(t, sectest.AddFD)
	bb := sectest.RequireTool(t, "busybox")
	ok, okN := listenCount(t)
	other, otherN := listenCount(t)
	script := "echo hi | " + bb + " nc 127.0.0.1 " + ok + " && echo connected; echo hi | " + bb + " nc 127.0.0.1 " + other + " || echo refused"
	code, stdout, stderr := runCLI(t, "run", "--allow-connect", "127.0.0.1:"+ok+",[::1]:"+ok, "--", bb, "sh", "-c", script)
	if code != 0 || stdout != "connected\nrefused\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "Permission denied") {
		t.Errorf("no \"Permission denied\":\n%s", stderr)
	}
	if want := "{AF_INET 127.0.0.1:" + other + "}, 16) = EACCES"; !strings.Contains(stderr, want) {
		t.Errorf("no refusal line with %s:\n%s", want, stderr)
	}
	if okN.Load() != 1 || otherN.Load() != 0 {
		t.Errorf("listeners accepted %d and %d connections, want 1 and 0", okN.Load(), otherN.Load())
	}
}

// run --allow-connect with --trace connect shows the connects carried out
// too, with their results.
func TestRunAllowConnectTraced(t *testing.T) {
	sectest.RequireKernel(t, sectest.AddFD)
	bb := sectest.RequireTool(t, "busybox")
	ok, _ := listenCount(t)
	code, stdout, stderr := runCLI(t, "run", "--trace", "connect", "--allow-connect", "127.0.0.1:"+ok, "--", bb, "sh", "-c", "echo | "+bb+" nc 127.0.0.1 "+ok+" && echo connected")
	if code != 0 || stdout != "connected\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if want := "{AF_INET 127.0.0.1:" + ok + "}, 16) = return 0"; !strings.Contains(stderr, want) {
		t.Errorf("no trace line with %s:\n%s", want, stderr)
	}
}

// Bad network lists name the item and exit 2, and nothing runs.
func TestRunNetworkBadInput(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--allow-connect", "127.0.0.1"}, `--allow-connect "127.0.0.1": missing port`},
		{[]string{"--allow-connect", "127.0.0.1:80,,[::1]:80"}, `--allow-connect: empty item`},
		{[]string{"--allow-connect", ""}, `--allow-connect: empty item`},
		{[]string{"--allow-connect", "example.com:443"}, `--allow-connect "example.com:443": "example.com" is not an IP address`},
		{[]string{"--allow-bind", "127.0.0.1:http"}, `--allow-bind "127.0.0.1:http": bad port`},
		{[]string{"--allow-bind", "10.1.2.3/8:80"}, `--allow-bind "10.1.2.3/8:80": prefix 10.1.2.3/8 has host bits set (did you mean 10.0.0.0/8?)`},
		{[]string{"--allow-connect", "run/app.sock"}, `--allow-connect "run/app.sock"`},
		{[]string{"--allow-connect", "127.0.0.1:80", "--trace", "nosuchcall"}, `nosuchcall`},
	} {
		args := append([]string{"run"}, tc.args...)
		args = append(args, "--", "touch", marker)
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d with %q", tc.args, code, stderr, exitUsage, tc.want)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%q: the program ran", tc.args)
		}
	}
}
