package emulate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// connect to an allowed 127.0.0.1 port works, from bash's /dev/tcp (a
// blocking connect) and from C; another port fails with EACCES and its
// listener never accepts.
func TestConnectAllowedPort(t *testing.T) {
	ok, other := listenTCP(t), listenTCP(t)
	p := emulate.NetworkPolicy{Connect: []string{"127.0.0.1:" + ok.portString()}}
	helper := netHelperPath(t)
	res := netSandbox(t, p, exec.Command(helper, "connect", "127.0.0.1", ok.portString()))
	if strings.TrimSpace(res.out) != "ok" {
		t.Errorf("helper connect to the allowed port: %q", res.out)
	}
	res = netSandbox(t, p, exec.Command(helper, "connect", "127.0.0.1", other.portString()))
	if strings.TrimSpace(res.out) != "EACCES" || !res.deniedCall("connect") {
		t.Errorf("helper connect to another port: %q, denials %v", res.out, res.denied)
	}
	want := int32(1)
	t.Run("bash", func(t *testing.T) {
		bash := sectest.RequireTool(t, "bash")
		res := netSandbox(t, p, exec.Command(bash, "-c", "echo hi >/dev/tcp/127.0.0.1/"+ok.portString()+" && echo sent; echo hi >/dev/tcp/127.0.0.1/"+other.portString()+" || echo refused"))
		if res.err != nil || !strings.Contains(res.out, "sent") || !strings.Contains(res.out, "refused") {
			t.Errorf("bash: %v, %q", res.err, res.out)
		}
		want++
	})
	waitFor(t, func() bool { return ok.accepted.Load() == want }, new(sync.Mutex))
	if n := other.accepted.Load(); n != 0 {
		t.Errorf("forbidden listener accepted %d connections, want 0", n)
	}
}

// Prefixes (CIDR) and IPv4-mapped IPv6 addresses: a prefix allows its
// addresses and no other; an IPv6 socket reaches an allowed IPv4 address
// through its mapped form, and is refused a forbidden one the same way.
func TestConnectPrefixAndMapped(t *testing.T) {
	l := listenTCP(t)
	port := l.portString()
	p := emulate.NetworkPolicy{Connect: []string{"127.0.0.0/31:*"}}
	helper := netHelperPath(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"connect", "127.0.0.1", port}, "ok"},
		{[]string{"connect", "127.0.0.2", port}, "EACCES"}, // the kernel would answer ECONNREFUSED
		{[]string{"connect6", "::ffff:127.0.0.1", port}, "ok"},
		{[]string{"connect6", "::ffff:127.0.0.3", port}, "EACCES"},
		{[]string{"connect6", "::1", port}, "EACCES"},
	} {
		res := netSandbox(t, p, exec.Command(helper, c.args...))
		if got := strings.TrimSpace(res.out); got != c.want {
			t.Errorf("%v: %q, want %q", c.args, got, c.want)
		}
	}
	waitFor(t, func() bool { return l.accepted.Load() == 2 }, new(sync.Mutex))
}

// A non-blocking connect answers EINPROGRESS and completes.
func TestConnectNonBlocking(t *testing.T) {
	l := listenTCP(t)
	p := emulate.NetworkPolicy{Connect: []string{"127.0.0.1:*"}}
	res := netSandbox(t, p, exec.Command(netHelperPath(t), "nonblock", "127.0.0.1", l.portString()))
	if strings.TrimSpace(res.out) != "ok EINPROGRESS" {
		t.Errorf("non-blocking connect: %q", res.out)
	}
	if res.notified["connect"] != 1 {
		t.Errorf("connect notified %d times, want 1", res.notified["connect"])
	}
	waitFor(t, func() bool { return len(l.lines) == 1 }, &l.mu)
	if l.lines[0] != "hi\n" {
		t.Errorf("listener read %q", l.lines)
	}
}

