package soak

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A ledger is a target's record of its calls, in a page of shared memory
// (a memfd the harness creates and the target maps), so that the harness
// can read it at any time, also after the target was killed. Both sides
// update it with atomic operations. The layout (64-bit words) is shared
// with target.c.
type ledger struct {
	mem  []byte
	file *os.File
}

// Words of a ledger. target.c has the same list.
const (
	lMagic      = iota // ledgerMagic once the target has started
	lStarted           // calls made
	lReturned          // calls that returned
	lRight             // answers that were right for their call
	lWrong             // answers that were not
	lENOSYS            // ENOSYS where the target's class allows it
	lEINTR             // EINTR where the target's signals allow it
	lOrphans           // descriptors open at the end that the target did not open (set at the end)
	lCallStart         // CLOCK_MONOTONIC ns when the call in progress started; 0 between calls
	lCurSeq            // sequence number of the call in progress (or the last one)
	lCurOp             // its op
	lDone              // 1 once the target has finished on its own
	lStop              // set by the harness: finish after the current call
	lWrongSeq          // the last wrong answer: its call,
	lWrongOp           // op,
	lWrongRet          // return value
	lWrongErrno        // and errno
	lECANCELED         // a blocked handler's own answer (ECANCELED), counted as right too
	lWords
)

// ledgerMagic is "SOAKLDGR" in little-endian byte order.
const ledgerMagic = 0x5247444c4b414f53

// newLedger makes a zeroed ledger page. The returned file is the one to
// hand to the target (as fd 3).
func newLedger() (*ledger, error) {
	fd, err := unix.MemfdCreate("soak-ledger", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("soak: memfd_create: %w", err)
	}
	const size = 4096
	if err := unix.Ftruncate(fd, size); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("soak: ftruncate ledger: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("soak: mmap ledger: %w", err)
	}
	return &ledger{mem: mem, file: os.NewFile(uintptr(fd), "soak-ledger")}, nil
}

// mapLedger maps the ledger page of fd (target side).
func mapLedger(fd int) (*ledger, error) {
	mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("soak: mmap ledger: %w", err)
	}
	return &ledger{mem: mem}, nil
}

func (l *ledger) word(i int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&l.mem[8*i]))
}

func (l *ledger) get(i int) uint64    { return l.word(i).Load() }
func (l *ledger) set(i int, v uint64) { l.word(i).Store(v) }
func (l *ledger) add(i int, v uint64) { l.word(i).Add(v) }

// close unmaps the page and closes the file.
func (l *ledger) close() {
	if l.mem != nil {
		_ = unix.Munmap(l.mem)
		l.mem = nil
	}
	if l.file != nil {
		l.file.Close()
		l.file = nil
	}
}

// snapshot is a copy of a ledger's counters.
type snapshot [lWords]uint64

func (l *ledger) snapshot() snapshot {
	var s snapshot
	for i := range s {
		s[i] = l.get(i)
	}
	return s
}

// Ops: what a call asks of the supervisor (its third argument), and so
// which answer is right. The handler and the target derive everything
// from the call's arguments: id (first), seq (second), op (third).
const (
	opValue    = iota // Return(id<<32 | seq)
	opErrno           // Errno(100 + seq%20)
	opFD              // a descriptor of the harness's memfd (content: the run's magic)
	opContinue        // Continue: the kernel runs getpriority(id, seq), which fails with EINVAL
	opPanic           // the handler panics: Serve's fallback, ENOSYS
	opInvalid         // the handler returns the zero Response: the fallback, ENOSYS
	opBlock           // the handler blocks until its context ends: the fallback, or its own ECANCELED
	opTarget          // answered as opValue, by a handler acting as the target (Target, Do)
	numOps
)

var opNames = [numOps]string{"value", "errno", "fd", "continue", "panic", "invalid", "block", "target"}

// Mixes: how often each op comes, in percent, by class. A steady target's
// stream is never disrupted, so only the op's own answer is right for it;
// a disrupted one's stream may be cancelled or closed under it, so ENOSYS
// is allowed for every op, and its handlers misbehave on purpose.
const (
	mixSteady    = 0
	mixDisrupted = 1
	mixLoop      = 2 // served by a Receive/Respond loop: no Serve, no fallback
)

var mixes = [...][numOps]int{
	mixSteady:    {opValue: 70, opErrno: 10, opFD: 10, opContinue: 10},
	mixDisrupted: {opValue: 56, opErrno: 8, opFD: 10, opContinue: 6, opPanic: 8, opInvalid: 8, opBlock: 4},
	mixLoop:      {opValue: 70, opErrno: 10, opFD: 10, opContinue: 10},
}

// pickOp returns the op of call seq of target id with mix m. target.c has
// the same function.
func pickOp(id, seq uint64, m int) uint64 {
	x := (seq*2654435761 + id*40503) % 100
	for op, pct := range mixes[m] {
		if x < uint64(pct) {
			return uint64(op)
		}
		x -= uint64(pct)
	}
	return opValue
}

// expectedErrno is the errno an opErrno call gets.
func expectedErrno(seq uint64) unix.Errno { return unix.Errno(100 + seq%20) }

// targetDoEvery: with Target/Do calls on, every this many value calls
// (by seq) is an opTarget call instead. target.c has the same.
const targetDoEvery = 20

// targetOp turns a value call into a Target/Do one where it should be.
func targetOp(op, seq uint64, targetDo bool) uint64 {
	if targetDo && op == opValue && seq%targetDoEvery == 0 {
		return opTarget
	}
	return op
}

// firstID is the smallest target id: ids are at least 3, so that
// getpriority(id, ...) run by the kernel (opContinue) fails with EINVAL.
const firstID = 16
