package sectest

import (
	"testing"
	"time"
)

// pollEvery is how often Poll asks: /proc and counters have no event to
// wait on, and a few milliseconds cost nothing next to Patience.
const pollEvery = 5 * time.Millisecond

// Poll calls cond every few milliseconds until it reports true, for
// Patience at most, and reports whether it did. It takes no testing.TB:
// goroutines other than the test's use it, and callers that want their
// own failure message (with what they saw last) call it too.
func Poll(cond func() bool) bool {
	deadline := time.Now().Add(Patience)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
	return true
}

// Eventually waits, as Poll does, until cond reports true, and fails the
// test when it never did; what says, for the failure message, what it
// waited for ("3 refusals", "thread 42 gone").
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Poll(cond) {
		t.Fatalf("no %s within %v", what, Patience)
	}
}
