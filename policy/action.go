package policy

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/errnames"
)

// An Action is what a rule set does with one notified call: let it run
// unseen (Allow), show it and let it run (Trace), or show it and fail it
// with an errno (Deny). The zero Action is Allow. Actions are comparable
// with ==.
type Action struct {
	kind  actionKind
	errno syscall.Errno
}

type actionKind uint8

const (
	kindAllow actionKind = iota
	kindTrace
	kindDeny
)

// The actions that take no errno.
var (
	// Allow lets the kernel run the call (seccompstream.Continue) and
	// does not show it. It is the zero Action.
	Allow = Action{}
	// Trace shows the call and lets the kernel run it.
	Trace = Action{kind: kindTrace}
)

// Deny returns the action that shows the call and fails it with e, which
// must be in 1..4095 (Validate and the parsers check it).
func Deny(e syscall.Errno) Action { return Action{kind: kindDeny, errno: e} }

// ParseAction parses an action as lists and policy files spell it:
// "allow", "trace", "deny" (EPERM) or "deny:ERRNO", where ERRNO is an errno
// name such as "EACCES" (any case) or a number in 1..4095.
func ParseAction(s string) (Action, error) {
	a, err := parseAction(s)
	if err != nil {
		return Action{}, fmt.Errorf("policy: %w", err)
	}
	return a, nil
}

// parseAction is ParseAction without the package prefix on errors, for
// callers that say where the action was.
func parseAction(s string) (Action, error) {
	verb, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	switch verb {
	case "allow", "trace":
		if hasArg {
			return Action{}, fmt.Errorf("action %q: %s takes no argument", s, verb)
		}
		if verb == "allow" {
			return Allow, nil
		}
		return Trace, nil
	case "deny":
		if !hasArg {
			return Deny(unix.EPERM), nil
		}
		e, err := errnames.Parse(arg)
		if err != nil {
			return Action{}, fmt.Errorf("action %q: %w", s, err)
		}
		return Deny(e), nil
	}
	return Action{}, fmt.Errorf(`unknown action %q (want "allow", "trace", "deny" or "deny:ERRNO")`, s)
}

// String returns the action as ParseAction reads it: "allow", "trace",
// "deny:EACCES" (a deny always names its errno).
func (a Action) String() string {
	switch a.kind {
	case kindAllow:
		return "allow"
	case kindTrace:
		return "trace"
	case kindDeny:
		return "deny:" + errnames.Name(a.errno)
	}
	return fmt.Sprintf("action(%d)", a.kind)
}

// Shown reports whether calls with this action are shown: Trace and Deny.
func (a Action) Shown() bool { return a.kind == kindTrace || a.kind == kindDeny }

// Errno returns the errno of a Deny action, 0 for the others.
func (a Action) Errno() syscall.Errno { return a.errno }

// Response returns the answer for a call with this action: Continue for
// Allow and Trace, Errno for Deny.
//
// Continue lets the kernel run the call after the supervisor looked at it,
// so an allow that depended on pointed-to data (a path) would not be a
// security boundary (see seccompstream.Continue). A rule set decides by
// system call alone and is not affected.
func (a Action) Response() seccompstream.Response {
	if a.kind == kindDeny {
		return seccompstream.Errno(a.errno)
	}
	return seccompstream.Continue()
}

// valid reports an action that cannot be answered: a Deny whose errno is
// outside 1..4095.
func (a Action) valid() error {
	switch a.kind {
	case kindAllow, kindTrace:
		return nil
	case kindDeny:
		if a.errno <= 0 || a.errno > errnames.Max {
			return fmt.Errorf("deny errno %d out of range 1..%d", int64(a.errno), errnames.Max)
		}
		return nil
	}
	return errors.New("invalid action")
}

// MarshalText returns String.
func (a Action) MarshalText() ([]byte, error) {
	if err := a.valid(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return []byte(a.String()), nil
}

// UnmarshalText parses with ParseAction.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
