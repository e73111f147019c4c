package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
)

// A Policy is what a policy file says: a rule set for every subject (the
// containers an agent serves) and rule sets for some of them. Parse and
// Load read the file; For gives the rule set of one subject.
type Policy struct {
	// Rules apply to every subject. Parse sets Rules.Default to Trace when
	// the file has no "default": an agent decides only the calls that the
	// containers' filters notify, and shows them unless told otherwise.
	Rules Rules
	// Containers are rules for some subjects: the first whose Match
	// selects a subject applies to it, on top of Rules.
	Containers []ContainerRule
}

// A ContainerRule changes the rule set for the subjects it matches.
type ContainerRule struct {
	// Match selects the subjects the rule applies to.
	Match Match
	// Default, when not nil, replaces the policy's default.
	Default *Action
	// Syscalls are added to the policy's, and win over them.
	Syscalls map[string]Action
}

// A Match selects subjects. Every field that is set must hold; a Match with
// none set selects every subject.
type Match struct {
	// ID is a pattern for the container id, in path.Match syntax
	// ("web-*").
	ID string
	// Annotations must all be present with these values. The value "*"
	// only requires the key.
	Annotations map[string]string
	// Metadata, when not nil, must equal the subject's Metadata (the
	// container's linux.seccomp.listenerMetadata).
	Metadata *string
}

// A Subject is what a Match looks at: one container process, as the agent
// knows it (agent.Container.Subject builds one).
type Subject struct {
	// ID is the container's id.
	ID string
	// Annotations are the container's annotations (config.json).
	Annotations map[string]string
	// Metadata is the container's linux.seccomp.listenerMetadata.
	Metadata string
}

// Matches reports whether m selects s.
func (m *Match) Matches(s Subject) bool {
	if m.ID != "" {
		if ok, _ := path.Match(m.ID, s.ID); !ok {
			return false
		}
	}
	for k, v := range m.Annotations {
		got, ok := s.Annotations[k]
		if !ok || (v != "*" && got != v) {
			return false
		}
	}
	return m.Metadata == nil || *m.Metadata == s.Metadata
}

// Select returns the index of the container rule that applies to s, or -1
// when none does.
func (p *Policy) Select(s Subject) int {
	for i := range p.Containers {
		if p.Containers[i].Match.Matches(s) {
			return i
		}
	}
	return -1
}

// For returns the rule set for s: the policy's Rules with the changes of
// the container rule that applies to s (see Select). The result shares no
// map with p that it changes.
func (p *Policy) For(s Subject) *Rules {
	r := &Rules{Default: p.Rules.Default, Syscalls: p.Rules.Syscalls}
	i := p.Select(s)
	if i < 0 {
		return r
	}
	cr := &p.Containers[i]
	if cr.Default != nil {
		r.Default = *cr.Default
	}
	if len(cr.Syscalls) > 0 {
		m := maps.Clone(p.Rules.Syscalls)
		if m == nil {
			m = make(map[string]Action, len(cr.Syscalls))
		}
		maps.Copy(m, cr.Syscalls)
		r.Syscalls = m
	}
	return r
}

// Validate reports the first problem of p that Parse would have refused:
// an unknown system call name, a Deny errno out of range or a bad ID
// pattern, saying where it is.
func (p *Policy) Validate() error {
	abis := ABIs()
	if err := p.Rules.validate(abis, ""); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	for i, cr := range p.Containers {
		where := fmt.Sprintf("containers[%d]", i)
		if cr.Match.ID != "" {
			if _, err := path.Match(cr.Match.ID, ""); err != nil {
				return fmt.Errorf("policy: %s.match.id %q: %w", where, cr.Match.ID, err)
			}
		}
		r := Rules{Syscalls: cr.Syscalls}
		if cr.Default != nil {
			r.Default = *cr.Default
		}
		if err := r.validate(abis, where+"."); err != nil {
			return fmt.Errorf("policy: %w", err)
		}
	}
	return nil
}

