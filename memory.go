package seccompstream

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Memory reads the memory of a notification's target: the pointed-to
// arguments of its call (paths, structs, buffers). Get one with
// (*Notification).OpenMemory.
//
// Every read is followed by a SECCOMP_IOCTL_NOTIF_ID_VALID check before its
// bytes are handed out: if the notification is no longer pending (the target
// died, its call was interrupted, its thread id may already name another
// process), the read fails with ErrGone and the buffer is cleared. Bytes a
// read returned are what the target's memory held while its call waited;
// other threads of the target can change that memory at any time, so do not
// answer with Continue on the strength of them (see Continue).
//
// Reads use process_vm_readv(2), one system call per read and no open file.
// Where that call is unavailable (kernels built without
// CONFIG_CROSS_MEMORY_ATTACH: ENOSYS) or refused (EPERM, e.g. a supervisor
// running under a container profile that denies it), Memory switches for
// good to /proc/<tid>/mem, which it opens on first use and validates with
// ID_VALID after opening. Both see the target's memory as the kernel would
// when running its call, except that /proc/<tid>/mem can also read mappings
// the target made unreadable (PROT_NONE). An open /proc/<tid>/mem reads
// about as fast as process_vm_readv, but opening and closing it costs more
// than a read (BenchmarkReadString40; figures in BENCHMARKS.md), so
// process_vm_readv is the better default for the usual one or two reads per
// notification.
//
// A Memory is safe for concurrent use. Close releases the /proc file, if
// one was opened; a Memory that never needed it holds no resources, but
// closing it is still good practice.
type Memory struct {
	id   uint64
	tid  int
	arch uint32
	// ptr64: the call's pointers are 64-bit (callIs64; false for x32).
	ptr64 bool
	s     *Stream

	// procOnly is set once process_vm_readv was found unusable (or by
	// tests, to measure the /proc path).
	procOnly atomic.Bool
	closed   atomic.Bool

	// mu guards memFD's life: readers and writers hold it for reading
	// while they use the fd; opening it and Close take it for writing.
	mu    sync.RWMutex
	memFD int // /proc/<tid>/mem, or -1 until first needed
}

// OpenMemory returns access to the target's memory. It fails with ErrGone
// when the notification is no longer pending, and with an error naming the
// reason when the target is not visible from the supervisor's pid namespace
// (PID 0) or the Notification did not come from a Stream. The validity of
// the notification is checked after the access is set up, so a target
// thread id that was reused by another process is never read from.
func (n *Notification) OpenMemory() (*Memory, error) {
	m, err := n.memory()
	if err != nil {
		return nil, err
	}
	if err := m.s.idValid(m.id); err != nil {
		return nil, err
	}
	return m, nil
}

func (n *Notification) memory() (*Memory, error) {
	m := new(Memory)
	if err := n.initMemory(m); err != nil {
		return nil, err
	}
	return m, nil
}

// initMemory sets m up for n's target; it opens nothing.
func (n *Notification) initMemory(m *Memory) error {
	if n == nil {
		return errNilNotification
	}
	if n.s == nil {
		return fmt.Errorf("seccompstream: notification %d did not come from a Stream", n.ID)
	}
	if n.PID <= 0 {
		return fmt.Errorf("seccompstream: target of notification %d is not visible in the supervisor's pid namespace (pid 0): its memory cannot be read", n.ID)
	}
	m.id, m.tid, m.arch, m.s, m.memFD = n.ID, n.PID, n.Arch, n.s, -1
	m.ptr64 = callIs64(n.Arch, n.Syscall)
	return nil
}

// ReadString reads the NUL-terminated string at addr in the target's memory,
// as (*Memory).ReadString does, for one-off reads.
func (n *Notification) ReadString(addr uint64, max int) (string, error) {
	var m Memory
	if err := n.initMemory(&m); err != nil {
		return "", err
	}
	defer m.Close()
	return m.ReadString(addr, max)
}

// Close releases the Memory. Reads after Close fail with an error matching
// os.ErrClosed. Close is safe to call more than once.
func (m *Memory) Close() error {
	if !m.closed.CompareAndSwap(false, true) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.memFD >= 0 {
		err := unix.Close(m.memFD)
		m.memFD = -1
		if err != nil {
			return fmt.Errorf("seccompstream: close /proc/%d/mem: %w", m.tid, err)
		}
	}
	return nil
}

// errMemoryClosed is returned by Memory methods after Close. It matches
// os.ErrClosed.
var errMemoryClosed = fmt.Errorf("seccompstream: target memory closed: %w", os.ErrClosed)

