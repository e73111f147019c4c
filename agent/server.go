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
	DefaultMaxMessageBytes   = 1 << 20
	DefaultMaxFDs            = 16
	DefaultReadTimeout       = 10 * time.Second
	DefaultMaxPending        = 128
	DefaultMaxPendingPerPeer = 8
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

	ctx      context.Context
	peer     Peer
	identity Identity
}

// ID returns the container's id (State.State.ID).
func (c *Container) ID() string { return c.State.State.ID }

// Annotations returns the container's annotations (from its config.json);
// nil when it has none.
func (c *Container) Annotations() map[string]string { return c.State.State.Annotations }

// Metadata returns the opaque string from the container's
// linux.seccomp.listenerMetadata ("" when absent).
func (c *Container) Metadata() string { return c.State.Metadata }

// Identity returns the container's pod identity, resolved from its
// annotations and listenerMetadata (see Identity).
func (c *Container) Identity() Identity { return c.identity }

// Peer returns the process that handed the container over (the runtime).
func (c *Container) Peer() Peer { return c.peer }

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

	// AllowUIDs are the user ids of the peers that are served: a
	// connection's peer credentials (SO_PEERCRED, taken by the kernel at
	// connect time) are checked before anything is read from it. A peer
	// with another uid is logged with its pid and uid, its connection is
	// closed unread (the kernel closes every descriptor it sent, its
	// listener included, so its notified calls fail with ENOSYS), and
	// Hooks.Refused is called. nil means the agent's own effective uid
	// only; an empty non-nil slice allows nobody.
	AllowUIDs []uint32
	// Authorize, when set, decides instead of AllowUIDs: a non-nil error
	// refuses the peer as above, and is logged.
	Authorize func(Peer) error

	// Logger receives one record per connection (a container accepted, a
	// peer refused or a message rejected, with the reason) and one when a
	// container's stream ends. Records about a container carry its id
	// and its pod identity (namespace, pod, pod_uid, k8s_container).
	// Refusals and rejections are rate-limited, since whoever can connect
	// causes them: at most 50 at once and one a second on average beyond
	// that; the next record logged says how many were not
	// ("not_logged"). Hooks.Refused and Hooks.Rejected see every one.
	// Default: slog.Default().
	Logger *slog.Logger

	// Hooks are called as containers come and go and calls are decided,
	// for metrics.
	Hooks Hooks

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
	// MaxPending bounds the connections being read at once (accepted,
	// message not complete yet). When it is reached, one of them is
	// disconnected to make room for the new one (logged as
	// ErrTooManyConnections): one of the peer user (uid) with the most
	// connections being read, the oldest of its connections that sent
	// nothing yet, else its oldest. So idle or slow connections cannot
	// keep out a runtime, which sends its message right after connecting,
	// and a flood from one user's processes, however many, evicts its own
	// connections before another user's. Default DefaultMaxPending.
	MaxPending int
	// MaxPendingPerPeer bounds the connections being read at once from
	// one peer process (by pid; by uid when the pid is not visible). A
	// connection beyond it is closed unread. Default
	// DefaultMaxPendingPerPeer; a runtime process sends one message.
	MaxPendingPerPeer int

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

	maxPending, perPeer := s.MaxPending, s.MaxPendingPerPeer
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	if perPeer <= 0 {
		perPeer = DefaultMaxPendingPerPeer
	}
	sv := &serving{adm: newAdmission(maxPending, perPeer)}

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
			s.handleConn(ctx, conn, sv)
		}()
	}
}

// handleConn checks the peer of one runtime connection, reads its message
// and, if it is valid, serves the container until its stream ends or ctx
// does.
func (s *Server) handleConn(ctx context.Context, conn *net.UnixConn, sv *serving) {
	adm := sv.adm
	log := s.logger()
	peer, err := peerOf(conn)
	if err == nil {
		err = s.authorize(peer)
	}
	if err != nil {
		s.refuse(sv, conn, peer, err)
		return
	}
	// The deadline before admission: eviction replaces it to interrupt
	// the read, and must not be overwritten by it.
	if err := s.setReadTimeout(conn); err != nil {
		s.refuse(sv, conn, peer, err)
		return
	}
	pc, err := adm.admit(peer, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	if err != nil {
		s.refuse(sv, conn, peer, err)
		return
	}
	m, err := s.read(ctx, conn, func() { adm.sending(pc) })
	if adm.done(pc) {
		if err == nil {
			closeFDs(m.fds)
		}
		err = fmt.Errorf("%w: disconnected to make room for a newer connection (Server.MaxPending)", ErrTooManyConnections)
	}
	conn.Close()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		s.rejected(sv, peer, err)
		return
	}
	st, idx, err := ParseState(m.data, len(m.fds))
	if err != nil {
		closeFDs(m.fds)
		s.rejected(sv, peer, err)
		return
	}
	lfd := m.fds[idx]
	for i, fd := range m.fds {
		if i != idx {
			unix.Close(fd)
		}
	}
	id := st.State.ID
	ident, err := IdentityOf(st.State.Annotations, st.Metadata)
	if err != nil {
		unix.Close(lfd)
		s.rejected(sv, peer, fmt.Errorf("agent: container %q: %w", id, err), "container", id)
		return
	}
	log = log.With(append([]any{slog.String("container", id)}, ident.logAttrs()...)...)
	stream, err := seccompstream.New(lfd, s.StreamOptions...)
	if err != nil {
		unix.Close(lfd)
		s.rejected(sv, peer, fmt.Errorf("agent: container %q: seccompFd: %w", id, err), "container", id)
		return
	}
	defer stream.Close()

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &Container{State: *st, Stream: stream, ctx: cctx, peer: peer, identity: ident}
	log.Info("agent: container connected", "status", st.State.Status,
		"pid", st.Pid, "bundle", st.State.Bundle, "peer_pid", peer.PID)
	if s.Hooks.Connected != nil {
		s.Hooks.Connected(c)
	}
	var serveErr error
	if s.Hooks.Disconnected != nil {
		defer func() { s.Hooks.Disconnected(c, serveErr) }()
	}
	h := s.NewHandler(c)
	if h == nil {
		log.Info("agent: container refused by NewHandler", "pid", st.Pid)
		return
	}
	if s.Hooks.Call != nil {
		h = observed(c, h, s.Hooks.Call)
	}
	start := time.Now()
	opts := append([]seccompstream.ServeOption{seccompstream.WithErrorHandler(func(err error) {
		log.Error("agent: handler error", "pid", st.Pid, "err", err)
		if s.Hooks.Error != nil {
			s.Hooks.Error(c, err)
		}
	})}, s.ServeOptions...)
	err = stream.Serve(cctx, h, opts...)
	switch {
	case err == nil:
		log.Info("agent: container stream ended", "pid", st.Pid, "duration", time.Since(start))
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		log.Info("agent: container stream closed by shutdown", "pid", st.Pid)
		serveErr = err
	default:
		log.Error("agent: container stream failed", "pid", st.Pid, "err", err)
		serveErr = err
	}
}

