package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/seccompstream/seccompstream/internal/errnames"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// An Action is what a Policy does with one notified call. The zero Action
// is not valid.
type Action struct {
	kind  actionKind
	errno syscall.Errno
}

type actionKind uint8

const (
	actInvalid actionKind = iota
	actAllow
	actTrace
	actDeny
)

// Policy actions.
var (
	// Allow lets the kernel run the call (seccompstream.Continue) without
	// logging it.
	Allow = Action{kind: actAllow}
	// Trace logs the call and lets the kernel run it.
	Trace = Action{kind: actTrace}
)

// Deny returns the action that logs the call and fails it with e.
func Deny(e syscall.Errno) Action { return Action{kind: actDeny, errno: e} }

// ParseAction parses an action as policy files spell it: "allow", "trace",
// "deny" (EPERM) or "deny:ERRNO", where ERRNO is a name such as "EACCES"
// (any case) or a number in 1..4095.
func ParseAction(s string) (Action, error) {
	verb, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	switch verb {
	case "allow", "trace":
		if hasArg {
			return Action{}, fmt.Errorf("agent: action %q: %s takes no argument", s, verb)
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
			return Action{}, fmt.Errorf("agent: action %q: %w", s, err)
		}
		return Deny(e), nil
	}
	return Action{}, fmt.Errorf(`agent: unknown action %q (want "allow", "trace", "deny" or "deny:ERRNO")`, s)
}

// String returns the action as ParseAction reads it ("deny:EACCES").
func (a Action) String() string {
	switch a.kind {
	case actAllow:
		return "allow"
	case actTrace:
		return "trace"
	case actDeny:
		if name := unix.ErrnoName(a.errno); name != "" {
			return "deny:" + name
		}
		return "deny:" + strconv.Itoa(int(a.errno))
	}
	return "invalid"
}

// Logged reports whether calls with this action are to be logged (trace
// and deny).
func (a Action) Logged() bool { return a.kind == actTrace || a.kind == actDeny }

// Errno returns the errno of a deny action, 0 for the others.
func (a Action) Errno() syscall.Errno { return a.errno }

// Response returns the answer for a call with this action: Continue for
// allow and trace, Errno for deny.
//
// Continue lets the kernel run the call after the agent looked at it, so
// a policy that allows by path or other pointed-to data is not a security
// boundary (see seccompstream.Continue); deciding by system call alone, as
// a Policy does, is not affected.
func (a Action) Response() seccompstream.Response {
	if a.kind == actDeny {
		return seccompstream.Errno(a.errno)
	}
	return seccompstream.Continue()
}

