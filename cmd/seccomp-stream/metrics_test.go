package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
)

// scrape returns the body of GET url.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

// TestMetricsHooks feeds the hooks directly and reads the metrics back
// over HTTP; the end-to-end test with a container is TestAgentMetrics.
func TestMetricsHooks(t *testing.T) {
	m := newAgentMetrics()
	addr, stop, err := serveMetrics("127.0.0.1:0", m, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	socket := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := agent.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := m.watchSocket(socket); err != nil {
		t.Fatal(err)
	}
	h := m.hooks()
	h.Refused(agent.Peer{UID: 65534}, fmt.Errorf("%w: uid 65534", agent.ErrPeerRefused))
	h.Refused(agent.Peer{}, agent.ErrTooManyConnections)
	h.Rejected(agent.Peer{}, agent.ErrMalformedState)
	h.Error(nil, fmt.Errorf("panic"))
	if got := scrape(t, "http://"+addr.String()+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz: %q", got)
	}
	body := scrape(t, "http://"+addr.String()+"/metrics")
	for _, want := range []string{
		`seccompstream_agent_connections_refused_total{reason="uid"} 1`,
		`seccompstream_agent_connections_refused_total{reason="flood"} 1`,
		`seccompstream_agent_errors_total{kind="rejected"} 1`,
		`seccompstream_agent_errors_total{kind="handler"} 1`,
		`seccompstream_agent_containers 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, tc := range []struct {
		r    seccompstream.Response
		want string
	}{
		{seccompstream.Continue(), "continue"},
		{seccompstream.Errno(unix.EPERM), "errno:EPERM"},
		{seccompstream.Errno(4000), "errno:4000"},
		{seccompstream.Return(3), "return"},
	} {
		if got := metricDecision(tc.r); got != tc.want {
			t.Errorf("metricDecision(%v) = %q, want %q", tc.r, got, tc.want)
		}
	}
	if _, _, err := serveMetrics("256.0.0.1:http", m, nil); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("bad address: %v", err)
	}
}

// get returns the status and body of GET path from m's handler.
func get(m *agentMetrics, path string) (int, string) {
	rec := httptest.NewRecorder()
	m.handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

// TestMetricsHealthz: /healthz is "ok" only while the agent's socket file
// is the one it created: 503 before it listens, and once the file is
// removed or replaced, since runtimes, which connect by path, would no
// longer reach the agent.
func TestMetricsHealthz(t *testing.T) {
	m := newAgentMetrics()
	if code, body := get(m, "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not listening") {
		t.Errorf("/healthz before listening: %d %q", code, body)
	}
	socket := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := agent.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := m.watchSocket(socket); err != nil {
		t.Fatal(err)
	}
	if code, body := get(m, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz while listening: %d %q", code, body)
	}
	if err := os.Remove(socket); err != nil {
		t.Fatal(err)
	}
	if code, body := get(m, "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, socket) {
		t.Errorf("/healthz with the socket file removed: %d %q", code, body)
	}
	other, err := agent.Listen(socket) // someone else's socket at the path
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if code, body := get(m, "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "replaced") {
		t.Errorf("/healthz with the socket file replaced: %d %q", code, body)
	}
	abstract := newAgentMetrics()
	if err := abstract.watchSocket("@seccompstream-test"); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(abstract, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz on an abstract socket: %d", code)
	}
}

// TestMetricsPodSeries: a pod's calls series outlive its last container
// process by the retention, then go, so that pods coming and going (with
// names whoever creates pods chooses) do not grow the agent's metrics
// without bound; a pod that comes back in time keeps its series.
func TestMetricsPodSeries(t *testing.T) {
	m := newAgentMetrics()
	now := time.Unix(1000, 0)
	m.now = func() time.Time { return now }
	series := func(pod string) bool {
		_, body := get(m, "/metrics")
		return strings.Contains(body, `pod="`+pod+`"`)
	}
	a, b, c := podKey{"shop", "web-a"}, podKey{"shop", "web-b"}, podKey{"shop", "web-c"}
	for _, k := range []podKey{a, b, c} {
		m.podConnected(k)
		m.calls.WithLabelValues("mkdir", "continue", k.namespace, k.pod).Inc()
	}
	m.podConnected(a) // a second process of pod a (an exec)
	m.podDisconnected(a)
	m.podDisconnected(b)
	m.podDisconnected(c)
	now = now.Add(defaultPodRetention / 2)
	m.podConnected(c) // c is back before the retention ends
	now = now.Add(defaultPodRetention)
	m.podConnected(podKey{}) // any event sweeps
	if !series("web-a") || !series("web-c") {
		t.Errorf("the series of pods with a process connected are gone")
	}
	if series("web-b") {
		t.Errorf("pod web-b's series outlived the retention")
	}
	m.podDisconnected(a)
	m.podDisconnected(c)
	now = now.Add(defaultPodRetention)
	m.podDisconnected(podKey{})
	if series("web-a") || series("web-c") {
		t.Errorf("series outlived the retention")
	}
	if len(m.pods) != 0 {
		t.Errorf("%d pods still tracked", len(m.pods))
	}
}

// TestMetricSyscall: calls of numbers no table names share one label.
func TestMetricSyscall(t *testing.T) {
	for name, want := range map[string]string{"mkdir": "mkdir", "mknodat": "mknodat", "syscall_123456": "unknown", "syscall_-1": "unknown"} {
		if got := metricSyscall(name); got != want {
			t.Errorf("metricSyscall(%q) = %q, want %q", name, got, want)
		}
	}
}
