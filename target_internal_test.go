package seccompstream

import "testing"

// stickyAllows as the kernel's may_create_in_sticky decides, for a file of
// another user (neither the directory's owner nor the caller).
func TestStickyAllows(t *testing.T) {
	for _, c := range []struct {
		dirMode uint32
		level   int
		want    bool
	}{
		{0o1777, 0, true},
		{0o1777, 1, false},
		{0o1777, 2, false},
		{0o1775, 1, true},
		{0o1775, 2, false},
		{0o1755, 2, true},
	} {
		if got := stickyAllows(c.dirMode, c.level); got != c.want {
			t.Errorf("stickyAllows(%#o, %d) = %v, want %v", c.dirMode, c.level, got, c.want)
		}
	}
}
