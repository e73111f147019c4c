package seccompstream

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/unotify"
)

// maxErrno is the largest errno the kernel's error convention allows
// (MAX_ERRNO): a negative return value in [-4095, -1] is an error.
const maxErrno = 4095

type responseKind uint8

const (
	kindInvalid responseKind = iota // the zero Response
	kindReturn
	kindErrno
	kindContinue
)

// Response is the answer to one notification. Build it with Return, Errno,
// Error or Continue; the zero Response is not a valid answer and Respond
// rejects it. A Response is a small value: copy it freely.
type Response struct {
	kind  responseKind
	val   int64
	errno syscall.Errno
}

// Return makes the notified call return val to the target, as if the kernel
// had run it and it had succeeded. For calls whose success value is
// meaningful (a file descriptor, a byte count), the target uses val as such.
func Return(val int64) Response { return Response{kind: kindReturn, val: val} }

// Errno makes the notified call fail with e (a positive errno such as
// unix.EPERM): the target sees -1 and errno e. An e outside 1..4095 is
// rejected by Respond before anything reaches the kernel.
func Errno(e syscall.Errno) Response { return Response{kind: kindErrno, errno: e} }

// Error makes the notified call fail with the errno found in err's chain
// (errors.As to syscall.Errno), or with EPERM when err holds none or holds
// one outside 1..4095. Error(nil) is Return(0).
func Error(err error) Response {
	if err == nil {
		return Return(0)
	}
	var e syscall.Errno
	if errors.As(err, &e) && e > 0 && e <= maxErrno {
		return Errno(e)
	}
	return Errno(unix.EPERM)
}

// Continue lets the kernel run the notified call as if no filter had stopped
// it (SECCOMP_USER_NOTIF_FLAG_CONTINUE, Linux 5.5).
//
// Continue is unsafe as a security decision. The kernel reads the call's
// memory arguments again when it runs the call, after the supervisor looked
// at them, and any thread of the target (or another process sharing its
// memory) can change them in between: a path that was "/tmp/ok" when the
// supervisor read it can be "/etc/shadow" when the kernel opens it. Use
// Continue for tracing and for decisions made from register arguments alone;
// to enforce a policy on pointed-to data, perform the call in the supervisor
// and answer with its result (Return, or RespondFD for new files).
//
// A Continue response carries no value and no error; there is no way to
// build one that does.
func Continue() Response { return Response{kind: kindContinue} }

// IsContinue reports whether r lets the kernel run the call.
func (r Response) IsContinue() bool { return r.kind == kindContinue }

// Errno returns the errno r answers with, or 0 if r is not an error answer.
func (r Response) Errno() syscall.Errno {
	if r.kind != kindErrno {
		return 0
	}
	return r.errno
}

// Value returns the value r answers with (0 for error and Continue answers).
func (r Response) Value() int64 { return r.val }

// String describes r, e.g. "return 3", "errno EPERM", "continue".
func (r Response) String() string {
	switch r.kind {
	case kindReturn:
		return fmt.Sprintf("return %d", r.val)
	case kindErrno:
		if name := unix.ErrnoName(r.errno); name != "" {
			return "errno " + name
		}
		return fmt.Sprintf("errno %d", int(r.errno))
	case kindContinue:
		return "continue"
	}
	return "invalid response"
}

// Valid reports whether Respond would accept r.
func (r Response) Valid() bool { return r.check() == nil }

// check says why r cannot be sent, without a prefix: each caller (Respond,
// Serve's WithFallback, HandlerError) names itself once.
func (r Response) check() error {
	switch r.kind {
	case kindReturn, kindContinue:
		return nil
	case kindErrno:
		if r.errno <= 0 || r.errno > maxErrno {
			return fmt.Errorf("errno %d out of range 1..%d", int64(r.errno), maxErrno)
		}
		return nil
	}
	return errors.New("zero Response (build one with Return, Errno, Error or Continue)")
}

// fill sets the answer fields of the kernel response.
func (r Response) fill(resp *unotify.Resp) {
	switch r.kind {
	case kindReturn:
		resp.Val = r.val
	case kindErrno:
		resp.Error = -int32(r.errno)
	case kindContinue:
		resp.Flags = unotify.FlagContinue
	}
}