// ReadAt reads len(p) bytes of the target's memory at address off
// (io.ReaderAt). It returns n < len(p) only with an error: one that matches
// ErrGone when the notification is no longer pending (n is then 0 and p is
// cleared), or one that matches unix.EFAULT when the range runs into memory
// the target cannot read (n counts the bytes before it, which were
// validated). Negative offsets (kernel addresses) fail with EFAULT.
func (m *Memory) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, faultError(uint64(off), len(p))
	}
	return m.readValid(p, uint64(off))
}

// readValid reads p at addr and then checks the notification, clearing p
// when the check fails.
func (m *Memory) readValid(p []byte, addr uint64) (int, error) {
	n, rerr := m.readFull(p, addr)
	if err := m.s.idValid(m.id); err != nil {
		clear(p)
		return 0, err
	}
	return n, rerr
}

// readFull fills p from addr without validating. A short read ends in an
// error matching EFAULT.
func (m *Memory) readFull(p []byte, addr uint64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := m.read(p[done:], addr+uint64(done))
		done += n
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, faultError(addr+uint64(done), len(p)-done)
		}
	}
	return done, nil
}

// read makes one attempt at reading p at addr: process_vm_readv, or
// /proc/<tid>/mem once that is known not to work. It may return fewer bytes
// than asked (a fault after the first page) with a nil error.
func (m *Memory) read(p []byte, addr uint64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if m.closed.Load() {
		return 0, errMemoryClosed
	}
	if addr+uint64(len(p)) < addr {
		return 0, faultError(addr, len(p))
	}
	if !m.procOnly.Load() {
		local := [1]unix.Iovec{{Base: &p[0]}}
		local[0].SetLen(len(p))
		remote := [1]unix.RemoteIovec{{Base: uintptr(addr), Len: len(p)}}
		for {
			n, err := unix.ProcessVMReadv(m.tid, local[:], remote[:], 0)
			switch err {
			case nil:
				return n, nil
			case unix.EINTR:
				continue
			case unix.EFAULT:
				return 0, faultError(addr, len(p))
			case unix.ESRCH:
				return 0, ErrGone
			case unix.ENOSYS, unix.EPERM:
				// Unavailable or forbidden here; /proc may still work.
				m.procOnly.Store(true)
			default:
				return 0, fmt.Errorf("seccompstream: process_vm_readv(tid %d, %#x, %d): %w", m.tid, addr, len(p), err)
			}
			break
		}
	}
	return m.procRead(p, addr)
}

func (m *Memory) procRead(p []byte, addr uint64) (int, error) {
	if addr > math.MaxInt64 {
		// Not a user-space address; pread cannot even express it.
		return 0, faultError(addr, len(p))
	}
	if err := m.openProc(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.memFD < 0 {
		return 0, errMemoryClosed
	}
	for {
		n, err := unix.Pread(m.memFD, p, int64(addr))
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EIO, unix.EFAULT:
			// /proc/<pid>/mem reports an unmapped first page as EIO.
			return 0, faultError(addr, len(p))
		}
		return 0, fmt.Errorf("seccompstream: read /proc/%d/mem at %#x: %w", m.tid, addr, err)
	}
}

// openProc opens /proc/<tid>/mem if it is not open yet, and checks the
// notification after opening: the thread id must still name the target.
func (m *Memory) openProc() error {
	m.mu.RLock()
	open := m.memFD >= 0
	m.mu.RUnlock()
	if open {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return errMemoryClosed
	}
	if m.memFD >= 0 {
		return nil
	}
	path := "/proc/" + strconv.Itoa(m.tid) + "/mem"
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if verr := m.s.idValid(m.id); verr != nil {
			return verr
		}
		return fmt.Errorf("seccompstream: open %s: %w", path, err)
	}
	if err := m.s.idValid(m.id); err != nil {
		unix.Close(fd)
		return err
	}
	m.memFD = fd
	return nil
}

