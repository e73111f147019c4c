package emulate

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// Network carries out the network calls of programs under a
// NetworkPolicy, for them: connect and bind on the program's own socket
// (a copy of its descriptor, pidfd_getfd) with the address it checked,
// and datagrams with a destination sent with the checked address and the
// data read from the program's memory. It refuses, with EACCES, what the
// policy does not name, and with EPERM the calls that would go around it.
// See the package documentation for the calls and for what is guaranteed.
//
// Use it as a Handler for the calls it handles (ServeNotification), or put
// its routes in a seccompstream.Mux (Register); in both cases build the
// filter with AddRules, so that the calls reach it. Network is safe for
// concurrent use. A blocking connect or send runs in its own handler and
// holds up no other call; when the program gives up the call (it was
// killed, or a signal interrupted it) the handler's context ends and the
// supervisor's part of the call is ended too (see the package
// documentation, "Blocking calls").
type Network struct {
	policy        NetworkPolicy
	connect, bind []netEntry
	onDeny        func(context.Context, *seccompstream.Notification, seccompstream.Response)
}

// NewNetwork returns the handlers of policy p. It fails, with an
// *AddressError naming the item, when p does not Validate. OnDeny is the
// one Option it takes.
func NewNetwork(p NetworkPolicy, opts ...Option) (*Network, error) {
	connect, bind, err := p.entries()
	if err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	nw := &Network{connect: connect, bind: bind, onDeny: o.onDeny}
	for _, e := range connect {
		nw.policy.Connect = append(nw.policy.Connect, e.String())
	}
	for _, e := range bind {
		nw.policy.Bind = append(nw.policy.Bind, e.String())
	}
	return nw, nil
}

// Policy returns the policy nw enforces, its items cleaned (paths cleaned,
// mapped IPv4 addresses written as IPv4, duplicates dropped).
func (nw *Network) Policy() NetworkPolicy {
	return NetworkPolicy{Connect: slices.Clone(nw.policy.Connect), Bind: slices.Clone(nw.policy.Bind)}
}

// netHandler is the handler of one system call name.
type netHandler func(c *netCall) seccompstream.Response

// netCalls are the calls Network decides, by name.
var netCalls = map[string]netHandler{
	"connect":    (*netCall).connect,
	"bind":       (*netCall).bind,
	"sendto":     (*netCall).sendto,
	"sendmsg":    (*netCall).sendmsg,
	"sendmmsg":   (*netCall).sendmmsg,
	"socket":     (*netCall).socket,
	"setsockopt": (*netCall).setsockopt,
	"socketcall": (*netCall).socketcall,
}

// Syscalls returns the names of the calls nw routes (Register), sorted:
// the calls it decides and the ones every policy of this package refuses
// because they would go around it (io_uring_setup, bpf, ...). AddRules
// makes the filter notify them, setsockopt only for the options it
// refuses.
func (nw *Network) Syscalls() []string {
	names := make([]string, 0, len(netCalls)+len(bypassCalls))
	for name := range netCalls {
		names = append(names, name)
	}
	names = append(names, bypassCalls...)
	slices.Sort(names)
	return slices.Compact(names)
}

// Register routes every call of Syscalls in m to nw, on every ABI that
// has it. Like Mux.Handle it panics if one is routed already, except for
// the calls every policy of this package refuses, which a Files in the
// same Mux may have routed.
func (nw *Network) Register(m *seccompstream.Mux) {
	for name := range netCalls {
		if knownName(name) {
			m.Handle(name, nw.route(netCalls[name]))
		}
	}
	registerBypasses(m, nw.onDeny)
}

func (nw *Network) route(h netHandler) seccompstream.Handler {
	return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return nw.serve(ctx, n, h)
	})
}

// ServeNotification decides the network call n, or refuses it; a call
// that is not one of Syscalls gets ENOSYS.
func (nw *Network) ServeNotification(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
	s, ok := sysargs.Lookup(n.Arch, n.Syscall)
	if !ok {
		return seccompstream.Errno(unix.ENOSYS)
	}
	if h, ok := netCalls[s.Name]; ok {
		return nw.serve(ctx, n, h)
	}
	if slices.Contains(bypassCalls, s.Name) {
		return refuse(ctx, n, nw.onDeny)
	}
	return seccompstream.Errno(unix.ENOSYS)
}

func (nw *Network) serve(ctx context.Context, n *seccompstream.Notification, h netHandler) seccompstream.Response {
	c, ok := newCall(ctx, nil, n)
	if !ok {
		// A call the tables cannot describe on this ABI: nothing to find
		// its address by.
		return nw.deny(ctx, n, seccompstream.Errno(unix.ENOSYS))
	}
	defer c.close()
	nc := &netCall{call: c, nw: nw}
	r := h(nc)
	if c.denied {
		return nw.deny(ctx, n, r)
	}
	return r
}

func (nw *Network) deny(ctx context.Context, n *seccompstream.Notification, r seccompstream.Response) seccompstream.Response {
	if nw.onDeny != nil {
		nw.onDeny(ctx, n, r)
	}
	return r
}

