package agent

import (
	"testing"
	"time"
)

// TestLogLimitOrder: records that reach the bucket out of time order
// (their goroutines raced to its lock) do not take tokens away.
func TestLogLimitOrder(t *testing.T) {
	var l logLimit
	t0 := time.Unix(1000, 0)
	logged := 0
	// A full burst, each record read its time 1 ms before the previous
	// one's: without the guard every one would cost a little extra.
	for i := range refusalLogBurst {
		if ok, _ := l.allow(t0.Add(-time.Duration(i) * time.Millisecond)); ok {
			logged++
		}
	}
	if logged != refusalLogBurst {
		t.Errorf("%d of a burst of %d logged", logged, refusalLogBurst)
	}
	if ok, _ := l.allow(t0); ok {
		t.Error("a record past the burst was logged at once")
	}
	ok, held := l.allow(t0.Add(refusalLogEvery))
	if !ok || held != 1 {
		t.Errorf("after %v: logged %v with %d held, want true with 1", refusalLogEvery, ok, held)
	}
}
