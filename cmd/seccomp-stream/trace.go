package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysargs"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// traceRecord is one traced call, as --json prints it (one object per
// line).
type traceRecord struct {
	PID      int      `json:"pid"`
	Syscall  string   `json:"syscall"`
	Arch     string   `json:"arch,omitempty"` // only when not the native one
	Args     []string `json:"args"`           // decoded, as in the text form
	Raw      []uint64 `json:"raw"`            // the six raw argument values
	Decision string   `json:"decision"`       // "continue" or an errno name
	Errno    int      `json:"errno,omitempty"`
	// Profile is what run --profile --complain's profile would have done
	// instead of letting the call run ("ENOSYS", "kill_process").
	Profile string `json:"profile,omitempty"`
}

// formatCall describes the call n and the answer r as one line ending in
// "\n": text (`1234 openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = continue`)
// or, with asJSON, a JSON object (see traceRecord). A call of another ABI
// than the native one carries it after its name (`1234 open[i386](...)`)
// and is decoded with that ABI's numbers and layouts. It reads strings and
// socket addresses from the target's memory, so call it before answering
// n; memory that cannot be read is shown as the raw pointer followed by
// the reason, e.g. `0x7ffd1234 <EFAULT>`.
func formatCall(n *seccompstream.Notification, r seccompstream.Response, asJSON bool) []byte {
	return formatRecord(decodeCall(n, r), asJSON)
}

// formatRecord is formatCall for a decoded call: `... = continue`, with
// " (profile: ENOSYS)" after the decision when rec.Profile is set.
func formatRecord(rec traceRecord, asJSON bool) []byte {
	if asJSON {
		b, err := json.Marshal(rec)
		if err != nil {
			b = []byte(fmt.Sprintf(`{"pid":%d,"syscall":%q,"error":%q}`, rec.PID, rec.Syscall, err.Error()))
		}
		return append(b, '\n')
	}
	var sb strings.Builder
	sb.WriteString(strconv.Itoa(rec.PID))
	sb.WriteByte(' ')
	sb.WriteString(rec.Syscall)
	if rec.Arch != "" {
		sb.WriteString("[" + rec.Arch + "]")
	}
	sb.WriteByte('(')
	sb.WriteString(strings.Join(rec.Args, ", "))
	sb.WriteString(") = ")
	sb.WriteString(rec.Decision)
	if rec.Profile != "" {
		sb.WriteString(" (profile: " + rec.Profile + ")")
	}
	sb.WriteByte('\n')
	return []byte(sb.String())
}

// decision names an answer for a trace line.
func decision(r seccompstream.Response) string {
	switch {
	case r.IsContinue():
		return "continue"
	case r.Errno() != 0:
		return errnoString(r.Errno())
	}
	return r.String()
}

// decodeCall decodes n's arguments (internal/sysargs) into a trace record.
func decodeCall(n *seccompstream.Notification, r seccompstream.Response) traceRecord {
	rec := traceRecord{
		PID:      n.PID,
		Syscall:  n.SyscallName(),
		Raw:      n.Args[:],
		Decision: decision(r),
		Errno:    int(r.Errno()),
	}
	if n.Arch != sysnames.Native() {
		rec.Arch = n.ArchName()
	}
	mem := &lazyMemory{n: n}
	defer mem.close()
	c := sysargs.Decode(n.Arch, n.Syscall, n.Args, mem)
	rec.Args = c.ArgStrings()
	return rec
}

// lazyMemory opens the target's memory when the decoder first needs it, so
// calls without pointer arguments cost no open.
type lazyMemory struct {
	n   *seccompstream.Notification
	m   *seccompstream.Memory
	err error
}

func (l *lazyMemory) get() (*seccompstream.Memory, error) {
	if l.m == nil && l.err == nil {
		l.m, l.err = l.n.OpenMemory()
	}
	return l.m, l.err
}

func (l *lazyMemory) close() {
	if l.m != nil {
		l.m.Close()
	}
}

func (l *lazyMemory) ReadAt(p []byte, addr int64) (int, error) {
	m, err := l.get()
	if err != nil {
		return 0, err
	}
	return m.ReadAt(p, addr)
}

func (l *lazyMemory) ReadString(addr uint64, max int) (string, error) {
	m, err := l.get()
	if err != nil {
		return "", err
	}
	return m.ReadString(addr, max)
}

func (l *lazyMemory) ReadSockaddr(addr uint64, length int) (seccompstream.Sockaddr, error) {
	m, err := l.get()
	if err != nil {
		return seccompstream.Sockaddr{}, err
	}
	return m.ReadSockaddr(addr, length)
}