// MarshalText returns String.
func (a Action) MarshalText() ([]byte, error) {
	if a.kind == actInvalid {
		return nil, fmt.Errorf("agent: zero Action")
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

// A Policy decides the notified calls of containers by system call name,
// with rules that apply to some containers only. It is what
// "seccomp-stream agent --policy FILE" reads; see ParsePolicy for the file.
//
// The filter that notifies is the container's own (config.json's
// linux.seccomp): a policy only decides the calls that filter sends with
// SCMP_ACT_NOTIFY.
type Policy struct {
	// Default is the action for calls no rule names. Default: Trace.
	Default Action
	// Syscalls maps system call names to actions, for every container.
	Syscalls map[string]Action
	// Containers are rules for some containers; the first that matches a
	// container applies to it, on top of Default and Syscalls.
	Containers []ContainerRule
}

// A ContainerRule applies to the containers it matches.
type ContainerRule struct {
	Match Match
	// Default, when set, replaces the policy's Default.
	Default *Action
	// Syscalls add to the policy's Syscalls, and win over them.
	Syscalls map[string]Action
}

// A Match selects containers. All its fields that are set must hold; a
// Match with none set matches every container.
type Match struct {
	// ID is a pattern for the container id, in path.Match syntax
	// ("web-*").
	ID string
	// Annotations must all be present with these values. The value "*"
	// only requires the key.
	Annotations map[string]string
	// Metadata, when set, must equal the container's
	// linux.seccomp.listenerMetadata.
	Metadata *string
}

// Matches reports whether m selects container c.
func (m *Match) Matches(c *Container) bool {
	if m.ID != "" {
		if ok, _ := path.Match(m.ID, c.ID()); !ok {
			return false
		}
	}
	ann := c.Annotations()
	for k, v := range m.Annotations {
		got, ok := ann[k]
		if !ok || (v != "*" && got != v) {
			return false
		}
	}
	return m.Metadata == nil || *m.Metadata == c.Metadata()
}

// The policy file, as JSON reads it.
type policyFile struct {
	Default    string            `json:"default"`
	Syscalls   map[string]string `json:"syscalls"`
	Containers []struct {
		Match struct {
			ID          string            `json:"id"`
			Annotations map[string]string `json:"annotations"`
			Metadata    *string           `json:"metadata"`
		} `json:"match"`
		Default  string            `json:"default"`
		Syscalls map[string]string `json:"syscalls"`
	} `json:"containers"`
}

// ParsePolicy reads a policy file:
//
//	{
//	  "default": "trace",
//	  "syscalls": {"mkdir": "deny:EACCES", "mkdirat": "deny:EACCES", "unlink": "trace"},
//	  "containers": [
//	    {
//	      "match": {"annotations": {"org.example/sandbox": "strict"}},
//	      "default": "deny",
//	      "syscalls": {"unlink": "deny:EROFS"}
//	    },
//	    {
//	      "match": {"id": "debug-*", "metadata": "trusted"},
//	      "syscalls": {"mkdir": "allow", "mkdirat": "allow"}
//	    }
//	  ]
//	}
//
// Actions are as ParseAction reads them. System call names are the kernel's
// for the agent's architecture; an unknown name, an unknown field or a bad
// action is an error that names where it is. Every field is optional.
func ParsePolicy(data []byte) (*Policy, error) {
	var f policyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("agent: policy: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("agent: policy: data after the JSON object")
	}
	p := &Policy{Default: Trace}
	var err error
	if f.Default != "" {
		if p.Default, err = ParseAction(f.Default); err != nil {
			return nil, fmt.Errorf("agent: policy: default: %w", err)
		}
	}
	if p.Syscalls, err = parseSyscalls("syscalls", f.Syscalls); err != nil {
		return nil, err
	}
	for i, c := range f.Containers {
		where := fmt.Sprintf("containers[%d]", i)
		r := ContainerRule{Match: Match{ID: c.Match.ID, Annotations: c.Match.Annotations, Metadata: c.Match.Metadata}}
		if c.Match.ID != "" {
			if _, err := path.Match(c.Match.ID, ""); err != nil {
				return nil, fmt.Errorf("agent: policy: %s.match.id %q: %w", where, c.Match.ID, err)
			}
		}
		if c.Default != "" {
			a, err := ParseAction(c.Default)
			if err != nil {
				return nil, fmt.Errorf("agent: policy: %s.default: %w", where, err)
			}
			r.Default = &a
		}
		if r.Syscalls, err = parseSyscalls(where+".syscalls", c.Syscalls); err != nil {
			return nil, err
		}
		p.Containers = append(p.Containers, r)
	}
	return p, nil
}

// LoadPolicy reads and parses the policy file at name.
func LoadPolicy(name string) (*Policy, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("agent: policy: %w", err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, name)
	}
	return p, nil
}

func parseSyscalls(where string, m map[string]string) (map[string]Action, error) {
	out := make(map[string]Action, len(m))
	arch := sysnames.Native()
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if _, ok := sysnames.Number(arch, name); !ok {
			return nil, fmt.Errorf("agent: policy: %s: unknown system call %q for %s", where, name, sysnames.ArchName(arch))
		}
		a, err := ParseAction(m[name])
		if err != nil {
			return nil, fmt.Errorf("agent: policy: %s.%s: %w", where, name, err)
		}
		out[name] = a
	}
	return out, nil
}

// Rules are a Policy resolved for one container.
type Rules struct {
	def      Action
	syscalls map[string]Action
	// Rule is the index of the ContainerRule that matched, -1 for none.
	Rule int
}

// For resolves the policy for container c.
func (p *Policy) For(c *Container) *Rules {
	r := &Rules{def: p.Default, syscalls: p.Syscalls, Rule: -1}
	if r.def.kind == actInvalid {
		r.def = Trace
	}
	for i := range p.Containers {
		cr := &p.Containers[i]
		if !cr.Match.Matches(c) {
			continue
		}
		r.Rule = i
		if cr.Default != nil {
			r.def = *cr.Default
		}
		if len(cr.Syscalls) > 0 {
			m := make(map[string]Action, len(p.Syscalls)+len(cr.Syscalls))
			for k, v := range p.Syscalls {
				m[k] = v
			}
			for k, v := range cr.Syscalls {
				m[k] = v
			}
			r.syscalls = m
		}
		break
	}
	return r
}

// Action returns the action for a call by its name.
func (r *Rules) Action(syscall string) Action {
	if a, ok := r.syscalls[syscall]; ok {
		return a
	}
	return r.def
}
