package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

	// The calls of a pod are counted under its namespace and name; pods
	// come and go (and whoever may create pods chooses their names), so a
	// pod's series are dropped once it has had no container process for
	// podRetention: long enough for every scraper to see the final
	// counts, short enough that the series do not grow with the node's
	// history. The sweep runs as containers come and go; no timer.
	podRetention time.Duration
	now          func() time.Time
	podsMu       sync.Mutex
	pods         map[podKey]*podState

	// socket, when set, is the socket file the agent listens on, whose
	// presence /healthz checks.
	socket atomic.Pointer[socketFile]
}

// podKey is a pod as the calls metric labels it.
type podKey struct{ namespace, pod string }

// podState is what the metrics know of a pod: its container processes
// connected, and when the last of them went.
type podState struct {
	connected int
	gone      time.Time
}

// defaultPodRetention is how long a pod's series outlive its last
// container process.
const defaultPodRetention = 10 * time.Minute

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
	m.podRetention, m.now, m.pods = defaultPodRetention, time.Now, make(map[podKey]*podState)
	return m
}

// podConnected counts a container process of pod k connected, and drops
// the series of pods gone for longer than the retention.
func (m *agentMetrics) podConnected(k podKey) {
	m.podsMu.Lock()
	defer m.podsMu.Unlock()
	m.sweepLocked()
	if k == (podKey{}) {
		return // not a pod: its series stay
	}
	ps := m.pods[k]
	if ps == nil {
		ps = new(podState)
		m.pods[k] = ps
	}
	ps.connected++
}

// podDisconnected counts a container process of pod k gone.
func (m *agentMetrics) podDisconnected(k podKey) {
	m.podsMu.Lock()
	defer m.podsMu.Unlock()
	if ps := m.pods[k]; ps != nil {
		if ps.connected--; ps.connected == 0 {
			ps.gone = m.now()
		}
	}
	m.sweepLocked()
}

// sweepLocked drops the calls series of the pods without a container
// process for longer than the retention; m.podsMu is held.
func (m *agentMetrics) sweepLocked() {
	now := m.now()
	for k, ps := range m.pods {
		if ps.connected == 0 && now.Sub(ps.gone) >= m.podRetention {
			m.calls.DeletePartialMatch(prometheus.Labels{"namespace": k.namespace, "pod": k.pod})
			delete(m.pods, k)
		}
	}
}

// metricSyscall is a call's name as the calls metric labels it: its name,
// or "unknown" for a number no table names (a filter that notifies
// unknown numbers would otherwise let the caller make up to 2^32 series).
func metricSyscall(name string) string {
	if seccompstream.KnownSyscall(name) {
		return name
	}
	return "unknown"
}

// A socketFile is the socket file the agent listens on, as it was right
// after Listen created it.
type socketFile struct {
	path     string
	dev, ino uint64
}

// watchSocket makes /healthz check that path is still the socket file
// the agent created (abstract names, "@...", have no file to check).
func (m *agentMetrics) watchSocket(path string) error {
	if strings.HasPrefix(path, "@") {
		m.socket.Store(&socketFile{path: path})
		return nil
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("socket %s: %w", path, err)
	}
	m.socket.Store(&socketFile{path: path, dev: st.Dev, ino: st.Ino})
	return nil
}

// health reports why the agent cannot serve new containers: it does not
// listen yet, or its socket file is gone or replaced (runtimes connect by
// path, so they would no longer reach it). nil when it can.
func (m *agentMetrics) health() error {
	sf := m.socket.Load()
	if sf == nil {
		return errors.New("not listening yet")
	}
	if sf.ino == 0 {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Lstat(sf.path, &st); err != nil {
		return fmt.Errorf("socket %s: %w", sf.path, err)
	}
	if st.Dev != sf.dev || st.Ino != sf.ino {
		return fmt.Errorf("socket %s was replaced by another file", sf.path)
	}
	return nil
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
		Connected: func(c *agent.Container) {
			m.containers.Inc()
			m.podConnected(podOf(c))
		},
		Disconnected: func(c *agent.Container, err error) {
			m.containers.Dec()
			m.podDisconnected(podOf(c))
			if err != nil && !errors.Is(err, context.Canceled) {
				m.errors.WithLabelValues("stream").Inc()
			}
		},
		Call: func(c *agent.Container, n *seccompstream.Notification, r seccompstream.Response, took time.Duration) {
			id := c.Identity()
			m.calls.WithLabelValues(metricSyscall(n.SyscallName()), metricDecision(r), id.Namespace, id.Pod).Inc()
			m.latency.Observe(took.Seconds())
		},
		Error: func(*agent.Container, error) { m.errors.WithLabelValues("handler").Inc() },
	}
}

// podOf is c's pod as the calls metric labels it.
func podOf(c *agent.Container) podKey {
	id := c.Identity()
	return podKey{namespace: id.Namespace, pod: id.Pod}
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

// handler serves /metrics (Prometheus text format) and /healthz: "ok"
// while the agent listens on its socket file, 503 with the reason before
// it does and once the file is gone or replaced.
func (m *agentMetrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := m.health(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
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
