package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/profile"
)

// agentRecorder is "agent --record DIR": one Recorder per container id,
// in front of the handler the policy gives, and the container's profile
// written to DIR/ID.json each time its last stream ends (the init process
// and every "runc exec" of a container share one recording). Once written,
// a recording is dropped, so that an agent serving containers for months
// keeps only the running ones: a process of the container that comes
// later starts a new recording, which the file already there is merged
// into.
type agentRecorder struct {
	dir      string
	base     *profile.Profile // merged into every profile written
	log      *slog.Logger
	shutdown context.Context // the agent's: once it is done, streams end because the agent stops

	wg sync.WaitGroup // the writes that stream ends started

	mu   sync.Mutex
	byID map[string]*containerRecording
}

// containerRecording is what the agent recorded of one container id.
type containerRecording struct {
	id     string
	rec    *profile.Recorder
	active int // streams being served, under agentRecorder.mu

	writeMu sync.Mutex
	read    bool             // the file's earlier content was looked at
	prior   *profile.Profile // what the file held before this agent wrote it
}

// newAgentRecorder checks that dir is a directory the agent can write in.
// Its shutdown context must be set before it records.
func newAgentRecorder(dir string, base *profile.Profile, log *slog.Logger) (*agentRecorder, error) {
	if err := checkWritable(filepath.Join(dir, "seccomp-stream-check.json")); err != nil {
		return nil, fmt.Errorf("--record: %w", err)
	}
	return &agentRecorder{dir: dir, base: base, log: log, shutdown: context.Background(), byID: map[string]*containerRecording{}}, nil
}

// wrap returns a Server.NewHandler that records every notified call of a
// container (whatever newHandler's handler answers) before answering it.
func (a *agentRecorder) wrap(newHandler func(*agent.Container) seccompstream.Handler) func(*agent.Container) seccompstream.Handler {
	return func(c *agent.Container) seccompstream.Handler {
		h := newHandler(c)
		if h == nil {
			return nil
		}
		a.mu.Lock()
		r := a.byID[c.ID()]
		if r == nil {
			r = &containerRecording{id: c.ID(), rec: profile.NewRecorder()}
			a.byID[c.ID()] = r
		}
		r.active++
		a.mu.Unlock()
		// The container's context ends after its stream was served to
		// the end (every call answered), or at shutdown, when close
		// writes everything once more.
		a.wg.Add(1)
		context.AfterFunc(c.Context(), func() {
			defer a.wg.Done()
			a.mu.Lock()
			r.active--
			last := r.active == 0
			a.mu.Unlock()
			if !last {
				return
			}
			a.write(r)
			if a.shutdown.Err() != nil {
				return // close writes it again once every call was answered
			}
			a.mu.Lock()
			if r.active == 0 && a.byID[r.id] == r {
				delete(a.byID, r.id)
			}
			a.mu.Unlock()
		})
		return r.rec.Wrap(h)
	}
}

// close writes every container's profile once more, after the Server has
// answered every call: at shutdown, a stream's end may have been seen
// before its last calls were.
func (a *agentRecorder) close() {
	a.wg.Wait()
	a.mu.Lock()
	rs := make([]*containerRecording, 0, len(a.byID))
	for _, r := range a.byID {
		rs = append(rs, r)
	}
	a.mu.Unlock()
	for _, r := range rs {
		a.write(r)
	}
}

// write writes r's profile to its file, merged with what the file held
// before this agent first wrote it (a profile of an earlier container
// with the same id) and with the base.
func (a *agentRecorder) write(r *containerRecording) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	path := filepath.Join(a.dir, profileFileName(r.id))
	if !r.read {
		r.read = true
		p, err := profile.ReadFile(path)
		switch {
		case err == nil:
			r.prior = p
			a.log.Info("seccomp-stream agent: recording merged with the profile already there", "container", r.id, "file", path)
		case errors.Is(err, fs.ErrNotExist):
		default:
			a.log.Warn("seccomp-stream agent: replacing a file that is not a profile", "container", r.id, "file", path, "err", trimProfilePrefix(err))
		}
	}
	p := profile.Merge(r.rec.Profile(), a.base)
	if r.prior != nil {
		p = profile.Merge(p, r.prior)
	}
	// runc does not let a filter notify write (it needs it to hand the
	// listener over) and nearly every program writes: a recording never
	// sees it, and the container needs it.
	if native, err := profile.NativeArch(); err == nil {
		_ = p.Add(native, "write", 0)
	}
	if err := p.WriteFile(path); err != nil {
		a.log.Error("seccomp-stream agent: writing the container's profile", "container", r.id, "err", trimProfilePrefix(err))
		return
	}
	a.log.Info("seccomp-stream agent: profile written", "container", r.id, "file", path, "calls", p.Len())
}

// profileFileName is the file name of a container's profile: its id with
// ".json". Runtimes allow ids of letters, digits and "_+-." only (runc and
// crun check); any other byte, and a leading dot, is written %XX, so that
// no id names a path outside the directory or a hidden file.
func profileFileName(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '+', c == '-', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() == 0 {
		b.WriteString("%00") // an empty id (the agent refuses those)
	}
	return b.String() + ".json"
}
