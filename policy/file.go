package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"reflect"
	"slices"

	"github.com/seccompstream/seccompstream/emulate"
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
	// Files, when not nil, adds its paths to the policy's file policy
	// (or makes one).
	Files *emulate.FilePolicy
	// Network, when not nil, adds its addresses to the policy's network
	// policy (or makes one).
	Network *emulate.NetworkPolicy
	// Intercepts are added to the policy's; one of the same name
	// replaces the policy's.
	Intercepts map[string]Intercept
}

// A Match selects subjects. Every field that is set must hold; a Match with
// none set selects every subject.
type Match struct {
	// ID is a pattern for the container id, in path.Match syntax
	// ("web-*").
	ID string
	// Namespace, Pod and Container are patterns (path.Match syntax) for
	// the subject's Kubernetes namespace, pod name and container name in
	// the pod. A pattern that is set never matches a subject that lacks
	// the field (a container started without Kubernetes), not even "*".
	Namespace, Pod, Container string
	// Annotations must all be present with these values. The value "*"
	// only requires the key.
	Annotations map[string]string
	// Metadata, when not nil, must equal the subject's Metadata (the
	// container's linux.seccomp.listenerMetadata).
	Metadata *string
	// MetadataValues must all be among the KEY=VALUE lines of the
	// subject's listenerMetadata (Subject.MetadataValues) with these
	// values. The value "*" only requires the key.
	MetadataValues map[string]string
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
	// Namespace, Pod and Container are the container's Kubernetes
	// namespace, pod name and name in the pod; "" when unknown.
	Namespace, Pod, Container string
	// MetadataValues are the KEY=VALUE lines of Metadata.
	MetadataValues map[string]string
}

// Matches reports whether m selects s.
func (m *Match) Matches(s Subject) bool {
	for _, f := range [...]struct{ pattern, value string }{
		{m.ID, s.ID}, {m.Namespace, s.Namespace}, {m.Pod, s.Pod}, {m.Container, s.Container},
	} {
		if f.pattern == "" {
			continue
		}
		if ok, _ := path.Match(f.pattern, f.value); !ok || f.value == "" {
			return false
		}
	}
	return hasAll(s.Annotations, m.Annotations) && hasAll(s.MetadataValues, m.MetadataValues) &&
		(m.Metadata == nil || *m.Metadata == s.Metadata)
}

// hasAll reports whether have holds every key of want with its value ("*":
// any value).
func hasAll(have, want map[string]string) bool {
	for k, v := range want {
		got, ok := have[k]
		if !ok || (v != "*" && got != v) {
			return false
		}
	}
	return true
}

