package agent

import (
	"context"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/policy"
)

// Subject returns what a policy.Match looks at for c: its id,
// annotations, listenerMetadata and its pod identity (Identity: namespace,
// pod, container name, metadata KEY=VALUE lines).
func (c *Container) Subject() policy.Subject {
	id := c.Identity()
	return policy.Subject{ID: c.ID(), Annotations: c.Annotations(), Metadata: c.Metadata(),
		Namespace: id.Namespace, Pod: id.Pod, Container: id.Container, MetadataValues: id.Metadata}
}

// PolicyHandler returns a Server.NewHandler that serves each container by
// the rule set p gives it (p.For(c.Subject())): a policy.Rules.Handler,
// which routes by system call name on every ABI. show, if not nil, is
// called for every call that rule set shows (trace and deny), with the
// container and the answer, before the answer is sent; it may read the
// caller's memory, and is called concurrently.
//
// The filter that notifies is the container's own (config.json's
// linux.seccomp): p decides only the calls that filter sends with
// SCMP_ACT_NOTIFY: a policy with intercepts wants the profile to notify
// their calls (InterceptRules). That holds for a file policy ("files")
// and a network policy ("network") too: each is enforced only if the
// container's profile notifies every call that emulate.Files or
// emulate.Network routes (their Syscalls; for the network, setsockopt
// only matters for the options it refuses); calls it lets run reach the
// kernel unchecked. PolicyHandler returns the error of p.Validate.
func PolicyHandler(p *policy.Policy, show func(c *Container, n *seccompstream.Notification, r seccompstream.Response)) (func(*Container) seccompstream.Handler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return func(c *Container) seccompstream.Handler {
		var sf policy.ShowFunc
		if show != nil {
			sf = func(_ context.Context, n *seccompstream.Notification, r seccompstream.Response) { show(c, n, r) }
		}
		h, err := p.For(c.Subject()).Handler(sf)
		if err != nil {
			// Only if p was changed after the check: refuse the container
			// (the Server logs it) rather than serve it half right.
			return nil
		}
		return h
	}, nil
}
