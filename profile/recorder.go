package profile

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// A Recorder records the system calls of the notifications it sees:
// (architecture, call) with a count. As a seccompstream.Handler it answers
// every call with Continue, so the program runs as it would without it;
// Wrap puts it in front of another Handler instead. Profile returns what it
// saw so far.
//
// Use it with (*seccompstream.Stream).Serve, or return it from an
// agent.Server's NewHandler (one Recorder per container), over a filter
// that notifies every call to be recorded: a call the filter allows or
// denies by itself never reaches the Recorder. Each notification carries
// the architecture of its call, so i386 calls of an x86_64 program (int
// $0x80) and x32 calls are recorded as SCMP_ARCH_X86 and SCMP_ARCH_X32.
//
// Continue is safe here because the Recorder decides nothing: it lets
// every call run (see seccompstream.Continue for why deciding by memory
// contents and then answering Continue is not).
//
// With WithArgRules, the Recorder also keeps, for a few calls, the values
// of one scalar register argument (a socket family, a personality, clone
// flags under a mask) and the profile allows those calls with those values
// only; see WithArgRules.
//
// A Recorder is safe for concurrent use. Recording a call costs a few
// atomic operations and no allocation, except the first call of an
// architecture, and calls whose number is outside the architecture's
// table (those go to a map under a lock).
//
// The zero Recorder is ready to use; it records calls without their
// arguments.
type Recorder struct {
	// argMax is WithArgRules's cap; 0: no argument rules. Set before the
	// first Record, never changed after.
	argMax int

	// tabs holds one counter table per ABI seen; it only grows, by
	// copy-on-write under mu, so Record reads it without locking.
	tabs atomic.Pointer[[]*abiCounts]

	mu    sync.Mutex
	other map[abiCall]uint64 // numbers outside every table, unknown ABIs
}

// abiCounts counts the calls of one ABI, indexed by number minus lo.
// args, when argument rules are recorded, holds for each call number the
// values of its recorded argument (nil for calls without one).
type abiCounts struct {
	audit  uint32
	x32    bool
	lo     int32
	counts []atomic.Uint64
	args   []*argValues
}

type abiCall struct {
	audit uint32
	x32   bool
	nr    int32
}

// An UnknownCall is a call that the Recorder saw but cannot name: its
// number is in no system call table of its architecture (a call newer
// than the tables, or a bogus number), or its architecture has no OCI
// name. A profile cannot allow it by name.
type UnknownCall struct {
	Arch    uint32 // AUDIT_ARCH_* value, as in Notification.Arch
	Syscall int32  // as in Notification.Syscall (x32 bit included)
	Count   uint64
}

// A RecorderOption changes what a Recorder records.
type RecorderOption func(*Recorder)

// NewRecorder returns an empty Recorder.
func NewRecorder(opts ...RecorderOption) *Recorder {
	r := &Recorder{}
	for _, o := range opts {
		o(r)
	}
	return r
}

// ServeNotification records n and answers Continue.
func (r *Recorder) ServeNotification(_ context.Context, n *seccompstream.Notification) seccompstream.Response {
	r.Record(n)
	return seccompstream.Continue()
}

// Wrap returns a Handler that records each notification and then lets
// next answer it.
func (r *Recorder) Wrap(next seccompstream.Handler) seccompstream.Handler {
	return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		r.Record(n)
		return next.ServeNotification(ctx, n)
	})
}

// Record counts n's call. It reads only n.Arch and n.Syscall.
func (r *Recorder) Record(n *seccompstream.Notification) {
	audit, nr, x32 := n.Arch, n.Syscall, false
	if sysnames.IsX32(audit, nr) {
		nr &^= sysnames.X32Bit
		x32 = true
	}
	if t := r.find(audit, x32); t != nil {
		if i := int64(nr) - int64(t.lo); i >= 0 && i < int64(len(t.counts)) {
			t.count(i, &n.Args)
			return
		}
	}
	r.recordSlow(audit, x32, nr, &n.Args)
}

// count counts call i of the table, and its argument value if it has a
// recorded argument.
func (t *abiCounts) count(i int64, args *[6]uint64) {
	t.counts[i].Add(1)
	if t.args != nil {
		if a := t.args[i]; a != nil {
			a.add(args[a.reg])
		}
	}
}

func (r *Recorder) find(audit uint32, x32 bool) *abiCounts {
	if p := r.tabs.Load(); p != nil {
		for _, t := range *p {
			if t.audit == audit && t.x32 == x32 {
				return t
			}
		}
	}
	return nil
}