// AddRules makes f notify the calls of Syscalls (on each of f's ABIs that
// has it), so that they reach nw, except setsockopt, which is notified
// only for the options Network refuses (IP_OPTIONS, IPV6_RTHDR and the
// like: they route packets through other addresses). When f's default
// action is Allow it also lets the calls run unnotified whose registers
// alone show they need no decision: socket for the families and types
// the policy allows, sendto without a destination, and the socketcall
// calls (i386) that take no address. The other calls keep f's rules and
// default.
//
// It fails when one of these calls has an unconditional rule with
// another action in f already, when f's mismatch action lets calls of
// other ABIs run unseen (Allow, Log, Trace), and on kernels without
// SECCOMP_IOCTL_NOTIF_ADDFD (Linux 5.9; pidfd_getfd, 5.6, comes before),
// with an error matching seccompstream.ErrNotSupported.
//
// The filter must have no other rule that lets these calls run: a
// conditional Allow added elsewhere for connect would win over AddRules'
// Notify and let those connects reach the kernel unchecked.
func (nw *Network) AddRules(f *filter.Filter) error {
	if err := checkKernel(); err != nil {
		return err
	}
	if err := checkMismatch(f, "network"); err != nil {
		return err
	}
	names := slices.DeleteFunc(nw.Syscalls(), func(s string) bool { return s == "setsockopt" })
	if err := notifyNames(f, names); err != nil {
		return err
	}
	if err := notifySetsockopt(f); err != nil {
		return err
	}
	if f.DefaultAction() == filter.Allow {
		return allowPlainSocketCalls(f)
	}
	return nil
}

// filterHas reports whether an ABI of f has the call name.
func filterHas(f *filter.Filter, name string) bool {
	for _, a := range f.Arches() {
		if _, ok := sysnames.Number(a, name); ok {
			return true
		}
	}
	return false
}

// cond32 holds when the int argument in register reg equals v: the low
// 32 bits only, as the kernel reads an int (the upper half of a 64-bit
// register is not defined for it).
func cond32(reg int, v uint64) filter.Cond { return filter.Arg(reg).MaskedEq(0xffffffff, v) }

// sameReg returns the register of the nth parameter of kind k of the call
// name, when it is the same on every ABI of f that has the call.
func sameReg(f *filter.Filter, name string, k sysargs.Kind, nth int) (int, bool) {
	reg := -1
	for _, a := range f.Arches() {
		s, ok := sysargs.LookupName(a, name)
		if !ok {
			continue
		}
		i, left := -1, nth
		for j, p := range s.Params {
			if p.Kind == k {
				if left == 0 {
					i = j
					break
				}
				left--
			}
		}
		if i < 0 || s.Params[i].Hi >= 0 || (reg >= 0 && int(s.Params[i].Reg) != reg) {
			return -1, false
		}
		reg = int(s.Params[i].Reg)
	}
	return reg, reg >= 0
}

// notifySetsockopt notifies setsockopt for the options refusedSockopts
// names; where the level and option are not in the same registers on
// every ABI of f, every setsockopt.
func notifySetsockopt(f *filter.Filter) error {
	level, ok1 := sameReg(f, "setsockopt", sysargs.Int, 0)
	opt, ok2 := sameReg(f, "setsockopt", sysargs.Int, 1)
	if !ok1 || !ok2 {
		return notifyNames(f, []string{"setsockopt"})
	}
	for _, o := range refusedSockopts {
		if err := f.AddIf(filter.Notify, "setsockopt", cond32(level, uint64(o.level)), cond32(opt, uint64(o.name))); err != nil {
			return fmt.Errorf("emulate: %w", err)
		}
	}
	return nil
}

// allowPlainSocketCalls adds the Allow rules of AddRules for calls that
// need no decision.
func allowPlainSocketCalls(f *filter.Filter) error {
	add := func(name string, conds ...filter.Cond) error {
		if err := f.AddIf(filter.Allow, name, conds...); err != nil {
			return fmt.Errorf("emulate: %w", err)
		}
		return nil
	}
	fam, ok1 := sameReg(f, "socket", sysargs.SocketFamily, 0)
	typ, ok2 := sameReg(f, "socket", sysargs.SocketType, 0)
	proto, ok3 := sameReg(f, "socket", sysargs.Int, 0)
	if ok1 && ok2 && ok3 {
		for _, a := range allowedSockets {
			conds := []filter.Cond{cond32(fam, uint64(a.family))}
			if a.typ < 0 {
				if err := add("socket", conds...); err != nil {
					return err
				}
				continue
			}
			for _, p := range a.protos {
				if err := add("socket", append(conds, filter.Arg(typ).MaskedEq(sockTypeMask, uint64(a.typ)), cond32(proto, uint64(p)))...); err != nil {
					return err
				}
			}
		}
	}
	if reg, ok := sameReg(f, "sendto", sysargs.Sockaddr, 0); ok {
		if err := add("sendto", filter.Arg(reg).Eq(0)); err != nil {
			return err
		}
	}
	if reg, ok := sameReg(f, "sendto", sysargs.SockaddrLen, 0); ok {
		if err := add("sendto", cond32(reg, 0)); err != nil {
			return err
		}
	}
	if !filterHas(f, "socketcall") {
		return nil
	}
	if reg, ok := sameReg(f, "socketcall", sysargs.SocketCall, 0); ok {
		for _, sub := range plainSocketCalls {
			if err := add("socketcall", cond32(reg, uint64(sub))); err != nil {
				return err
			}
		}
	}
	return nil
}