// The policy file as JSON reads it. The fields of a rule set are the same
// at the top level and in each container rule (ruleSetJSON), so that every
// kind of rule added later works in both places. Where the next kinds go
// (none is read yet, so each is an unknown field today):
//
//	ruleSetJSON: "files": {"read": [...], "write": [...]}     file allow-lists
//	             "network": {"connect": [...], "bind": [...]} address allow-lists
//	             "profile": "FILE"                            an OCI seccomp profile
//	             "intercepts": {"mknod": {...}, "sysinfo": {...}}
//	matchJSON:   "namespace", "pod", "container"              pod selectors
//
// Each becomes a field of Rules (or of Match and Subject) with the same
// meaning at both levels, and For merges it as it merges Syscalls.
type (
	fileJSON struct {
		ruleSetJSON
		Containers []containerJSON `json:"containers,omitempty"`
	}
	ruleSetJSON struct {
		Default  string            `json:"default,omitempty"`
		Syscalls map[string]string `json:"syscalls,omitempty"`
	}
	containerJSON struct {
		Match matchJSON `json:"match"`
		ruleSetJSON
	}
	matchJSON struct {
		ID          string            `json:"id,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
		Metadata    *string           `json:"metadata,omitempty"`
	}
)

// Parse reads a policy file (the format is in the package documentation).
// An unknown field, an unknown system call name, a bad action or a bad ID
// pattern is an error that says where it is ("containers[1].syscalls.mkdir").
// Every field is optional; an absent "default" means "trace".
func Parse(data []byte) (*Policy, error) {
	p, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return p, nil
}

// Load reads and parses the policy file at name. Its errors name the file.
func Load(name string) (*Policy, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", name, err)
	}
	return p, nil
}

func parse(data []byte) (*Policy, error) {
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON object")
	}
	if bytes.TrimSpace(data)[0] != '{' {
		// "null" decodes without an error; anything else that is not an
		// object fails above.
		return nil, errors.New("not a JSON object")
	}
	abis := ABIs()
	p := &Policy{Rules: Rules{Default: Trace}}
	var err error
	if f.Default != "" {
		if p.Rules.Default, err = parseAction(f.Default); err != nil {
			return nil, fmt.Errorf("default: %w", err)
		}
	}
	if p.Rules.Syscalls, err = parseSyscalls(abis, "syscalls", f.Syscalls); err != nil {
		return nil, err
	}
	for i, c := range f.Containers {
		where := fmt.Sprintf("containers[%d]", i)
		cr := ContainerRule{Match: Match{ID: c.Match.ID, Metadata: c.Match.Metadata}}
		if len(c.Match.Annotations) > 0 {
			cr.Match.Annotations = c.Match.Annotations
		}
		if c.Match.ID != "" {
			if _, err := path.Match(c.Match.ID, ""); err != nil {
				return nil, fmt.Errorf("%s.match.id %q: %w", where, c.Match.ID, err)
			}
		}
		if c.Default != "" {
			a, err := parseAction(c.Default)
			if err != nil {
				return nil, fmt.Errorf("%s.default: %w", where, err)
			}
			cr.Default = &a
		}
		if cr.Syscalls, err = parseSyscalls(abis, where+".syscalls", c.Syscalls); err != nil {
			return nil, err
		}
		p.Containers = append(p.Containers, cr)
	}
	return p, nil
}

func parseSyscalls(abis []uint32, where string, m map[string]string) (map[string]Action, error) {
	out := make(map[string]Action, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if err := checkName(abis, name); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		a, err := parseAction(m[name])
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", where, name, err)
		}
		out[name] = a
	}
	return out, nil
}

// MarshalJSON writes p as a policy file that Parse reads back to an equal
// Policy, with sorted keys.
func (p *Policy) MarshalJSON() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	f := fileJSON{ruleSetJSON: ruleSetJSONOf(&p.Rules.Default, p.Rules.Syscalls)}
	for _, cr := range p.Containers {
		f.Containers = append(f.Containers, containerJSON{
			Match:       matchJSON{ID: cr.Match.ID, Annotations: cr.Match.Annotations, Metadata: cr.Match.Metadata},
			ruleSetJSON: ruleSetJSONOf(cr.Default, cr.Syscalls),
		})
	}
	return json.Marshal(f)
}

func ruleSetJSONOf(def *Action, syscalls map[string]Action) ruleSetJSON {
	var rs ruleSetJSON
	if def != nil {
		rs.Default = def.String()
	}
	if len(syscalls) > 0 {
		rs.Syscalls = make(map[string]string, len(syscalls))
		for k, v := range syscalls {
			rs.Syscalls[k] = v.String()
		}
	}
	return rs
}