func (r *Recorder) recordSlow(audit uint32, x32 bool, nr int32, args *[6]uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.find(audit, x32)
	if t == nil {
		t = newABICounts(audit, x32, r.argMax)
		if t != nil {
			var tabs []*abiCounts
			if p := r.tabs.Load(); p != nil {
				tabs = slices.Clone(*p)
			}
			tabs = append(tabs, t)
			r.tabs.Store(&tabs)
		}
	}
	if t != nil {
		if i := int64(nr) - int64(t.lo); i >= 0 && i < int64(len(t.counts)) {
			t.count(i, args)
			return
		}
	}
	if r.other == nil {
		r.other = make(map[abiCall]uint64)
	}
	r.other[abiCall{audit, x32, nr}]++
}

// newABICounts sizes a table for the numbers of audit's system call
// table, or returns nil when the ABI has no table or no OCI name. With
// argMax > 0 it also makes the value sets of the calls whose arguments
// are recorded (see WithArgRules).
func newABICounts(audit uint32, x32 bool, argMax int) *abiCounts {
	if _, ok := ociArch(audit, x32); !ok {
		return nil
	}
	names := sysnames.Names(audit)
	if len(names) == 0 {
		return nil
	}
	lo, hi := int32(1<<31-1), int32(-1<<31)
	for _, name := range names {
		nr, _ := sysnames.Number(audit, name)
		lo, hi = min(lo, nr), max(hi, nr)
	}
	t := &abiCounts{audit: audit, x32: x32, lo: lo}
	if x32 {
		// x32 has numbers of its own above x86_64's (512-547), which
		// Number does not resolve: find the last one Name knows.
		for nr := hi + 1; nr < hi+1024; nr++ {
			if _, ok := t.name(nr); ok {
				hi = nr
			}
		}
	}
	t.counts = make([]atomic.Uint64, hi-lo+1)
	if argMax > 0 {
		t.args = make([]*argValues, len(t.counts))
		for i := range t.args {
			t.args[i] = newArgValues(audit, t.nr(lo+int32(i)), argMax)
		}
	}
	return t
}

// Profile returns the calls recorded so far, with their counts. Calls
// recorded while it runs may or may not be in it; once the streams the
// Recorder serves have ended it has every call.
func (r *Recorder) Profile() *Profile {
	p := New()
	for _, t := range r.tables() {
		arch, _ := ociArch(t.audit, t.x32)
		for i := range t.counts {
			c := t.counts[i].Load()
			if c == 0 {
				continue
			}
			name, ok := t.name(t.lo + int32(i))
			if !ok {
				continue
			}
			var a *argValues
			if t.args != nil {
				a = t.args[i]
			}
			rules := a.rules()
			if len(rules) == 0 {
				p.add(arch, name, c, nil)
				continue
			}
			for j, kr := range rules {
				if j > 0 {
					c = 0 // the call's count goes with its first rule
				}
				p.add(arch, name, c, []keyedRule{kr})
			}
		}
	}
	return p
}

// Unknown returns the calls the Recorder saw but cannot name, sorted by
// architecture and number.
func (r *Recorder) Unknown() []UnknownCall {
	var out []UnknownCall
	for _, t := range r.tables() {
		for i := range t.counts {
			nr := t.lo + int32(i)
			if c := t.counts[i].Load(); c != 0 {
				if _, ok := t.name(nr); !ok {
					out = append(out, UnknownCall{Arch: t.audit, Syscall: t.nr(nr), Count: c})
				}
			}
		}
	}
	r.mu.Lock()
	for k, c := range r.other {
		nr := k.nr
		if k.x32 {
			nr |= sysnames.X32Bit
		}
		out = append(out, UnknownCall{Arch: k.audit, Syscall: nr, Count: c})
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b UnknownCall) int {
		return cmp.Or(cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Syscall, b.Syscall))
	})
	return out
}

func (r *Recorder) tables() []*abiCounts {
	if p := r.tabs.Load(); p != nil {
		return *p
	}
	return nil
}

// nr returns the number the kernel reported for table number nr.
func (t *abiCounts) nr(nr int32) int32 {
	if t.x32 {
		return nr | sysnames.X32Bit
	}
	return nr
}

// name returns the call's name in its architecture's terms (x32 calls by
// their x86_64 names, as OCI profiles name them).
func (t *abiCounts) name(nr int32) (string, bool) {
	name, ok := sysnames.Name(t.audit, t.nr(nr))
	return strings.TrimSuffix(name, sysnames.X32Suffix), ok
}
