package profile

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/internal/errnames"
)

// DefaultErrno is the errno that the calls a written profile does not
// allow fail with, unless WithDefaultErrno says otherwise: ENOSYS, "this
// kernel has no such call".
//
// ENOSYS rather than EPERM because programs treat the two differently. A
// C library or a runtime that tries a newer call first (clone3, faccessat2,
// openat2, statx, close_range, pidfd_open, rseq) takes ENOSYS as "old
// kernel" and falls back to the older call, which the profile allows if
// the program was seen using it; EPERM is taken as a real failure, and the
// program breaks where it would have worked (runc #2151: glibc's clone3
// under EPERM; containers/common PR #573 made ENOSYS the default for the
// same reason). A call that was never recorded then fails the way an
// unimplemented call does, which programs are written to survive.
const DefaultErrno = syscall.ENOSYS

// sideField is the key of the writer's own data in the profile object. The
// runtimes ignore fields they do not know (runc and containerd decode with
// encoding/json; crun's parser skips unknown keys; checked with runc 1.1.5
// and crun 1.8.1), so the file loads unchanged.
const sideField = "seccompstream"

// sideInfo is what the writer keeps beside the profile.
type sideInfo struct {
	// Coverage counts how often each call was seen, per architecture.
	Coverage map[specs.Arch]map[string]uint64 `json:"coverage,omitempty"`
}

// A WriteOption changes what the writer produces.
type WriteOption func(*writeConfig)

type writeConfig struct {
	errno      syscall.Errno
	noCoverage bool
}

// WithDefaultErrno sets the errno of the default action (1..4095);
// default DefaultErrno (ENOSYS).
func WithDefaultErrno(e syscall.Errno) WriteOption {
	return func(c *writeConfig) { c.errno = e }
}

// WithoutCoverage leaves the counts out of the file (Marshal and
// WriteFile), so that it depends only on which calls were seen.
func WithoutCoverage() WriteOption {
	return func(c *writeConfig) { c.noCoverage = true }
}

func newWriteConfig(opts []WriteOption) (*writeConfig, error) {
	c := &writeConfig{errno: DefaultErrno}
	for _, o := range opts {
		o(c)
	}
	if c.errno <= 0 || c.errno > errnames.Max {
		return nil, fmt.Errorf("profile: default errno %d out of range (1..%d)", int64(c.errno), errnames.Max)
	}
	return c, nil
}

// OCI returns p as an OCI linux.seccomp value that runc and crun load:
//
//   - defaultAction SCMP_ACT_ERRNO with defaultErrnoRet DefaultErrno
//     (ENOSYS; see its doc for why not EPERM), or WithDefaultErrno's;
//   - architectures: p's architectures, sorted;
//   - one SCMP_ACT_ALLOW rule with the sorted names of the calls allowed
//     with any arguments, then one SCMP_ACT_ALLOW rule per argument rule
//     of the other calls, sorted by name and rule.
//
// An OCI profile names calls for all its architectures at once, so a name
// that p has on one architecture is allowed on every listed architecture
// that has a call of that name; a call allowed with any arguments on one
// architecture and under argument rules on another is allowed with any
// arguments. Reading the result back gives those names on each
// architecture (Marshal(Parse(Marshal(p))) is Marshal(p)).
func (p *Profile) OCI(opts ...WriteOption) (*specs.LinuxSeccomp, error) {
	c, err := newWriteConfig(opts)
	if err != nil {
		return nil, err
	}
	errno := uint(c.errno)
	s := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &errno,
		Architectures:   p.Arches(),
	}
	anyArgs := map[string]bool{}
	ruled := map[string]map[string]ArgRule{} // name -> rule key -> rule
	for _, m := range p.arches {
		for name, e := range m {
			if len(e.rules) == 0 {
				anyArgs[name] = true
				continue
			}
			if ruled[name] == nil {
				ruled[name] = map[string]ArgRule{}
			}
			for _, r := range e.rules {
				ruled[name][r.key] = r.rule
			}
		}
	}
	if len(anyArgs) > 0 {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
			Names:  slices.Sorted(maps.Keys(anyArgs)),
			Action: specs.ActAllow,
		})
	}
	for _, name := range slices.Sorted(maps.Keys(ruled)) {
		if anyArgs[name] {
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(ruled[name])) {
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
				Names:  []string{name},
				Action: specs.ActAllow,
				Args:   slices.Clone(ruled[name][key]),
			})
		}
	}
	return s, nil
}

// file is the written form: the linux.seccomp fields in the runtime
// spec's order, then the side field.
type file struct {
	DefaultAction   specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet *uint                    `json:"defaultErrnoRet,omitempty"`
	Architectures   []specs.Arch             `json:"architectures,omitempty"`
	Syscalls        []specs.LinuxSyscall     `json:"syscalls,omitempty"`
	Side            *sideInfo                `json:"seccompstream,omitempty"`
}

// Marshal returns p as an OCI seccomp profile file: the JSON object of
// OCI, tab-indented, ending in a newline, with the counts in a field named
// "seccompstream" ({"coverage": {ARCH: {NAME: COUNT}}}; calls with count 0
// are left out, and the field when no call has a count) that runtimes
// ignore. The output depends only on p's calls, rules and counts: the
// same profile always gives the same bytes. It can be used as the
// linux.seccomp of a config.json, as a Kubernetes Localhost profile, or
// with docker --security-opt seccomp=FILE.
func (p *Profile) Marshal(opts ...WriteOption) ([]byte, error) {
	s, err := p.OCI(opts...)
	if err != nil {
		return nil, err
	}
	c, _ := newWriteConfig(opts)
	f := file{
		DefaultAction:   s.DefaultAction,
		DefaultErrnoRet: s.DefaultErrnoRet,
		Architectures:   s.Architectures,
		Syscalls:        s.Syscalls,
	}
	if !c.noCoverage {
		cov := map[specs.Arch]map[string]uint64{}
		for arch, m := range p.arches {
			for name, e := range m {
				if e.count == 0 {
					continue
				}
				if cov[arch] == nil {
					cov[arch] = map[string]uint64{}
				}
				cov[arch][name] = e.count
			}
		}
		if len(cov) > 0 {
			f.Side = &sideInfo{Coverage: cov}
		}
	}
	b, err := json.MarshalIndent(f, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteFile writes Marshal's output to the file name (mode 0644), through
// a temporary file in the same directory renamed into place, so that
// readers never see half a profile.
func (p *Profile) WriteFile(name string, opts ...WriteOption) error {
	b, err := p.Marshal(opts...)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	_, werr := tmp.Write(b)
	if werr == nil {
		werr = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), name)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("profile: %w", werr)
	}
	return nil
}
