package seccompstream

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// Mux is a Handler that routes each notification to the Handler registered
// for its system call name, the way net/http's ServeMux routes by path.
//
// Routing is by name across architectures: a Handler registered for
// "openat" gets openat from an x86_64 target, from an i386 one (int $0x80 on
// x86_64) and from an x32 one (x86_64's number with the x32 bit, or x32's
// own number where the tables know one, as for execve), although each ABI
// numbers openat differently;
// n.Arch and n.Syscall tell them apart where it matters. Calls without a
// route go to the default Handler (HandleDefault), which answers ENOSYS
// unless set. Middleware added with Use wraps the whole Mux: it sees every
// call, routed or not.
//
// A Mux is safe for concurrent use: routes may be added while it serves. A
// lookup takes no lock and does not allocate.
type Mux struct {
	mu sync.Mutex // serialises changes
	t  atomic.Pointer[muxTable]
}

// muxTable is one immutable state of a Mux.
type muxTable struct {
	routes *muxRoutes
	def    Handler
	mws    []func(Handler) Handler
	chain  Handler // mws around the table
}

// muxRoutes are the routes of a muxTable by name, and by arch and number
// once a lookup needed them. Building the numbers on first use keeps Handle
// linear in the number of names (a rule set of 300 names is one build, not
// 300); tables that differ only in default or middleware share them.
type muxRoutes struct {
	names map[string]Handler
	once  sync.Once
	byKey map[uint64]Handler // arch<<32 | number
}

func (r *muxRoutes) keys() map[uint64]Handler {
	r.once.Do(func() {
		r.byKey = make(map[uint64]Handler, len(r.names))
		for name, h := range r.names {
			for _, arch := range sysnames.Arches() {
				nr, ok := sysnames.Number(arch, name)
				if !ok {
					continue
				}
				r.byKey[muxKey(arch, nr)] = h
				if arch == unix.AUDIT_ARCH_X86_64 {
					r.byKey[muxKey(arch, nr|sysnames.X32Bit)] = h
				}
			}
		}
		if len(r.names) > 0 {
			r.addX32Own()
		}
	})
	return r.byKey
}

// addX32Own routes the x32 calls that x32 numbers apart from x86_64 (its
// own execve, ioctl, readv... from 512 up), for the tables that name them:
// the x32 names are x86_64's, so Number finds only the x86_64 number.
func (r *muxRoutes) addX32Own() {
	const x86 = unix.AUDIT_ARCH_X86_64
	for nr := int32(0); nr < x32MaxNr; nr++ {
		name, ok := sysnames.Name(x86, nr|sysnames.X32Bit)
		if !ok {
			continue
		}
		name = strings.TrimSuffix(name, sysnames.X32Suffix)
		h, ok := r.names[name]
		if !ok {
			continue
		}
		if n64, _ := sysnames.Number(x86, name); n64 != nr {
			r.byKey[muxKey(x86, nr|sysnames.X32Bit)] = h
		}
	}
}

// x32MaxNr bounds the x32 call numbers addX32Own looks at (the kernel's
// x32 table ends at 547).
const x32MaxNr = 1024

// enosysHandler answers ENOSYS: the default default.
type enosysHandler struct{}

func (enosysHandler) ServeNotification(context.Context, *Notification) Response {
	return Errno(unix.ENOSYS)
}

// NewMux returns an empty Mux: every call gets ENOSYS until routes are added.
func NewMux() *Mux {
	m := new(Mux)
	m.t.Store(newMuxTable(&muxRoutes{}, nil, nil))
	return m
}

func newMuxTable(routes *muxRoutes, def Handler, mws []func(Handler) Handler) *muxTable {
	t := &muxTable{routes: routes, def: def, mws: mws}
	if t.def == nil {
		t.def = enosysHandler{}
	}
	var h Handler = t
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
		if h == nil {
			panic(fmt.Sprintf("seccompstream: Mux.Use: middleware %d returned a nil Handler", i))
		}
	}
	t.chain = h
	return t
}

func muxKey(arch uint32, nr int32) uint64 { return uint64(arch)<<32 | uint64(uint32(nr)) }

