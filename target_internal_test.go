package seccompstream

import (
	"slices"
	"testing"
)

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

func TestSysctlNamespaces(t *testing.T) {
	for rel, want := range map[string][]string{
		"":                          nil,
		"/":                         nil,
		"/net":                      {"net"},
		"/net/ipv4/ip_default_ttl":  {"net"},
		"/user/max_user_namespaces": {"user"},
		"/fs/mqueue":                {"ipc"},
		"/fs/mqueue/msg_max":        {"ipc"},
		"/fs/file-max":              nil,
		"/kernel/shmmax":            {"ipc"},
		"/kernel/shm_rmid_forced":   {"ipc"},
		"/kernel/msgmnb":            {"ipc"},
		"/kernel/sem":               {"ipc"},
		"/kernel/auto_msgmni":       {"ipc"},
		"/kernel/hostname":          nil,
		"/kernel/ostype":            nil,
		"/kernel":                   nil,
		"/vm/overcommit_memory":     nil,
		"/netfilter":                nil,
	} {
		if got := sysctlNamespaces(rel); !slices.Equal(got, want) {
			t.Errorf("sysctlNamespaces(%q) = %v, want %v", rel, got, want)
		}
	}
}