// UDP: a datagram to a forbidden port never arrives; one to an allowed
// port does, with its bytes, and sendto returns their count. sendmmsg
// sends the allowed messages, stops at the forbidden one and writes
// msg_len back.
func TestDatagrams(t *testing.T) {
	ok, other := listenUDP(t), listenUDP(t)
	p := emulate.NetworkPolicy{Connect: []string{"127.0.0.1:" + ok.portString()}}
	helper := netHelperPath(t)
	res := netSandbox(t, p, exec.Command(helper, "udp", "127.0.0.1", ok.portString(), "allowed datagram"))
	if strings.TrimSpace(res.out) != "ok 16" {
		t.Errorf("sendto an allowed port: %q", res.out)
	}
	res = netSandbox(t, p, exec.Command(helper, "udp", "127.0.0.1", other.portString(), "forbidden"))
	if strings.TrimSpace(res.out) != "EACCES" || !res.deniedCall("sendto") {
		t.Errorf("sendto a forbidden port: %q, denials %v", res.out, res.denied)
	}
	res = netSandbox(t, p, exec.Command(helper, "sendmmsg", "127.0.0.1", ok.portString(), other.portString()))
	if strings.TrimSpace(res.out) != "ok n=2 len=3,5,999" {
		t.Errorf("sendmmsg: %q", res.out)
	}
	if got := ok.received(); strings.Join(got, "|") != "allowed datagram|one|three" {
		t.Errorf("allowed port received %q", got)
	}
	if got := other.received(); len(got) != 0 {
		t.Errorf("forbidden port received %q", got)
	}
}

// waitFor waits until cond holds (under mu), failing the test after
// sectest.Patience.
func waitFor(t *testing.T, cond func() bool, mu *sync.Mutex) {
	t.Helper()
	sectest.Eventually(t, "condition", locked(cond, mu))
}

// waitUntil waits until cond holds (under mu), as sectest.Poll does, and
// reports whether it did; goroutines other than the test's use it.
func waitUntil(cond func() bool, mu *sync.Mutex) bool { return sectest.Poll(locked(cond, mu)) }

// locked returns cond called under mu.
func locked(cond func() bool, mu *sync.Mutex) func() bool {
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		return cond()
	}
}