// checkPatterns reports the first bad path.Match pattern of m.
func (m *Match) checkPatterns(where string) error {
	for _, f := range [...]struct{ name, pattern string }{
		{"id", m.ID}, {"namespace", m.Namespace}, {"pod", m.Pod}, {"container", m.Container},
	} {
		if f.pattern == "" {
			continue
		}
		if _, err := path.Match(f.pattern, ""); err != nil {
			return fmt.Errorf("%s.match.%s %q: %w", where, f.name, f.pattern, err)
		}
	}
	return nil
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
func (p *Policy) For(s Subject) *Rules { return p.rulesFor(p.Select(s)) }

// rulesFor returns the rule set of the subjects container rule i applies
// to (-1: none does).
func (p *Policy) rulesFor(i int) *Rules {
	r := &Rules{Default: p.Rules.Default, Syscalls: p.Rules.Syscalls, Files: p.Rules.Files, Network: p.Rules.Network, Intercepts: p.Rules.Intercepts}
	if i < 0 {
		return r
	}
	cr := &p.Containers[i]
	if cr.Default != nil {
		r.Default = *cr.Default
	}
	r.Files = mergeFiles(p.Rules.Files, cr.Files)
	r.Network = mergeNetwork(p.Rules.Network, cr.Network)
	r.Syscalls = overlay(p.Rules.Syscalls, cr.Syscalls)
	r.Intercepts = overlay(p.Rules.Intercepts, cr.Intercepts)
	return r
}

// overlay returns base with over's entries added (winning), as a new map
// when over has any, base itself otherwise.
func overlay[V any](base, over map[string]V) map[string]V {
	if len(over) == 0 {
		return base
	}
	m := maps.Clone(base)
	if m == nil {
		m = make(map[string]V, len(over))
	}
	maps.Copy(m, over)
	return m
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
		if err := cr.Match.checkPatterns(where); err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		r := Rules{Syscalls: cr.Syscalls, Files: cr.Files, Network: cr.Network, Intercepts: cr.Intercepts}
		if cr.Default != nil {
			r.Default = *cr.Default
		}
		if err := r.validate(abis, where+"."); err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		if err := p.rulesFor(i).validateFiles(where + "."); err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		if err := p.rulesFor(i).validateNetwork(where + "."); err != nil {
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
//	ruleSetJSON: "profile": "FILE"                            an OCI seccomp profile
//
// Each becomes a field of Rules (or of Match and Subject) with the same
// meaning at both levels, and For merges it as it merges Syscalls.
type (
	fileJSON struct {
		ruleSetJSON
		Containers []containerJSON `json:"containers,omitempty"`
	}
	ruleSetJSON struct {
		Default    string                   `json:"default,omitempty"`
		Syscalls   map[string]string        `json:"syscalls,omitempty"`
		Files      *filesJSON               `json:"files,omitempty"`
		Network    *networkJSON             `json:"network,omitempty"`
		Intercepts map[string]interceptJSON `json:"intercepts,omitempty"`
	}
	networkJSON struct {
		Connect []string `json:"connect,omitempty"`
		Bind    []string `json:"bind,omitempty"`
	}
	filesJSON struct {
		Read  []string `json:"read,omitempty"`
		Write []string `json:"write,omitempty"`
	}
	containerJSON struct {
		Match matchJSON `json:"match"`
		ruleSetJSON
	}
	matchJSON struct {
		ID             string            `json:"id,omitempty"`
		Namespace      string            `json:"namespace,omitempty"`
		Pod            string            `json:"pod,omitempty"`
		Container      string            `json:"container,omitempty"`
		Annotations    map[string]string `json:"annotations,omitempty"`
		Metadata       *string           `json:"metadata,omitempty"`
		MetadataValues map[string]string `json:"metadataValues,omitempty"`
	}
)

// Parse reads a policy file (the format is in the package documentation).
// An unknown field, a field name in another case than the format's
// ("Default"), a key given twice in one object, an unknown system call
// name, a bad action or a bad ID pattern is an error that says where it is
// ("containers[1].syscalls.mkdir").
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
	if err := checkKeys(data, reflect.TypeFor[fileJSON]()); err != nil {
		return nil, err
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
	if p.Rules.Files, err = parseFilesJSON("files", f.Files); err != nil {
		return nil, err
	}
	if p.Rules.Network, err = parseNetworkJSON("network", f.Network); err != nil {
		return nil, err
	}
	if p.Rules.Intercepts, err = parseIntercepts("intercepts", f.Intercepts); err != nil {
		return nil, err
	}
	for i, c := range f.Containers {
		where := fmt.Sprintf("containers[%d]", i)
		cr := ContainerRule{Match: Match{ID: c.Match.ID, Namespace: c.Match.Namespace, Pod: c.Match.Pod,
			Container: c.Match.Container, Metadata: c.Match.Metadata}}
		if len(c.Match.Annotations) > 0 {
			cr.Match.Annotations = c.Match.Annotations
		}
		if len(c.Match.MetadataValues) > 0 {
			cr.Match.MetadataValues = c.Match.MetadataValues
		}
		if err := cr.Match.checkPatterns(where); err != nil {
			return nil, err
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
		if cr.Files, err = parseFilesJSON(where+".files", c.Files); err != nil {
			return nil, err
		}
		if cr.Network, err = parseNetworkJSON(where+".network", c.Network); err != nil {
			return nil, err
		}
		if cr.Intercepts, err = parseIntercepts(where+".intercepts", c.Intercepts); err != nil {
			return nil, err
		}
		p.Containers = append(p.Containers, cr)
	}
	// A file policy and an "allow" of a call it carries out, at the top
	// level or in what a container gets.
	for i := -1; i < len(p.Containers); i++ {
		where := ""
		if i >= 0 {
			where = fmt.Sprintf("containers[%d].", i)
		}
		if err := p.rulesFor(i).validateFiles(where); err != nil {
			return nil, err
		}
		if err := p.rulesFor(i).validateNetwork(where); err != nil {
			return nil, err
		}
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
	f := fileJSON{ruleSetJSON: ruleSetJSONOf(&p.Rules.Default, p.Rules.Syscalls, p.Rules.Files, p.Rules.Network)}
	f.Intercepts = interceptsJSON(p.Rules.Intercepts)
	for _, cr := range p.Containers {
		f.Containers = append(f.Containers, containerJSON{
			Match: matchJSON{ID: cr.Match.ID, Namespace: cr.Match.Namespace, Pod: cr.Match.Pod, Container: cr.Match.Container,
				Annotations: cr.Match.Annotations, Metadata: cr.Match.Metadata, MetadataValues: cr.Match.MetadataValues},
			ruleSetJSON: ruleSetJSONOf(cr.Default, cr.Syscalls, cr.Files, cr.Network),
		})
		f.Containers[len(f.Containers)-1].Intercepts = interceptsJSON(cr.Intercepts)
	}
	return json.Marshal(f)
}

func ruleSetJSONOf(def *Action, syscalls map[string]Action, files *emulate.FilePolicy, network *emulate.NetworkPolicy) ruleSetJSON {
	var rs ruleSetJSON
	if files != nil {
		rs.Files = &filesJSON{Read: files.Read, Write: files.Write}
	}
	if network != nil {
		rs.Network = &networkJSON{Connect: network.Connect, Bind: network.Bind}
	}
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
