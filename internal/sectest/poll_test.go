package sectest_test

import (
	"sync/atomic"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

func TestPoll(t *testing.T) {
	var n atomic.Int32
	if !sectest.Poll(func() bool { return n.Add(1) == 3 }) {
		t.Fatal("Poll gave up on a condition that held at the third call")
	}
	if n.Load() != 3 {
		t.Errorf("cond called %d times, want 3 (Poll stops once it holds)", n.Load())
	}
	sectest.Eventually(t, "a true condition", func() bool { return true })
}