// Unix socket paths are checked where they lead in the program's view: a
// listed socket works by its path, by a relative path and through a
// symbolic link; another socket fails with EACCES (also through a link
// planted in the listed socket's directory) and never sees a connection.
// The server sees the program's uid and gid (SO_PEERCRED), not the
// supervisor's.
func TestUnixConnect(t *testing.T) {
	dir := sectest.PublicDir(t)
	ok := listenUnix(t, filepath.Join(dir, "app.sock"))
	other := listenUnix(t, filepath.Join(dir, "other.sock"))
	if err := os.Symlink("app.sock", filepath.Join(dir, "link-ok")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other.path, filepath.Join(dir, "link-other")); err != nil {
		t.Fatal(err)
	}
	p := emulate.NetworkPolicy{Connect: []string{ok.path}}
	helper := netHelperPath(t)
	for _, c := range []struct {
		path, want string
		dir        string
	}{
		{ok.path, "ok", ""},
		{"app.sock", "ok", dir},
		{filepath.Join(dir, "link-ok"), "ok", ""},
		{dir + "/./sub/../app.sock", "ENOENT", ""}, // sub does not exist: the kernel's answer
		{other.path, "EACCES", ""},
		{filepath.Join(dir, "link-other"), "EACCES", ""},
		{"/proc/self/cwd/app.sock", "EACCES", dir},
		{filepath.Join(dir, "missing.sock"), "EACCES", ""},
	} {
		cmd := exec.Command(helper, "unix", c.path)
		cmd.Dir = c.dir
		res := netSandbox(t, p, cmd)
		if got := strings.TrimSpace(res.out); got != c.want {
			t.Errorf("connect %s: %q, want %q", c.path, got, c.want)
		}
	}
	cmd := exec.Command(helper, "unix", ok.path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if res := netSandbox(t, p, cmd); strings.TrimSpace(res.out) != "ok" {
		t.Errorf("connect as uid 65534: %q", res.out)
	}
	// The server side runs on its own: wait for its four connections.
	waitFor(t, func() bool { return len(ok.creds) == 4 }, &ok.mu)
	if n := other.accepted.Load(); n != 0 {
		t.Errorf("other socket accepted %d connections, want 0", n)
	}
	ok.mu.Lock()
	creds := slices.Clone(ok.creds)
	ok.mu.Unlock()
	if len(creds) != 4 || creds[0].Uid != 0 || creds[3].Uid != 65534 || creds[3].Gid != 65534 {
		t.Errorf("peer credentials %+v: want uid 0 three times, then uid and gid 65534", creds)
	}
}

// A missing directory on the way to a listed path is the kernel's ENOENT
// (the program may retry until its server is up); the same for the listed
// path itself.
func TestUnixConnectMissing(t *testing.T) {
	dir := sectest.PublicDir(t)
	p := emulate.NetworkPolicy{Connect: []string{dir + "/later.sock"}}
	res := netSandbox(t, p, exec.Command(netHelperPath(t), "unix", dir+"/later.sock"))
	if got := strings.TrimSpace(res.out); got != "ENOENT" || len(res.denied) != 0 {
		t.Errorf("connect to a listed path that does not exist yet: %q, denials %v", got, res.denied)
	}
}

// Abstract names are allowed by @NAME items only; datagrams to unix paths
// are checked as connects are.
func TestUnixAbstractAndDatagrams(t *testing.T) {
	name := "emulate-test-" + strconv.Itoa(os.Getpid())
	ok := listenUnix(t, "@"+name)
	other := listenUnix(t, "@"+name+"-other")
	dir := sectest.PublicDir(t)
	dg, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: dir + "/dgram.sock", Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer dg.Close()
	dg2, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: dir + "/dgram2.sock", Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer dg2.Close()
	p := emulate.NetworkPolicy{Connect: []string{"@" + name, dir + "/dgram.sock"}}
	helper := netHelperPath(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"unix", "@" + name}, "ok"},
		{[]string{"unix", "@" + name + "-other"}, "EACCES"},
		{[]string{"unixdgram", dir + "/dgram.sock", "hello"}, "ok"},
		{[]string{"unixdgram", dir + "/dgram2.sock", "forbidden"}, "EACCES"},
	} {
		res := netSandbox(t, p, exec.Command(helper, c.args...))
		if got := strings.TrimSpace(res.out); got != c.want {
			t.Errorf("%v: %q, want %q", c.args, got, c.want)
		}
	}
	waitFor(t, func() bool { return ok.accepted.Load() == 1 }, new(sync.Mutex))
	if ok.accepted.Load() != 1 || other.accepted.Load() != 0 {
		t.Errorf("abstract sockets accepted %d and %d, want 1 and 0", ok.accepted.Load(), other.accepted.Load())
	}
	buf := make([]byte, 64)
	dg.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := dg.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Errorf("listed datagram socket read %q, %v", buf[:n], err)
	}
	dg2.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := dg2.Read(buf); err == nil {
		t.Errorf("other datagram socket read %q", buf[:n])
	}
}