// ReadString reads the NUL-terminated string at addr in the target's memory
// and returns it without the NUL. max bounds the read, NUL included, as
// PATH_MAX (4096) does for paths: ReadString never reads at or beyond
// addr+max. The string may cross page boundaries and may end at the very
// end of a mapping; it is read in small chunks, so a short string near
// unmapped memory costs one read.
//
// Errors: one matching unix.ENAMETOOLONG when there is no NUL within max
// bytes (never a truncated string); one matching unix.EFAULT when the
// memory before the NUL is not readable (a bad pointer); ErrGone when the
// notification is no longer pending. Error(err) turns each into the errno
// the kernel itself would have returned to the target.
func (m *Memory) ReadString(addr uint64, max int) (string, error) {
	if max <= 0 {
		return "", fmt.Errorf("seccompstream: ReadString at %#x: max %d must be positive: %w", addr, max, unix.EINVAL)
	}
	// Most strings are short: try a stack buffer first. Chunks grow after
	// that; a read that meets unmapped memory returns the bytes before it.
	var small [256]byte
	buf := small[:min(max, len(small))]
	n, err := m.read(buf, addr)
	if err != nil {
		return "", m.stringError(err)
	}
	if i := indexNUL(buf[:n]); i >= 0 {
		if err := m.s.idValid(m.id); err != nil {
			return "", err
		}
		return string(buf[:i]), nil
	}
	acc := make([]byte, 0, min(max, 4096))
	acc = append(acc, buf[:n]...)
	chunk := 1024
	for len(acc) < max {
		want := min(chunk, max-len(acc))
		if cap(acc)-len(acc) < want {
			acc = append(acc[:cap(acc)], make([]byte, want)...)[:len(acc)]
		}
		part := acc[len(acc) : len(acc)+want]
		n, err := m.read(part, addr+uint64(len(acc)))
		if err != nil {
			return "", m.stringError(err)
		}
		if n == 0 {
			return "", m.stringError(faultError(addr+uint64(len(acc)), want))
		}
		if i := indexNUL(part[:n]); i >= 0 {
			if err := m.s.idValid(m.id); err != nil {
				return "", err
			}
			return string(acc[:len(acc)+i]), nil
		}
		acc = acc[:len(acc)+n]
		chunk = min(chunk*2, 64<<10)
	}
	if err := m.s.idValid(m.id); err != nil {
		return "", err
	}
	return "", fmt.Errorf("seccompstream: no NUL within %d bytes of target memory at %#x: %w", max, addr, unix.ENAMETOOLONG)
}

// stringError prefers ErrGone over a read error: a fault in the memory of a
// process that is gone says nothing about the target.
func (m *Memory) stringError(err error) error {
	if err == errMemoryClosed {
		return err
	}
	if verr := m.s.idValid(m.id); verr != nil {
		return verr
	}
	return err
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func faultError(addr uint64, n int) error {
	return fmt.Errorf("seccompstream: target memory %#x..%#x is not readable: %w", addr, addr+uint64(n), unix.EFAULT)
}

// UnsafeWriteAt writes p into the target's memory at addr and returns how
// many bytes were written.
//
// It is unsafe, and named so, because nothing can make a write to another
// process's memory correct in general:
//   - the target's other threads run meanwhile and may be using that memory:
//     the write races with them and can corrupt their state;
//   - the write goes through /proc/<tid>/mem, which the kernel lets write
//     even read-only mappings (FOLL_FORCE): a wrong address can patch the
//     target's code or constants instead of failing;
//   - the notification can be withdrawn (the target interrupted or killed)
//     at any moment: the write may land in memory the target no longer
//     expects to change. The file is opened and checked against the
//     notification before the first write, so a reused thread id never
//     directs a write at another process, and UnsafeWriteAt reports ErrGone
//     when the check after the write fails; the bytes are written all the
//     same.
//
// Prefer answers that need no writing: emulate the call in the supervisor
// and return its result, or hand over a file descriptor with RespondFD.
func (m *Memory) UnsafeWriteAt(p []byte, addr uint64) (int, error) {
	if m.closed.Load() {
		return 0, errMemoryClosed
	}
	if addr+uint64(len(p)) < addr || addr > math.MaxInt64 {
		return 0, fmt.Errorf("seccompstream: target memory %#x..%#x is not writable: %w", addr, addr+uint64(len(p)), unix.EFAULT)
	}
	if err := m.openProc(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	done := 0
	var werr error
	for done < len(p) && werr == nil {
		if m.memFD < 0 {
			werr = errMemoryClosed
			break
		}
		n, err := unix.Pwrite(m.memFD, p[done:], int64(addr+uint64(done)))
		switch {
		case err == unix.EINTR:
		case err == unix.EIO || err == unix.EFAULT:
			werr = fmt.Errorf("seccompstream: target memory %#x..%#x is not writable: %w", addr+uint64(done), addr+uint64(len(p)), unix.EFAULT)
		case err != nil:
			werr = fmt.Errorf("seccompstream: write /proc/%d/mem at %#x: %w", m.tid, addr+uint64(done), err)
		case n == 0:
			werr = fmt.Errorf("seccompstream: target memory %#x..%#x is not writable: %w", addr+uint64(done), addr+uint64(len(p)), unix.EFAULT)
		default:
			done += n
		}
	}
	m.mu.RUnlock()
	if err := m.s.idValid(m.id); err != nil {
		return done, err
	}
	return done, werr
}
