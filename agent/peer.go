package agent

import (
	"container/list"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// Errors for connections the Server does not read, or stops reading.
var (
	// ErrPeerRefused: the peer's uid is not allowed (Server.AllowUIDs), or
	// Server.Authorize refused it. Nothing it sent was read.
	ErrPeerRefused = errors.New("agent: peer not allowed")
	// ErrTooManyConnections: the peer already had
	// Server.MaxPendingPerPeer connections being read (the new one is
	// closed unread), or the Server had MaxPending and this one made room
	// for a new one (see Server.MaxPending for which one goes).
	ErrTooManyConnections = errors.New("agent: too many connections being read")
)

// Peer is the process at the other end of a runtime connection, as the
// kernel recorded it when that process connected (SO_PEERCRED).
type Peer struct {
	// PID is the process id in the agent's pid namespace; 0 when the
	// process is not visible there (an agent without hostPID).
	PID int
	// UID and GID are the process's effective ids at connect time, in
	// the agent's user namespace (the overflow id, 65534, when they are
	// not mapped there).
	UID, GID uint32
}

// peerOf returns the credentials of the process at the other end of conn.
func peerOf(conn *net.UnixConn) (Peer, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var (
		cred *unix.Ucred
		gerr error
	)
	if err := rc.Control(func(fd uintptr) {
		cred, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, err
	}
	if gerr != nil {
		return Peer{}, fmt.Errorf("agent: SO_PEERCRED: %w", gerr)
	}
	return Peer{PID: int(cred.Pid), UID: cred.Uid, GID: cred.Gid}, nil
}

// authorize applies AllowUIDs or Authorize to p.
func (s *Server) authorize(p Peer) error {
	if s.Authorize != nil {
		if err := s.Authorize(p); err != nil {
			return fmt.Errorf("%w: %w", ErrPeerRefused, err)
		}
		return nil
	}
	allowed := s.AllowUIDs
	if allowed == nil {
		allowed = []uint32{uint32(os.Geteuid())}
	}
	if !slices.Contains(allowed, p.UID) {
		return fmt.Errorf("%w: uid %d is not in the allowed uids %v", ErrPeerRefused, p.UID, allowed)
	}
	return nil
}

// admission bounds the connections being read: in all (max) and per peer
// process (perPeer). Per peer, a connection beyond the bound is refused;
// in all, a connection being read is evicted to make room (victim), so
// that idle connections cannot keep a runtime out.
type admission struct {
	max, perPeer int

	mu      sync.Mutex
	pending list.List // of *pendingConn, oldest first
	byPeer  map[peerKey]int
	byUID   map[uint32]int
}

// peerKey identifies a peer process for the per-peer bound: its pid, or
// its uid when the pid is not visible.
type peerKey struct {
	pid int
	uid uint32
}

func keyOf(p Peer) peerKey {
	if p.PID != 0 {
		return peerKey{pid: p.PID}
	}
	return peerKey{uid: p.UID}
}

// A pendingConn is a connection admitted for reading.
type pendingConn struct {
	key     peerKey
	uid     uint32
	elem    *list.Element
	evict   func() // interrupts the read
	evicted bool
	sending bool // something arrived on it
}

func newAdmission(max, perPeer int) *admission {
	return &admission{max: max, perPeer: perPeer, byPeer: make(map[peerKey]int), byUID: make(map[uint32]int)}
}

// admit admits a connection from p, whose read evict interrupts. It fails
// with ErrTooManyConnections when p has perPeer connections being read.
func (a *admission) admit(p Peer, evict func()) (*pendingConn, error) {
	k := keyOf(p)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byPeer[k] >= a.perPeer {
		return nil, fmt.Errorf("%w: %d from this peer already (Server.MaxPendingPerPeer)", ErrTooManyConnections, a.byPeer[k])
	}
	if a.pending.Len() >= a.max {
		old := a.victim()
		a.pending.Remove(old.elem)
		old.elem = nil
		old.evicted = true
		old.release(a)
		old.evict()
	}
	pc := &pendingConn{key: k, uid: p.UID, evict: evict}
	pc.elem = a.pending.PushBack(pc)
	a.byPeer[k]++
	a.byUID[p.UID]++
	return pc, nil
}

// victim returns the connection to evict when max are being read: one of
// the user (uid) with the most connections being read, so that a flood
// from one user's processes, however many, evicts its own connections and
// not another user's runtime; of those, the oldest that has sent nothing
// yet (a runtime sends as soon as it connects), else the oldest. a.mu is
// held and a.pending is not empty.
func (a *admission) victim() *pendingConn {
	most := 0
	for _, n := range a.byUID {
		most = max(most, n)
	}
	var oldest *pendingConn
	for e := a.pending.Front(); e != nil; e = e.Next() {
		pc := e.Value.(*pendingConn)
		if a.byUID[pc.uid] != most {
			continue
		}
		if !pc.sending {
			return pc
		}
		if oldest == nil {
			oldest = pc
		}
	}
	return oldest
}

// sending records that something arrived on pc: it is no longer idle.
func (a *admission) sending(pc *pendingConn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	pc.sending = true
}

// release drops pc's counts; a.mu is held.
func (pc *pendingConn) release(a *admission) {
	if n := a.byPeer[pc.key] - 1; n > 0 {
		a.byPeer[pc.key] = n
	} else {
		delete(a.byPeer, pc.key)
	}
	if n := a.byUID[pc.uid] - 1; n > 0 {
		a.byUID[pc.uid] = n
	} else {
		delete(a.byUID, pc.uid)
	}
}

// done ends pc's read. It reports whether pc was evicted.
func (a *admission) done(pc *pendingConn) (evicted bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if pc.evicted {
		return true
	}
	a.pending.Remove(pc.elem)
	pc.elem = nil
	pc.release(a)
	return false
}
