package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
)

// lineWriter serialises writes to w, so that whole lines from concurrent
// handlers (and the program's standard error, when it shares w) never
// interleave. It keeps the first write error.
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// Write writes p to w in one call, under the lock.
func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(p)
	if err != nil && l.err == nil {
		l.err = err
	}
	return n, err
}

// Flush flushes w if it buffers (a bufio.Writer for -o FILE), and returns
// the first error writing or flushing met.
func (l *lineWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil && l.err == nil {
			l.err = err
		}
	}
	return l.err
}

// tracer writes the trace lines of run and agent: one line per shown call,
// text or JSON (--json). It is safe for concurrent use.
type tracer struct {
	out  *lineWriter
	json bool
}

// agentRecord is a --json trace line of the agent: the call, with the id
// of the container that made it.
type agentRecord struct {
	Container string `json:"container"`
	// The container's pod, when its runtime recorded one (agent.Identity).
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	traceRecord
}

// show writes the line for call n answered with r. container, when not
// empty, starts the line (the agent's lines) or is its "container" field.
// The line is built first, outside the lock: it reads the caller's memory,
// so show must run before n is answered.
func (t *tracer) show(container string, n *seccompstream.Notification, r seccompstream.Response) {
	t.showPod(container, agent.Identity{}, n, r)
}

// showPod is show for a container whose pod identity is id: the JSON line
// has its namespace and pod.
func (t *tracer) showPod(container string, id agent.Identity, n *seccompstream.Notification, r seccompstream.Response) {
	var line []byte
	switch {
	case container == "":
		line = formatCall(n, r, t.json)
	case t.json:
		b, err := json.Marshal(agentRecord{Container: container, Namespace: id.Namespace, Pod: id.Pod, traceRecord: decodeCall(n, r)})
		if err != nil {
			b = fmt.Appendf(nil, `{"container":%q,"pid":%d,"syscall":%q,"error":%q}`, container, n.PID, n.SyscallName(), err.Error())
		}
		line = append(b, '\n')
	default:
		line = append([]byte(container+" "), formatCall(n, r, false)...)
	}
	t.out.Write(line)
}
