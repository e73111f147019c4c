package seccompstream

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStartErrorPrefix checks that Start's errors name the package once,
// however many of its own errors they wrap.
func TestStartErrorPrefix(t *testing.T) {
	inner := fmt.Errorf("seccompstream: WithSyncWakeup: %w", unix.EINVAL)
	for _, tc := range []struct {
		doing string
		err   error
		want  string
	}{
		{"", inner, "seccompstream: Start: WithSyncWakeup: invalid argument"},
		{"serving the launcher", inner, "seccompstream: Start: serving the launcher: WithSyncWakeup: invalid argument"},
		{"socketpair", unix.EMFILE, "seccompstream: Start: socketpair: too many open files"},
		{"", errors.New("filter: program too long"), "seccompstream: Start: filter: program too long"},
	} {
		err := startError(tc.doing, tc.err)
		if err.Error() != tc.want {
			t.Errorf("startError(%q, %q) = %q, want %q", tc.doing, tc.err, err, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("startError(%q, %q) does not wrap it", tc.doing, tc.err)
		}
	}
}