// bind: a listed address or path works, others fail with EACCES and
// create nothing; a socket made by path gets the program's owner and
// umask.
func TestBind(t *testing.T) {
	dir := sectest.PublicDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	l := listenTCP(t) // a port in use: binding it again is the kernel's EADDRINUSE
	p := emulate.NetworkPolicy{Bind: []string{"127.0.0.1:0", "127.0.0.1:" + l.portString(), dir + "/srv.sock", "@emulate-bind-" + strconv.Itoa(os.Getpid())}}
	helper := netHelperPath(t)
	for _, c := range []struct {
		where, want string
	}{
		{"127.0.0.1:0", "ok"},
		{"127.0.0.1:" + l.portString(), "EADDRINUSE"},
		{"0.0.0.0:0", "EACCES"},
		{"127.0.0.2:0", "EACCES"},
		{dir + "/srv.sock", "ok"},
		{dir + "/srv.sock", "EADDRINUSE"}, // the file exists now
		{dir + "/elsewhere.sock", "EACCES"},
		{"@emulate-bind-" + strconv.Itoa(os.Getpid()), "ok"},
		{"@emulate-bind-other", "EACCES"},
	} {
		cmd := exec.Command(helper, "bind", c.where)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if c.where == dir+"/srv.sock" {
			cmd = exec.Command("sh", "-c", "umask 027; exec "+helper+" bind "+c.where)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		res := netSandbox(t, p, cmd)
		if got := strings.TrimSpace(res.out); got != c.want {
			t.Errorf("bind %s: %q, want %q", c.where, got, c.want)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(dir+"/srv.sock", &st); err != nil || st.Mode != unix.S_IFSOCK|0o750 || st.Uid != 65534 || st.Gid != 65534 {
		t.Errorf("bound socket file: %v, mode %o, owner %d:%d; want socket 0750 of 65534:65534", err, st.Mode, st.Uid, st.Gid)
	}
	if _, err := os.Lstat(dir + "/elsewhere.sock"); err == nil {
		t.Errorf("a refused bind created %s/elsewhere.sock", dir)
	}
}

// sendmsg with SCM_RIGHTS passes a copy of the program's descriptor.
func TestSendmsgRights(t *testing.T) {
	dir := sectest.PublicDir(t)
	l := listenUnix(t, dir+"/fd.sock")
	secret := filepath.Join(dir, "passed")
	writeFile(t, secret, "passed through SCM_RIGHTS\n", 0o644)
	p := emulate.NetworkPolicy{Connect: []string{l.path}}
	res := netSandbox(t, p, exec.Command(netHelperPath(t), "rights", l.path, secret))
	if strings.TrimSpace(res.out) != "ok 3" {
		t.Fatalf("sendmsg: %q", res.out)
	}
	var c *net.UnixConn
	select {
	case c = <-l.conns:
	case <-time.After(time.Minute):
		t.Fatal("no connection")
	}
	defer c.Close()
	buf, oob := make([]byte, 16), make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(time.Minute))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil || string(buf[:n]) != "fd\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v, %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights %v, %v", fds, err)
	}
	f := os.NewFile(uintptr(fds[0]), "passed")
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "passed through SCM_RIGHTS\n" {
		t.Errorf("passed descriptor reads %q, %v", b, err)
	}
}

// TOCTOU: a second thread flips the port of the sockaddr between an
// allowed and a forbidden one while the first connects with it: every
// connect reaches the allowed listener or is refused, the forbidden
// listener accepts none.
func TestConnectFlippedAddress(t *testing.T) {
	ok, forbidden := listenTCP(t), listenTCP(t)
	p := emulate.NetworkPolicy{Connect: []string{"127.0.0.1:" + ok.portString()}}
	n := sectest.Scale(3000)
	res := netSandbox(t, p, exec.Command(netHelperPath(t), "flip", "127.0.0.1", ok.portString(), forbidden.portString(), strconv.Itoa(n)))
	var connected, refused, other int
	if _, err := fmt.Sscanf(strings.TrimSpace(res.out), "ok connected=%d refused=%d other=%d", &connected, &refused, &other); err != nil {
		t.Fatalf("flip: %q", res.out)
	}
	t.Logf("%d connects: %d connected, %d refused, %d other errors", n, connected, refused, other)
	if got := forbidden.accepted.Load(); got != 0 {
		t.Errorf("forbidden listener accepted %d connections", got)
	}
	if connected+refused != n || other != 0 {
		t.Errorf("connected %d + refused %d != %d (other errors %d)", connected, refused, n, other)
	}
	if connected == 0 || refused == 0 {
		t.Errorf("the flip never raced (connected %d, refused %d): the test checks nothing", connected, refused)
	}
	waitFor(t, func() bool { return int(ok.accepted.Load()) == connected }, new(sync.Mutex))
}

