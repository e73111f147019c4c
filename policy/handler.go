package policy

import (
	"context"
	"maps"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// A ShowFunc is called for each call that a rule set shows (its action is
// Trace or Deny) with the answer the call is about to get. It runs in the
// call's handler before the answer is sent, so it may read the caller's
// memory (decode a path); it is called concurrently for different calls.
type ShowFunc func(ctx context.Context, n *seccompstream.Notification, r seccompstream.Response)

// Handler returns a Mux that answers every call by its action: each name
// of r.Syscalls is a route on every ABI that has it (x32 included), and the
// default route answers by r.Default. If show is not nil, middleware calls
// it for every call whose action is shown, after its route decided and
// before Serve sends the answer.
//
// A call the tables cannot name, an x32-only call number or a call through
// an ABI without a table, is answered by r.Default, except that when r
// denies some call (and the default does not) it gets ENOSYS: it might be
// a denied call under a number we cannot read. Such calls only reach the
// handler through a filter that notifies them (see Filter).
//
// With a file policy (r.Files) or a network policy (r.Network), every
// call it decides is routed to it (package emulate) unless r denies that
// name: it is shown when r traces it (or traces everything), and shown
// when the policy refuses it, like a denied call.
//
// Routes added to the Mux later answer as their handlers do; the show
// middleware does not show them, and neither does it show the calls of
// r's Intercepts, which their handlers (package emulate) answer.
// Handler returns the error of Validate.
func (r *Rules) Handler(show ShowFunc) (*seccompstream.Mux, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	m := seccompstream.NewMux()
	if r.Files != nil {
		if err := r.routeFiles(m, show); err != nil {
			return nil, err
		}
	}
	if r.Network != nil {
		if err := r.routeNetwork(m, show); err != nil {
			return nil, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Syscalls)) {
		if h, _ := m.Handler(probe(name)); h != nil {
			if _, ok := h.(emulatedRoute); ok {
				continue
			}
		}
		m.Handle(name, actionRoute{r.Syscalls[name]})
	}
	// Under a file or network policy a call the tables cannot name may be
	// one it decides, under a number we cannot read: it gets ENOSYS too.
	m.HandleDefault(defaultRoute{def: r.Default, strict: r.denies() || r.Files != nil || r.Network != nil})
	interceptHandlers(m, r)
	if show != nil {
		m.Use(showCalls(m, show))
	}
	return m, nil
}

// probe is a notification of the call name on the first ABI that has it,
// to ask a Mux where it routes name.
func probe(name string) *seccompstream.Notification {
	for _, a := range sysnames.Arches() {
		if nr, ok := sysnames.Number(a, name); ok {
			return &seccompstream.Notification{Arch: a, Syscall: nr}
		}
	}
	return &seccompstream.Notification{Syscall: -1}
}

// router is a route that knows the action it takes for a call.
type router interface {
	seccompstream.Handler
	action(n *seccompstream.Notification) Action
}

// actionRoute answers the calls of one name.
type actionRoute struct{ a Action }

func (r actionRoute) action(*seccompstream.Notification) Action { return r.a }

func (r actionRoute) ServeNotification(context.Context, *seccompstream.Notification) seccompstream.Response {
	return r.a.Response()
}

// defaultRoute answers the calls that no name routes.
type defaultRoute struct {
	def    Action
	strict bool // fail calls the tables cannot name
}

func (r defaultRoute) action(n *seccompstream.Notification) Action {
	if r.strict && !nameable(n) {
		return Deny(unix.ENOSYS)
	}
	return r.def
}

func (r defaultRoute) ServeNotification(_ context.Context, n *seccompstream.Notification) seccompstream.Response {
	return r.action(n).Response()
}

// nameable reports whether the tables can tell which call n is, so that
// the absence of a route means no rule names it: always for an ABI with a
// full table (every number of x86_64, i386, arm...), not for x32-only
// numbers (the x32 names are derived from x86_64's) nor for an ABI without
// a table.
func nameable(n *seccompstream.Notification) bool {
	if !sysnames.Known(n.Arch) {
		return false
	}
	if sysnames.IsX32(n.Arch, n.Syscall) {
		_, ok := sysnames.Name(n.Arch, n.Syscall)
		return ok
	}
	return true
}

// showCalls is the middleware of Handler: it shows the calls whose route
// in m has a shown action, with the answer the chain below returned.
func showCalls(m *seccompstream.Mux, show ShowFunc) func(seccompstream.Handler) seccompstream.Handler {
	return func(next seccompstream.Handler) seccompstream.Handler {
		return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
			resp := next.ServeNotification(ctx, n)
			if h, _ := m.Handler(n); h != nil {
				if rt, ok := h.(router); ok && rt.action(n).Shown() {
					show(ctx, n, resp)
				}
			}
			return resp
		})
	}
}
