package seccompstream

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/kernel"
)

// kernelError is an error value that matches both a package sentinel and a
// kernel errno, built once so hot paths return it without allocating.
type kernelError struct {
	msg   string
	errno unix.Errno
}

func (e *kernelError) Error() string { return e.msg }

// Is reports whether target is the errno this error stands for.
func (e *kernelError) Is(target error) bool {
	t, ok := target.(unix.Errno)
	return ok && t == e.errno
}

// Unwrap exposes the errno for errors.As.
func (e *kernelError) Unwrap() error { return e.errno }

// ErrGone reports that a notification can no longer be answered or
// inspected: the target was killed, or its call was interrupted by a signal
// (with SA_RESTART the call comes back as a new notification with a new ID).
// It is not a failure of the Stream. ErrGone matches unix.ENOENT too:
//
//	errors.Is(err, seccompstream.ErrGone)  // true
//	errors.Is(err, unix.ENOENT)            // true
var ErrGone error = &kernelError{msg: "seccompstream: notification is gone (target exited or call interrupted)", errno: unix.ENOENT}

// ErrAlreadyAnswered reports a Respond or RespondFD for a notification
// that was answered before, by this Notification or (the kernel's
// EINPROGRESS) through another copy of it. It matches unix.EINPROGRESS too.
// (*Notification).AddFD on an answered notification reports ErrGone: the
// call is no longer pending.
var ErrAlreadyAnswered error = &kernelError{msg: "seccompstream: notification already answered", errno: unix.EINPROGRESS}

// ErrWrongStream reports a Respond or RespondFD with a Notification that
// the Stream did not receive (it came from another Stream, or was not
// received at all). Nothing was sent: the notification still waits for
// its answer from the Stream that received it ((*Notification).Stream).
var ErrWrongStream = errors.New("seccompstream: notification was not received from this Stream")

// ErrNotListener is matched by the error of New for a file descriptor that
// is not a seccomp listener.
var ErrNotListener = errors.New("not a seccomp listener")

// ErrNotSupported is matched (errors.Is) by every error that reports a
// kernel feature the running kernel lacks, such as WithSyncWakeup before
// Linux 6.6. Package filter re-exports the same value.
var ErrNotSupported = kernel.ErrNotSupported

// UnsupportedFeatureError reports a kernel feature the running kernel does
// not have, with the first Linux version that has it. It matches
// ErrNotSupported.
type UnsupportedFeatureError = kernel.UnsupportedFeatureError

// errClosed is returned by Stream methods after Close. It matches os.ErrClosed.
var errClosed = fmt.Errorf("seccompstream: stream closed: %w", os.ErrClosed)