// ServeNotification routes the call (the table without middleware).
func (t *muxTable) ServeNotification(ctx context.Context, n *Notification) Response {
	return t.lookup(n).ServeNotification(ctx, n)
}

func (t *muxTable) lookup(n *Notification) Handler {
	if h, ok := t.routes.keys()[muxKey(n.Arch, n.Syscall)]; ok {
		return h
	}
	return t.def
}

// ServeNotification passes n through the middleware to the Handler of its
// system call, or to the default Handler.
func (m *Mux) ServeNotification(ctx context.Context, n *Notification) Response {
	return m.t.Load().chain.ServeNotification(ctx, n)
}

// Handler returns the Handler that n is routed to (without the middleware),
// and whether that is a route rather than the default.
func (m *Mux) Handler(n *Notification) (h Handler, routed bool) {
	t := m.t.Load()
	h, routed = t.routes.keys()[muxKey(n.Arch, n.Syscall)]
	if !routed {
		h = t.def
	}
	return h, routed
}

// Handle routes the system call name (as Notification.SyscallName spells
// it for the native architecture: "openat", "newfstatat") to h, on every
// architecture that has a call of that name. Like net/http's ServeMux,
// Handle panics on a mistake in the program: a name that no architecture
// knows (the message names it), a nil h, or a name routed already. Use
// KnownSyscall to check names that come from users.
func (m *Mux) Handle(name string, h Handler) {
	if h == nil {
		panic(fmt.Sprintf("seccompstream: Mux.Handle(%q): nil Handler", name))
	}
	if !KnownSyscall(name) {
		panic(fmt.Sprintf("seccompstream: Mux.Handle: unknown system call %q", name))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.t.Load()
	if _, dup := old.routes.names[name]; dup {
		panic(fmt.Sprintf("seccompstream: Mux.Handle: system call %q routed twice", name))
	}
	names := make(map[string]Handler, len(old.routes.names)+1)
	for k, v := range old.routes.names {
		names[k] = v
	}
	names[name] = h
	m.t.Store(newMuxTable(&muxRoutes{names: names}, old.def, old.mws))
}

// HandleFunc routes the system call name to f; see Handle.
func (m *Mux) HandleFunc(name string, f func(ctx context.Context, n *Notification) Response) {
	if f == nil {
		panic(fmt.Sprintf("seccompstream: Mux.HandleFunc(%q): nil func", name))
	}
	m.Handle(name, HandlerFunc(f))
}

// HandleDefault sets the Handler for calls without a route (nil restores
// the default default, which answers ENOSYS). Answer(Continue()) is a common
// choice for a tracing supervisor.
func (m *Mux) HandleDefault(h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.t.Load()
	m.t.Store(newMuxTable(old.routes, h, old.mws))
}

// Use adds middleware, which wraps every call the Mux serves, routed or
// not. The first middleware added is the outermost: after Use(a, b), a call
// passes through a, then b, then reaches its route. A middleware may answer
// by itself without calling the Handler it wraps. Use panics if a
// middleware is nil or returns a nil Handler.
func (m *Mux) Use(mw ...func(Handler) Handler) {
	for i, f := range mw {
		if f == nil {
			panic(fmt.Sprintf("seccompstream: Mux.Use: middleware %d is nil", i))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.t.Load()
	mws := append(old.mws[:len(old.mws):len(old.mws)], mw...)
	m.t.Store(newMuxTable(old.routes, old.def, mws))
}

// KnownSyscall reports whether name is a system call of at least one
// architecture, that is, whether Mux.Handle accepts it.
func KnownSyscall(name string) bool {
	for _, arch := range sysnames.Arches() {
		if _, ok := sysnames.Number(arch, name); ok {
			return true
		}
	}
	return false
}

// Answer returns a Handler that answers every call with r, e.g.
// Answer(Continue()) or Answer(Errno(unix.EPERM)).
func Answer(r Response) Handler { return answerHandler{r} }

type answerHandler struct{ r Response }

func (a answerHandler) ServeNotification(context.Context, *Notification) Response { return a.r }
