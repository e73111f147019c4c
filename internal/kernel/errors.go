// Package kernel holds the feature probes for seccomp user notification and
// the error values that report a missing feature. The root package and
// package filter both re-export these values, so errors.Is works across them.
package kernel

import (
	"errors"
	"fmt"
)

// ErrNotSupported is matched by every error that reports a kernel feature the
// running kernel lacks.
var ErrNotSupported = errors.New("not supported by this kernel")

// UnsupportedFeatureError reports a kernel feature the running kernel does
// not have. It matches ErrNotSupported.
type UnsupportedFeatureError struct {
	// Name is the kernel's name for the feature, e.g.
	// "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP".
	Name string
	// MinimumVersion is the first Linux release that has it, e.g. "6.6".
	// It only shapes the message: behaviour is probed, never the version.
	MinimumVersion string
}

// Error names the feature and the first Linux release that has it.
func (e *UnsupportedFeatureError) Error() string {
	return fmt.Sprintf("%s not supported (needs Linux %s)", e.Name, e.MinimumVersion)
}

// Is makes the error match ErrNotSupported.
func (e *UnsupportedFeatureError) Is(target error) bool { return target == ErrNotSupported }
