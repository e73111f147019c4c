package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
)

// ParseNetworkLists builds the network policy of the seccomp-stream
// command's --allow-connect and --allow-bind flags: each element of
// connect and bind is one flag's value, a list of addresses separated by
// commas (see the package documentation, "Network policies"). It returns
// nil, and no error, when both are empty: no network policy. Errors name
// the flag and the item: an empty item, a host name, a missing or bad
// port, a relative unix socket path.
func ParseNetworkLists(connect, bind []string) (*emulate.NetworkPolicy, error) {
	if len(connect) == 0 && len(bind) == 0 {
		return nil, nil
	}
	p := new(emulate.NetworkPolicy)
	var err error
	for _, l := range connect {
		if p.Connect, err = addNetworkItems(p.Connect, "--allow-connect", "connect", strings.Split(l, ",")); err != nil {
			return nil, err
		}
	}
	for _, l := range bind {
		if p.Bind, err = addNetworkItems(p.Bind, "--allow-bind", "bind", strings.Split(l, ",")); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// addNetworkItems checks items of the list named list (where says whence
// they come) and appends them to out.
func addNetworkItems(out []string, where, list string, items []string) ([]string, error) {
	for _, item := range items {
		s := strings.TrimSpace(item)
		if s == "" {
			return nil, fmt.Errorf("%s: empty item in the list (two commas, or a comma at an end)", where)
		}
		p := emulate.NetworkPolicy{Connect: []string{s}}
		if list == "bind" {
			p = emulate.NetworkPolicy{Bind: []string{s}}
		}
		if err := p.Validate(); err != nil {
			var ae *emulate.AddressError
			if errors.As(err, &ae) {
				return nil, fmt.Errorf("%s %q: %v", where, s, ae.Err)
			}
			return nil, fmt.Errorf("%s %q: %w", where, s, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// mergeNetwork returns the union of two network policies; nil when both
// are.
func mergeNetwork(a, b *emulate.NetworkPolicy) *emulate.NetworkPolicy {
	if a == nil && b == nil {
		return nil
	}
	out := new(emulate.NetworkPolicy)
	for _, p := range []*emulate.NetworkPolicy{a, b} {
		if p != nil {
			out.Connect = append(out.Connect, p.Connect...)
			out.Bind = append(out.Bind, p.Bind...)
		}
	}
	return out
}

// validateNetwork checks a rule set's network policy: its items, and that
// no call it decides is allowed by name.
func (r *Rules) validateNetwork(prefix string) error {
	if r.Network == nil {
		return nil
	}
	nw, err := emulate.NewNetwork(*r.Network)
	if err != nil {
		var ae *emulate.AddressError
		if errors.As(err, &ae) {
			return fmt.Errorf("%snetwork.%s[%d] %q: %v", prefix, ae.List, ae.Index, ae.Item, ae.Err)
		}
		return fmt.Errorf("%snetwork: %w", prefix, err)
	}
	return r.checkNotAllowed(prefix, "network", nw.Syscalls())
}

// routeNetwork adds the routes of r's network policy to m (see
// routeEmulated).
func (r *Rules) routeNetwork(m *seccompstream.Mux, show ShowFunc) error {
	return r.routeEmulated(m, show, func(o emulate.Option) (emulatedPolicy, error) {
		return emulate.NewNetwork(*r.Network, o)
	})
}

// parseNetworkJSON reads the "network" field of a rule set: each item one
// address, as in the --allow-connect and --allow-bind lists but without
// commas between items.
func parseNetworkJSON(where string, n *networkJSON) (*emulate.NetworkPolicy, error) {
	if n == nil {
		return nil, nil
	}
	p := new(emulate.NetworkPolicy)
	var err error
	if p.Connect, err = addNetworkItems(nil, where+".connect", "connect", n.Connect); err != nil {
		return nil, err
	}
	if p.Bind, err = addNetworkItems(nil, where+".bind", "bind", n.Bind); err != nil {
		return nil, err
	}
	return p, nil
}
