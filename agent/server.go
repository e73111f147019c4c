package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
)

// Defaults for the Server's limits.
const (
	DefaultMaxMessageBytes = 1 << 20
	DefaultMaxFDs          = 16
	DefaultReadTimeout     = 10 * time.Second
)

// A Container is one container process that a runtime handed to the agent:
// the state the runtime sent and a Stream over the process's seccomp
// listener. runc and crun connect once for the container's init process
// (State.State.Status "creating") and once for each exec'd process
// ("running"), so one container can show up several times, each with its
// own Stream.
type Container struct {
	// State is the container process state as the runtime sent it.
	State specs.ContainerProcessState
	// Stream receives the process's notifications. The Server owns it: it
	// serves it with the Handler that NewHandler returned, and closes it
	// when the stream ends or the Server shuts down.
	Stream *seccompstream.Stream

	ctx context.Context
}

// ID returns the container's id (State.State.ID).
func (c *Container) ID() string { return c.State.State.ID }

// Annotations returns the container's annotations (from its config.json);
// nil when it has none.
func (c *Container) Annotations() map[string]string { return c.State.State.Annotations }

// Metadata returns the opaque string from the container's
// linux.seccomp.listenerMetadata ("" when absent).
func (c *Container) Metadata() string { return c.State.Metadata }

// Context returns a context that is cancelled when the container's stream
// ends (every process that used its filter exited) or the Server shuts
// down: the place to hang per-container work. Handlers get a context
// derived from it.
func (c *Container) Context() context.Context { return c.ctx }

// A Server accepts runtime connections on a unix socket and serves the
// seccomp listener of every container process they hand over. The zero
// value is not usable: NewHandler must be set. Fields must not change once
// Serve was called.
type Server struct {
	// NewHandler picks the Handler for one container process, typically
	// from c.Annotations() or c.Metadata(). It runs on the connection's own
	// goroutine, once per container process. Returning nil refuses the
	// container: its listener is closed at once and every call its filter
	// notifies fails with ENOSYS.
	NewHandler func(c *Container) seccompstream.Handler

	// Logger receives one record per connection (a container accepted or
	// a message rejected, with the reason) and one when a container's
	// stream ends. Default: slog.Default().
	Logger *slog.Logger

	// MaxMessageBytes limits the size of a runtime's message. Default
	// DefaultMaxMessageBytes (1 MiB).
	MaxMessageBytes int
	// MaxFDs limits the number of file descriptors in a message; the
	// kernel drops the ones beyond it and the message is rejected.
	// Default DefaultMaxFDs.
	MaxFDs int
	// ReadTimeout bounds the time from accepting a connection to its end
	// (EOF). A runtime that stalls is disconnected and its descriptors
	// closed. Default DefaultReadTimeout.
	ReadTimeout time.Duration

	// StreamOptions are passed to seccompstream.New for every container.
	StreamOptions []seccompstream.Option
	// ServeOptions are passed to (*seccompstream.Stream).Serve for every
	// container. By default the Server adds a WithErrorHandler that logs
	// handler panics and refused answers with the container's id; an
	// option given here overrides it.
	ServeOptions []seccompstream.ServeOption
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Serve accepts connections on ln and serves each container handed over,
// concurrently, until ctx ends. Then it closes ln, disconnects runtimes
// still sending, waits until every handler call in progress has been
// answered, and closes every container's listener (the kernel answers any
// later notified call with ENOSYS), and returns nil. Serve returns early,
// after the same clean-up, with an error when accepting fails for a reason
// other than a temporary shortage of resources.
//
// Serve takes ownership of ln and closes it.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	if s.NewHandler == nil {
		ln.Close()
		return errors.New("agent: Server.NewHandler is nil")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	var delay time.Duration
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var errno unix.Errno
			if errors.As(err, &errno) && (errno == unix.EMFILE || errno == unix.ENFILE ||
				errno == unix.ENOBUFS || errno == unix.ENOMEM || errno == unix.ECONNABORTED) {
				// Out of descriptors or memory: wait a little, as
				// net/http does, rather than spin or give up.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logger().Warn("agent: accept failed; retrying", "err", err, "delay", delay)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return nil
				}
				continue
			}
			cancel()
			ln.Close()
			return fmt.Errorf("agent: accept: %w", err)
		}
		delay = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handleConn(ctx, conn)
		}()
	}
}

// handleConn reads one runtime message and, if it is valid, serves the
// container until its stream ends or ctx does.
func (s *Server) handleConn(ctx context.Context, conn *net.UnixConn) {
	log := s.logger()
	timeout := s.ReadTimeout
	if timeout <= 0 {
		timeout = DefaultReadTimeout
	}
	maxBytes := s.MaxMessageBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	maxFDs := s.MaxFDs
	if maxFDs <= 0 {
		maxFDs = DefaultMaxFDs
	}
	peer := peerPID(conn)
	// The deadline first: shutdown replaces it to interrupt a runtime that
	// is still sending.
	m, err := (*message)(nil), conn.SetReadDeadline(time.Now().Add(timeout))
	if err == nil {
		stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
		m, err = readMessage(conn, maxBytes, maxFDs)
		stop()
	}
	conn.Close()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		log.Error("agent: rejected runtime message", "peer_pid", peer, "err", err)
		return
	}
	st, idx, err := ParseState(m.data, len(m.fds))
	if err != nil {
		closeFDs(m.fds)
		log.Error("agent: rejected runtime message", "peer_pid", peer, "err", err)
		return
	}
	lfd := m.fds[idx]
	for i, fd := range m.fds {
		if i != idx {
			unix.Close(fd)
		}
	}
	id := st.State.ID
	stream, err := seccompstream.New(lfd, s.StreamOptions...)
	if err != nil {
		unix.Close(lfd)
		log.Error("agent: rejected runtime message", "container", id, "peer_pid", peer,
			"err", fmt.Errorf("agent: container %q: seccompFd: %w", id, err))
		return
	}
	defer stream.Close()

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &Container{State: *st, Stream: stream, ctx: cctx}
	log.Info("agent: container connected", "container", id, "status", st.State.Status,
		"pid", st.Pid, "bundle", st.State.Bundle, "peer_pid", peer)
	h := s.NewHandler(c)
	if h == nil {
		log.Info("agent: container refused by NewHandler", "container", id, "pid", st.Pid)
		return
	}
	start := time.Now()
	opts := append([]seccompstream.ServeOption{seccompstream.WithErrorHandler(func(err error) {
		log.Error("agent: handler error", "container", id, "pid", st.Pid, "err", err)
	})}, s.ServeOptions...)
	err = stream.Serve(cctx, h, opts...)
	switch {
	case err == nil:
		log.Info("agent: container stream ended", "container", id, "pid", st.Pid, "duration", time.Since(start))
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		log.Info("agent: container stream closed by shutdown", "container", id, "pid", st.Pid)
	default:
		log.Error("agent: container stream failed", "container", id, "pid", st.Pid, "err", err)
	}
}

// peerPID returns the pid of the process at the other end of conn, 0 if
// unknown.
func peerPID(conn *net.UnixConn) int {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	_ = rc.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}

// Serve is a shorthand for a Server with default limits and newHandler.
func Serve(ctx context.Context, ln *net.UnixListener, newHandler func(*Container) seccompstream.Handler) error {
	s := &Server{NewHandler: newHandler}
	return s.Serve(ctx, ln)
}
