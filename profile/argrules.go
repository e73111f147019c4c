package profile

import (
	"runtime"
	"slices"
	"sync/atomic"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysargs"
)

// DefaultArgValues is the number of distinct values WithArgRules keeps
// per call when it is given 0.
const DefaultArgValues = 8

// CloneNamespaceMask is the part of clone's flags that argument rules
// record: the CLONE_NEW* bits, which decide whether a new thread or process
// also gets new namespaces (Docker's default profile tests clone with the
// same mask). The other bits vary from one thread or fork to the next
// (CLONE_SETTLS, CLONE_PARENT_SETTID, the exit signal) and say nothing a
// profile should decide on.
const CloneNamespaceMask = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// argKinds are the parameter kinds whose values WithArgRules records, and
// how: each is a register value, never a pointer (sysargs.Kind.Pointer is
// false for all of them), so a filter sees exactly what was recorded.
var argKinds = map[sysargs.Kind]struct {
	op   specs.LinuxSeccompOperator
	mask uint64 // for OpMaskedEqual
}{
	sysargs.SocketFamily: {op: specs.OpEqualTo}, // socket, socketpair: arg 0
	sysargs.Personality:  {op: specs.OpEqualTo}, // personality
	sysargs.CloneFlags:   {op: specs.OpMaskedEqual, mask: CloneNamespaceMask},
	sysargs.UnshareFlags: {op: specs.OpEqualTo}, // unshare, setns
	sysargs.PrctlOption:  {op: specs.OpEqualTo}, // prctl's option
}

// WithArgRules makes the Recorder keep, for the calls listed below, the
// distinct values of one register argument, up to maxValues of them per
// call of each architecture (DefaultArgValues when maxValues is 0): the
// profile then allows each such call only with one of the values it was
// seen with (an SCMP_ACT_ALLOW rule per value, with "args"). A call seen
// with more distinct values than that is allowed whatever its arguments
// (the name-only fallback), as are calls of architectures where the tables
// do not place the argument.
//
// The arguments are chosen by their kind in the system call tables, and
// only scalar register arguments are ever recorded, never memory the
// arguments point to (which the program could change after a filter
// looked at it):
//
//	socket, socketpair  the address family (arg 0): AF_UNIX, AF_INET, ...
//	personality         the persona
//	clone               the flags under CloneNamespaceMask (SCMP_CMP_MASKED_EQ):
//	                    which namespaces a new process gets
//	unshare, setns      the namespace flags
//	prctl               the option (PR_SET_NAME, PR_SET_NO_NEW_PRIVS, ...)
//
// clone3 takes its flags in memory and is recorded by name only. An
// argument rule narrows a profile: a later run that takes another path (an
// IPv6 socket where the recording saw only IPv4) fails where a name-only
// profile would not. Record the runs that matter, and merge them.
//
// The rule compares the register as the filter will see it (the raw
// value, not truncated to the parameter's C type), with the argument's
// register index on the recorded architecture. OCI profiles name calls for
// all their architectures at once, so the index must be the same on each
// architecture a profile lists: it is for the calls above on x86_64, x32
// and i386, and on aarch64 and arm.
//
// A maxValues below 0 is taken as 0.
func WithArgRules(maxValues int) RecorderOption {
	return func(r *Recorder) {
		if maxValues <= 0 {
			maxValues = DefaultArgValues
		}
		r.argMax = maxValues
	}
}

// argValues is the set of values seen for one argument of one call: a
// fixed number of slots filled in order, without a lock. A slot is claimed
// (state 0 -> 1), written, then published (1 -> 2); a writer that meets a
// claimed slot waits for it to be published before comparing, so one
// value never takes two slots. When every slot is taken by other values,
// full is set and the call is recorded by name only.
type argValues struct {
	reg   int8
	op    specs.LinuxSeccompOperator
	mask  uint64
	state []atomic.Uint32
	vals  []atomic.Uint64
	full  atomic.Bool
}

const (
	slotFree = iota
	slotClaimed
	slotSet
)

// newArgValues returns the value set for call nr of audit, or nil when the
// call has no argument whose values are recorded.
func newArgValues(audit uint32, nr int32, max int) *argValues {
	s, ok := sysargs.Lookup(audit, nr)
	if !ok {
		return nil
	}
	for _, p := range s.Params {
		k, ok := argKinds[p.Kind]
		if !ok || p.Kind.Pointer() || p.Hi != -1 || p.Reg < 0 || p.Reg > 5 {
			continue
		}
		return &argValues{
			reg:   p.Reg,
			op:    k.op,
			mask:  k.mask,
			state: make([]atomic.Uint32, max),
			vals:  make([]atomic.Uint64, max),
		}
	}
	return nil
}

// add records value v of the argument.
func (a *argValues) add(v uint64) {
	if a.op == specs.OpMaskedEqual {
		v &= a.mask
	}
	if a.full.Load() {
		return
	}
	for i := range a.state {
		for {
			switch a.state[i].Load() {
			case slotSet:
				if a.vals[i].Load() == v {
					return
				}
			case slotFree:
				if !a.state[i].CompareAndSwap(slotFree, slotClaimed) {
					continue // somebody else claimed it: look again
				}
				a.vals[i].Store(v)
				a.state[i].Store(slotSet)
				return
			default: // claimed: its value is being written
				runtime.Gosched()
				continue
			}
			break
		}
	}
	a.full.Store(true)
}

// rules returns one rule per value seen, sorted by key, or nil when the
// call is to be recorded by name only: it has no recorded argument (a is
// nil), more values were seen than the set holds, or none was published
// yet.
func (a *argValues) rules() []keyedRule {
	if a == nil || a.full.Load() {
		return nil
	}
	var out []keyedRule
	for i := range a.state {
		if a.state[i].Load() != slotSet {
			continue
		}
		arg := specs.LinuxSeccompArg{Index: uint(a.reg), Op: a.op, Value: a.vals[i].Load()}
		if a.op == specs.OpMaskedEqual {
			arg.Value, arg.ValueTwo = a.mask, arg.Value
		}
		kr, err := ArgRule{arg}.canonical()
		if err != nil {
			return nil // cannot happen: index and operator are ours
		}
		out = append(out, kr)
	}
	slices.SortFunc(out, func(x, y keyedRule) int {
		switch {
		case x.key < y.key:
			return -1
		case x.key > y.key:
			return 1
		}
		return 0
	})
	return out
}