// Calls that would go around the policy are refused: packet and raw
// sockets, source-routing options, io_uring; ordinary options work.
func TestRefusedSocketCalls(t *testing.T) {
	res := netSandbox(t, emulate.NetworkPolicy{Connect: []string{"127.0.0.1:1"}}, exec.Command(netHelperPath(t), "refused"))
	if want := "packet=EACCES raw=EACCES ipoptions=EACCES reuseaddr=set io_uring=EPERM"; strings.TrimSpace(res.out) != want {
		t.Errorf("refused calls: %q, want %q", res.out, want)
	}
	for _, name := range []string{"socket", "setsockopt", "io_uring_setup"} {
		if !res.deniedCall(name) {
			t.Errorf("%s not shown as denied: %v", name, res.denied)
		}
	}
	if res.notified["setsockopt"] != 1 {
		t.Errorf("setsockopt notified %d times, want 1 (SO_REUSEADDR needs no decision)", res.notified["setsockopt"])
	}
}

// A raw socket the program got from its parent is refused too: it would
// write its own headers, whatever the checked address.
func TestInheritedRawSocket(t *testing.T) {
	ok := listenTCP(t)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		t.Fatal(err)
	}
	raw := os.NewFile(uintptr(fd), "raw")
	defer raw.Close()
	cmd := exec.Command(netHelperPath(t), "fdconnect", "3", "127.0.0.1", ok.portString())
	cmd.ExtraFiles = []*os.File{raw}
	res := netSandbox(t, emulate.NetworkPolicy{Connect: []string{"127.0.0.1:*"}}, cmd)
	if strings.TrimSpace(res.out) != "EACCES" || !res.deniedCall("connect") {
		t.Errorf("connect of an inherited raw socket: %q, denials %v", res.out, res.denied)
	}
}

// i386 calls (int $0x80), through socketcall and directly, are decided
// like the native ones.
func TestNetI386(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("i386 calls are x86_64's")
	}
	ok, other := listenTCP(t), listenTCP(t)
	h := netHelperPath(t)
	// Without a filter first: a kernel without IA32 emulation kills it.
	out, err := exec.Command(h, "i386", "127.0.0.1", ok.portString(), ok.portString()).CombinedOutput()
	sectest.RequireFeature(t, "IA32 emulation (CONFIG_IA32_EMULATION, int $0x80)", "", err == nil)
	if strings.TrimSpace(string(out)) != "socketcall=ok socketcall=ok direct=ok direct=ok" {
		t.Fatalf("i386 helper without a filter: %q", out)
	}
	waitFor(t, func() bool { return ok.accepted.Load() == 4 }, new(sync.Mutex))
	ok.accepted.Store(0)
	p := emulate.NetworkPolicy{Connect: []string{"127.0.0.1:" + ok.portString()}}
	res := netSandbox(t, p, exec.Command(h, "i386", "127.0.0.1", ok.portString(), other.portString()))
	if want := "socketcall=ok socketcall=EACCES direct=ok direct=EACCES"; strings.TrimSpace(res.out) != want {
		t.Errorf("i386: %q, want %q", res.out, want)
	}
	waitFor(t, func() bool { return ok.accepted.Load() == 2 }, new(sync.Mutex))
	if ok.accepted.Load() != 2 || other.accepted.Load() != 0 {
		t.Errorf("listeners accepted %d and %d, want 2 and 0", ok.accepted.Load(), other.accepted.Load())
	}
}

