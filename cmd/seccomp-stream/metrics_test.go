package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

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
