package agent

import (
	"fmt"
	"testing"
)

// TestAdmissionVictim: when MaxPending connections are being read, the
// one evicted for a new connection is the user's with the most of them,
// its oldest idle one first: a runtime's connection (uid 0, it has sent
// its message) survives a flood from many processes of another user, and
// one from idle connections of its own user.
func TestAdmissionVictim(t *testing.T) {
	for _, tc := range []struct {
		name     string
		floodUID uint32
	}{
		{"other user", 1000},
		{"same user", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const max = 8
			a := newAdmission(max, 1000)
			evicted := map[string]bool{}
			admit := func(name string, p Peer) *pendingConn {
				pc, err := a.admit(p, func() { evicted[name] = true })
				if err != nil {
					t.Fatal(err)
				}
				return pc
			}
			// The flood fills the bound, then the runtime connects and
			// sends, then the flood goes on: one new process per
			// connection (the per-peer bound does not hold it).
			for i := range max {
				admit(fmt.Sprint("flood", i), Peer{PID: 1000 + i, UID: tc.floodUID})
			}
			rt := admit("runtime", Peer{PID: 1, UID: 0})
			a.sending(rt)
			for i := max; i < 10*max; i++ {
				admit(fmt.Sprint("flood", i), Peer{PID: 1000 + i, UID: tc.floodUID})
			}
			if evicted["runtime"] {
				t.Errorf("the runtime's connection was evicted by a flood of %d idle connections", 9*max)
			}
			if a.done(rt) {
				t.Errorf("done reports the runtime's connection evicted")
			}
			if n := a.pending.Len(); n != max-1 {
				t.Errorf("%d connections being read, want %d", n, max-1)
			}
		})
	}
	// Among connections that all sent something, the oldest goes.
	a := newAdmission(2, 10)
	var gone []int
	for i := range 4 {
		pc, _ := a.admit(Peer{PID: 10 + i, UID: 5}, func() { gone = append(gone, i) })
		a.sending(pc)
	}
	if fmt.Sprint(gone) != "[0 1]" {
		t.Errorf("evicted %v, want the two oldest [0 1]", gone)
	}
	if len(a.byUID) != 1 || a.byUID[5] != 2 || len(a.byPeer) != 2 {
		t.Errorf("counts by uid %v by peer %v after evictions", a.byUID, a.byPeer)
	}
}