// fullListener is a TCP listener on 127.0.0.1 whose backlog is full, so
// that a connect to it waits for an answer to its SYN (the kernel drops
// them), and fills, the sockets that filled it.
type fullListener struct {
	fd, port int
	fills    []int
}

func listenFull(t *testing.T) *fullListener {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	l := &fullListener{fd: fd}
	t.Cleanup(func() {
		for _, f := range l.fills {
			unix.Close(f)
		}
		unix.Close(fd)
	})
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	l.port = sa.(*unix.SockaddrInet4).Port
	for range 2 {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		l.fills = append(l.fills, c)
		unix.Connect(c, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: l.port})
	}
	// The second fill stays in SYN-SENT once the first fills the queue.
	waitFor(t, func() bool { return synSent(t, l.port) == 1 }, new(sync.Mutex))
	return l
}

// synSent counts the TCP sockets of this network namespace in state
// SYN-SENT towards 127.0.0.1:port.
func synSent(t *testing.T, port int) int {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Error(err)
		return -1
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && f[2] == want && f[3] == "02" {
			n++
		}
	}
	return n
}

// A blocking connect waits in its own handler: when the program is killed
// meanwhile, the handler's wait ends at once (Serve returns long before
// the SYN retries would give up, about two minutes) and no socket of the
// program's stays behind in SYN-SENT; the same for a connect to a unix
// socket whose listener has no room.
func TestBlockingConnectTargetKilled(t *testing.T) {
	helper := netHelperPath(t)
	t.Run("tcp", func(t *testing.T) {
		l := listenFull(t)
		p := emulate.NetworkPolicy{Connect: []string{"127.0.0.1:" + strconv.Itoa(l.port)}}
		// Killed once the emulated connect waits for its SYN's answer.
		killWhenWaiting(t, p, exec.Command(helper, "connect", "127.0.0.1", strconv.Itoa(l.port)), func(*result) bool {
			return synSent(t, l.port) == 2
		})
		waitFor(t, func() bool { return synSent(t, l.port) == 1 }, new(sync.Mutex))
	})
	t.Run("unix", func(t *testing.T) {
		dir := sectest.PublicDir(t)
		path := dir + "/full.sock"
		ln, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(ln)
		if err := unix.Bind(ln, &unix.SockaddrUnix{Name: path}); err != nil {
			t.Fatal(err)
		}
		unix.Listen(ln, 0)
		fill, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		defer unix.Close(fill)
		if err := unix.Connect(fill, &unix.SockaddrUnix{Name: path}); err != nil {
			t.Fatal(err)
		}
		// Killed once the connect was notified, and a little longer.
		notified := time.Time{}
		killWhenWaiting(t, emulate.NetworkPolicy{Connect: []string{path}}, exec.Command(helper, "unix", path), func(res *result) bool {
			if res.notified["connect"] == 0 {
				return false
			}
			if notified.IsZero() {
				notified = time.Now()
			}
			return time.Since(notified) > 200*time.Millisecond
		})
	})
}

// A blocking sendto to a unix datagram socket whose receiver reads
// nothing waits in its handler once the queue is full; killing the
// program ends the wait.
func TestBlockingSendTargetKilled(t *testing.T) {
	dir := sectest.PublicDir(t)
	path := dir + "/full-dgram.sock"
	rx, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	// Killed once the sends stopped coming: the last one waits.
	last, still := -1, 0
	killWhenWaiting(t, emulate.NetworkPolicy{Connect: []string{path}}, exec.Command(netHelperPath(t), "flood", path), func(res *result) bool {
		if n := res.notified["sendto"]; n == last && n > 0 {
			still++
		} else {
			last, still = n, 0
		}
		return still >= 20
	})
}

