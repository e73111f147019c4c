// Package errnames parses and prints errno names for the rule vocabulary
// (package policy) and the CLI's trace lines, so that every place accepts
// and shows exactly the same spellings.
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

// Name returns the name of e ("EACCES"), or its number ("4000") when it has
// none. Parse reads it back.
func Name(e syscall.Errno) string {
	if name := unix.ErrnoName(e); name != "" {
		return name
	}
	return strconv.Itoa(int(e))
}