// setReadTimeout sets conn's read deadline to the read timeout from now.
func (s *Server) setReadTimeout(conn *net.UnixConn) error {
	timeout := s.ReadTimeout
	if timeout <= 0 {
		timeout = DefaultReadTimeout
	}
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("agent: read from runtime: %w", err)
	}
	return nil
}

// read reads one runtime message from conn, whose read deadline is set
// (setReadTimeout); the end of ctx interrupts it. sending is called once
// something arrived.
func (s *Server) read(ctx context.Context, conn *net.UnixConn, sending func()) (*message, error) {
	maxBytes := s.MaxMessageBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	maxFDs := s.MaxFDs
	if maxFDs <= 0 {
		maxFDs = DefaultMaxFDs
	}
	// Shutdown and eviction replace the deadline to interrupt a runtime
	// that is still sending.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	if waitReadable(conn) == nil {
		sending()
	}
	return readMessage(conn, maxBytes, maxFDs)
}

// refuse closes a connection unread, logs why and calls Hooks.Refused.
// Closing it makes the kernel drop what the peer queued, and close the
// descriptors in it.
func (s *Server) refuse(sv *serving, conn *net.UnixConn, peer Peer, err error) {
	conn.Close()
	if ok, held := sv.logs.allow(time.Now()); ok {
		s.logger().Warn("agent: connection refused", withHeld([]any{"peer_pid", peer.PID, "peer_uid", peer.UID, "peer_gid", peer.GID, "err", err}, held)...)
	}
	if s.Hooks.Refused != nil {
		s.Hooks.Refused(peer, err)
	}
}

// rejected logs a rejected message and calls Hooks.Rejected.
func (s *Server) rejected(sv *serving, p Peer, err error, attrs ...any) {
	if ok, held := sv.logs.allow(time.Now()); ok {
		s.logger().Error("agent: rejected runtime message", withHeld(append(attrs, "peer_pid", p.PID, "peer_uid", p.UID, "err", err), held)...)
	}
	if s.Hooks.Rejected != nil {
		s.Hooks.Rejected(p, err)
	}
}

// withHeld adds the number of records held back to attrs, if any were.
func withHeld(attrs []any, held int) []any {
	if held > 0 {
		attrs = append(attrs, "not_logged", held)
	}
	return attrs
}

// serving is what the connections of one Serve share.
type serving struct {
	adm  *admission
	logs logLimit
}

// Refused connections and rejected messages are logged at most
// refusalLogBurst at once and one per refusalLogEvery on average beyond
// that: whoever may connect could otherwise write the agent's log at the
// rate it connects. Hooks see every one.
const (
	refusalLogBurst = 50
	refusalLogEvery = time.Second
)

// A logLimit is a token bucket for the records of refused connections and
// rejected messages.
type logLimit struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
	held   int // records held back since the last one logged
}

// allow reports whether a record may be logged at now and, if so, how many
// were held back before it.
func (l *logLimit) allow(now time.Time) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.last) {
		// Connections race to the lock with the times they read before
		// it: a later one may come first. Time does not go back here.
		now = l.last
	}
	if l.last.IsZero() {
		l.tokens = refusalLogBurst
	} else {
		l.tokens = min(refusalLogBurst, l.tokens+float64(now.Sub(l.last))/float64(refusalLogEvery))
	}
	l.last = now
	if l.tokens < 1 {
		l.held++
		return false, 0
	}
	l.tokens--
	held, l.held = l.held, 0
	return true, held
}

// Serve is a shorthand for a Server with default limits and newHandler.
func Serve(ctx context.Context, ln *net.UnixListener, newHandler func(*Container) seccompstream.Handler) error {
	s := &Server{NewHandler: newHandler}
	return s.Serve(ctx, ln)
}
