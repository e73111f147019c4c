// Package errnames parses errno names for the CLI and the agent's policy
// files, so both accept exactly the same spellings.
package errnames

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Max is the largest errno a seccomp answer can carry (the kernel's MAX_ERRNO).
const Max = 4095

// Parse parses "EACCES", "eacces" or "13" into an errno in 1..Max.
func Parse(s string) (syscall.Errno, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty errno")
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > Max {
			return 0, fmt.Errorf("errno %d out of range 1..%d", n, Max)
		}
		return syscall.Errno(n), nil
	}
	want := strings.ToUpper(s)
	for e := syscall.Errno(1); e <= Max; e++ {
		if unix.ErrnoName(e) == want {
			return e, nil
		}
	}
	return 0, fmt.Errorf("unknown errno %q", s)
}
