package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
)

// agentMetrics turns the agent.Server's hooks into Prometheus metrics
// (docs/kubernetes.md lists them). The library has no metrics dependency;
// this is the only place that knows Prometheus.
type agentMetrics struct {
	reg        *prometheus.Registry
	calls      *prometheus.CounterVec
	latency    prometheus.Histogram
	containers prometheus.Gauge
	refused    *prometheus.CounterVec
	errors     *prometheus.CounterVec
}

func newAgentMetrics() *agentMetrics {
	m := &agentMetrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seccompstream_agent_calls_total",
			Help: "Notified system calls decided by the agent, by system call, decision and pod.",
		}, []string{"syscall", "decision", "namespace", "pod"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "seccompstream_agent_handler_seconds",
			Help:    "Time the agent's handler took to decide a call.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10), // 1us .. 262ms
		}),
		containers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seccompstream_agent_containers",
			Help: "Container processes whose seccomp listener the agent serves.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seccompstream_agent_connections_refused_total",
			Help: "Connections closed unread: peer uid not allowed (uid) or too many connections being read (flood).",
		}, []string{"reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seccompstream_agent_errors_total",
			Help: "Runtime messages rejected (rejected), handler errors (handler), container streams that failed (stream).",
		}, []string{"kind"}),
	}
	m.reg.MustRegister(m.calls, m.latency, m.containers, m.refused, m.errors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []string{"uid", "flood"} {
		m.refused.WithLabelValues(r)
	}
	for _, k := range []string{"rejected", "handler", "stream"} {
		m.errors.WithLabelValues(k)
	}
	return m
}

// hooks returns the Server hooks that feed m.
func (m *agentMetrics) hooks() agent.Hooks {
	return agent.Hooks{
		Refused: func(_ agent.Peer, err error) {
			reason := "uid"
			if errors.Is(err, agent.ErrTooManyConnections) {
				reason = "flood"
			}
			m.refused.WithLabelValues(reason).Inc()
		},
		Rejected: func(_ agent.Peer, err error) {
			if errors.Is(err, agent.ErrTooManyConnections) {
				m.refused.WithLabelValues("flood").Inc()
				return
			}
			m.errors.WithLabelValues("rejected").Inc()
		},
		Connected: func(*agent.Container) { m.containers.Inc() },
		Disconnected: func(_ *agent.Container, err error) {
			m.containers.Dec()
			if err != nil && !errors.Is(err, context.Canceled) {
				m.errors.WithLabelValues("stream").Inc()
			}
		},
		Call: func(c *agent.Container, n *seccompstream.Notification, r seccompstream.Response, took time.Duration) {
			id := c.Identity()
			m.calls.WithLabelValues(n.SyscallName(), metricDecision(r), id.Namespace, id.Pod).Inc()
			m.latency.Observe(took.Seconds())
		},
		Error: func(*agent.Container, error) { m.errors.WithLabelValues("handler").Inc() },
	}
}

// metricDecision is a Response as the calls metric labels it: "continue",
// "errno:EPERM", "return".
func metricDecision(r seccompstream.Response) string {
	switch {
	case r.IsContinue():
		return "continue"
	case r.Errno() != 0:
		if name := unix.ErrnoName(r.Errno()); name != "" {
			return "errno:" + name
		}
		return "errno:" + strconv.Itoa(int(r.Errno()))
	}
	return "return"
}

// handler serves /metrics (Prometheus text format) and /healthz.
func (m *agentMetrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	return mux
}

// serveMetrics listens on addr (host:port) at once, so that a bad address
// is an error before the agent starts, and serves m's handler until the
// returned function is called, which shuts the server down.
func serveMetrics(addr string, m *agentMetrics, errorLog func(error)) (net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	srv := &http.Server{Handler: m.handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errorLog(err)
		}
	}()
	return ln.Addr(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