// killWhenWaiting runs cmd under p, kills it once waiting (polled every
// 20 ms, under the result's lock) holds, and checks that Serve returned at
// once after the kill (a handler left waiting would hold it up for as long
// as the kernel waits: minutes) and that the program printed nothing (no
// call of it failed instead of waiting).
func killWhenWaiting(t *testing.T, p emulate.NetworkPolicy, cmd *exec.Cmd, waiting func(*result) bool) {
	t.Helper()
	nw, err := emulate.NewNetwork(p)
	if err != nil {
		t.Fatal(err)
	}
	res := &result{notified: map[string]int{}, started: make(chan struct{})}
	killed := make(chan time.Time, 1)
	go func() {
		<-res.started
		if !waitUntil(func() bool { return waiting(res) }, &res.mu) {
			t.Error("the program never waited")
		}
		cmd.Process.Kill()
		killed <- time.Now()
	}()
	serveUnder(t, nw, res, cmd)
	if d := time.Since(<-killed); d > 30*time.Second {
		t.Errorf("Serve returned %v after the program was killed", d)
	}
	if res.out != "" {
		t.Errorf("the killed program wrote %q", res.out)
	}
}

// When Serve stops, a handler waiting in a blocking connect returns at
// once: the call gets Serve's fallback answer (ENOSYS).
func TestBlockingConnectServeStops(t *testing.T) {
	sectest.RequireKernel(t, sectest.AddFD)
	l := listenFull(t)
	nw, err := emulate.NewNetwork(emulate.NetworkPolicy{Connect: []string{"127.0.0.1:" + strconv.Itoa(l.port)}})
	if err != nil {
		t.Fatal(err)
	}
	f := filter.New(filter.Allow)
	if err := nw.AddRules(f); err != nil {
		t.Fatal(err)
	}
	mux := seccompstream.NewMux()
	nw.Register(mux)
	cmd := exec.Command(netHelperPath(t), "connect", "127.0.0.1", strconv.Itoa(l.port))
	var out strings.Builder
	cmd.Stdout = &out
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		if !waitUntil(func() bool { return synSent(t, l.port) == 2 }, new(sync.Mutex)) {
			t.Error("the program's connect never waited")
		}
		cancel()
	}()
	start := time.Now()
	if err := s.Serve(ctx, mux); err != context.Canceled {
		t.Errorf("Serve: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Serve took %v to stop", d)
	}
	if err := <-waited; err == nil || strings.TrimSpace(out.String()) != "ENOSYS" {
		t.Errorf("program: %v, %q; want the fallback ENOSYS", err, out.String())
	}
	// The program's socket was closed with it.
	waitFor(t, func() bool { return synSent(t, l.port) == 1 }, new(sync.Mutex))
}

func init() {
	// http URL FORBIDDEN: GET URL and print the body; GET FORBIDDEN must
	// fail with a permission error.
	goPrograms["http"] = func(args []string) int {
		c := &http.Client{Timeout: time.Minute}
		for range 3 {
			resp, err := c.Get(args[0])
			if err != nil {
				fmt.Println(err)
				return 1
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				fmt.Println(err)
				return 1
			}
			fmt.Printf("%s", b)
			c.CloseIdleConnections()
		}
		_, err := c.Get(args[1])
		if !errors.Is(err, syscall.EACCES) {
			fmt.Println("forbidden GET:", err)
			return 1
		}
		fmt.Println("forbidden: permission denied")
		return 0
	}
}

// A Go program (non-blocking connects through the runtime's poller, many
// threads, signals) makes HTTP requests to an allowed local server; one
// to another server fails with EACCES.
func TestGoHTTP(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "hello from the allowed server\n")
	}))
	defer srv.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(100)
	}))
	defer other.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	res := netSandbox(t, emulate.NetworkPolicy{Connect: []string{host}}, goProgram("http", srv.URL, other.URL))
	want := strings.Repeat("hello from the allowed server\n", 3) + "forbidden: permission denied\n"
	if res.err != nil || res.out != want {
		t.Errorf("Go program: %v: %q", res.err, res.out)
	}
	if hits.Load() != 3 {
		t.Errorf("servers saw %d hits, want 3 on the allowed one", hits.Load())
	}
}
