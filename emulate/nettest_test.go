package emulate_test

import (
	"bufio"
	_ "embed"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/emulate"
)

// What the network tests share: the C helper, listeners that count what
// reaches them, and netSandbox.

//go:embed testdata/nethelper.c
var netHelperSource []byte

// netHelper is testdata/nethelper.c, the network policy's C program
// ($SECCOMPSTREAM_EMULATE_NETHELPER where gcc is missing).
var netHelper = newCHelper("nethelper", netHelperSource, "SECCOMPSTREAM_EMULATE_NETHELPER")

func netHelperPath(t testing.TB) string { return netHelper.path(t) }

// netSandbox runs cmd under the network policy p, as sandbox does for a
// file policy.
func netSandbox(t *testing.T, p emulate.NetworkPolicy, cmd *exec.Cmd) *result {
	t.Helper()
	res := &result{notified: map[string]int{}}
	nw, err := emulate.NewNetwork(p, emulate.OnDeny(res.recordDenial))
	if err != nil {
		t.Fatal(err)
	}
	serveUnder(t, nw, res, cmd)
	return res
}

// tcpListener listens on 127.0.0.1 and counts the connections it accepts
// (each one's first line is kept in lines).
type tcpListener struct {
	port     int
	accepted atomic.Int32
	mu       sync.Mutex
	lines    []string
}

func listenTCP(t testing.TB) *tcpListener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &tcpListener{port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				if s, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					l.mu.Lock()
					l.lines = append(l.lines, s)
					l.mu.Unlock()
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return l
}

func (l *tcpListener) portString() string { return strconv.Itoa(l.port) }

// udpListener counts the datagrams that reach it.
type udpListener struct {
	port int
	conn *net.UDPConn
}

func listenUDP(t *testing.T) *udpListener {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpListener{port: c.LocalAddr().(*net.UDPAddr).Port, conn: c}
}

// received returns the datagrams waiting, without blocking for long.
func (l *udpListener) received() []string {
	var out []string
	buf := make([]byte, 65536)
	for {
		l.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, _, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			return out
		}
		out = append(out, string(buf[:n]))
	}
}

func (l *udpListener) portString() string { return strconv.Itoa(l.port) }

// unixListener listens on a unix stream socket path and counts its
// connections, with each peer's credentials.
type unixListener struct {
	path     string
	accepted atomic.Int32
	mu       sync.Mutex
	creds    []unix.Ucred
	conns    chan *net.UnixConn
}

func listenUnix(t *testing.T, path string) *unixListener {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	if path[0] != '@' {
		if err := os.Chmod(path, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	l := &unixListener{path: path, conns: make(chan *net.UnixConn, 16)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			if rc, err := c.SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) {
					if cr, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
						l.mu.Lock()
						l.creds = append(l.creds, *cr)
						l.mu.Unlock()
					}
				})
			}
			select {
			case l.conns <- c:
			default:
				c.Close()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		close(l.conns)
		for c := range l.conns {
			c.Close()
		}
	})
	return l
}
