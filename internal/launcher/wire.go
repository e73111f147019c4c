package launcher

import (
	"encoding/binary"
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/cbpf"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// Env marks a launcher; its value is the number of the socket to the
// parent.
const Env = "SECCOMPSTREAM_START_FD"

// Messages from the launcher to the parent, by their first byte.
const (
	MsgListener = 'L' // SCM_RIGHTS carries the listener
	MsgError    = 'E' // errno (4 bytes), then "op\x00detail"
)

// MaxMessage bounds a message from the launcher.
const MaxMessage = 4096

// MaxConfig bounds an encoded Config (the path, the environment and the
// program), which the launcher reads in one message.
const MaxConfig = 128<<10 - 1

// Config is what the parent sends the launcher: one SOCK_SEQPACKET
// message.
type Config struct {
	Marker           uint64 // see Prefix
	WaitKillableRecv bool   // install with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	Path             string // the program, as exec.Cmd.Path
	Env              []string
	Prog             []bpf.RawInstruction // the filter, Prefix included
}

const cfgWaitKillable = 1 << 0

// Encode returns c in the wire format: a little-endian header (marker,
// flags, the lengths of path, environment and program), the path, each
// environment entry after its length, the program as struct sock_filter.
func (c Config) Encode() []byte {
	var flags uint32
	if c.WaitKillableRecv {
		flags |= cfgWaitKillable
	}
	b := make([]byte, 0, 24+len(c.Path)+8*len(c.Prog))
	b = binary.LittleEndian.AppendUint64(b, c.Marker)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.Path)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.Env)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.Prog)))
	b = append(b, c.Path...)
	for _, kv := range c.Env {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(kv)))
		b = append(b, kv...)
	}
	return append(b, cbpf.Marshal(c.Prog, binary.LittleEndian)...)
}

// DecodeConfig decodes what Encode wrote.
func DecodeConfig(b []byte) (Config, error) {
	var c Config
	bad := func(what string) (Config, error) {
		return Config{}, fmt.Errorf("configuration of %d bytes: %s", len(b), what)
	}
	if len(b) < 24 {
		return bad("short header")
	}
	c.Marker = binary.LittleEndian.Uint64(b)
	flags := binary.LittleEndian.Uint32(b[8:])
	if flags&^cfgWaitKillable != 0 {
		return bad(fmt.Sprintf("unknown flags %#x", flags))
	}
	c.WaitKillableRecv = flags&cfgWaitKillable != 0
	np := uint64(binary.LittleEndian.Uint32(b[12:]))
	ne := uint64(binary.LittleEndian.Uint32(b[16:]))
	ni := uint64(binary.LittleEndian.Uint32(b[20:]))
	r := b[24:]
	if uint64(len(r)) < np+8*ni {
		return bad("short body")
	}
	c.Path = string(r[:np])
	r = r[np:]
	c.Env = make([]string, 0, min(ne, uint64(len(r))/4))
	for range ne {
		if len(r) < 4 {
			return bad("short environment")
		}
		n := uint64(binary.LittleEndian.Uint32(r))
		if uint64(len(r)-4) < n {
			return bad("short environment entry")
		}
		c.Env = append(c.Env, string(r[4:4+n]))
		r = r[4+n:]
	}
	if uint64(len(r)) != 8*ni {
		return bad("program length")
	}
	prog, err := cbpf.Unmarshal(r, binary.LittleEndian)
	if err != nil {
		return bad(err.Error())
	}
	c.Prog = prog
	return c, nil
}

// Error is a failure the launcher reported: Op names the step ("config",
// "exec", "install", "listener"), Errno the kernel's answer.
type Error struct {
	Op     string
	Errno  syscall.Errno
	Detail string
}

// Error returns the launcher's explanation, which names the errno.
func (e *Error) Error() string {
	if strings.Contains(e.Detail, e.Errno.Error()) {
		return e.Detail
	}
	return fmt.Sprintf("%s: %v", e.Detail, e.Errno)
}

// Unwrap returns the errno.
func (e *Error) Unwrap() error { return e.Errno }

// EncodeError returns the MsgError message for op, errno and detail.
func EncodeError(op string, errno syscall.Errno, detail string) []byte {
	b := []byte{MsgError}
	b = binary.LittleEndian.AppendUint32(b, uint32(errno))
	b = append(b, op...)
	b = append(b, 0)
	return append(b, detail...)
}

// DecodeError decodes a MsgError message into an *Error.
func DecodeError(b []byte) error {
	if len(b) < 5 || b[0] != MsgError {
		return fmt.Errorf("short or unknown message from the launcher (%d bytes)", len(b))
	}
	e := &Error{Errno: syscall.Errno(binary.LittleEndian.Uint32(b[1:]))}
	e.Op, e.Detail, _ = strings.Cut(string(b[5:]), "\x00")
	return e
}

// Prefix puts a prefix in front of the user's program that notifies the
// launcher's marked execveat: native arch, execveat, the upper half of
// args[0] equal to marker>>32. Everything else runs the user's program
// unchanged, with A and X cleared as at the start of a filter.
func Prefix(user []bpf.RawInstruction, marker uint64) ([]bpf.RawInstruction, error) {
	native := sysnames.Native()
	nr, ok := sysnames.Number(native, "execveat")
	if !ok {
		return nil, fmt.Errorf("no execveat system call on %s", sysnames.ArchName(native))
	}
	hiOff := uint32(cbpf.OffArgs + 4) // args[0], upper half on little endian
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		hiOff = cbpf.OffArgs
	}
	var a cbpf.Assembler
	user0 := a.NewLabel()
	a.LoadAbs(cbpf.OffArch)
	a.JumpIf(bpf.JumpNotEqual, native, user0, cbpf.Next)
	a.LoadAbs(cbpf.OffNr)
	a.JumpIf(bpf.JumpNotEqual, uint32(nr), user0, cbpf.Next)
	a.LoadAbs(hiOff)
	a.JumpIf(bpf.JumpNotEqual, uint32(marker>>32), user0, cbpf.Next)
	a.Ret(unix.SECCOMP_RET_USER_NOTIF)
	a.Bind(user0)
	a.LoadConst(0)
	a.LoadXConst(0)
	prefix, err := a.Assemble()
	if err != nil {
		return nil, fmt.Errorf("launcher prefix: %w", err)
	}
	if len(prefix)+len(user) > cbpf.MaxInstructions {
		return nil, fmt.Errorf("filter program of %d instructions leaves no room for the launcher's %d (limit %d)", len(user), len(prefix), cbpf.MaxInstructions)
	}
	return append(prefix, user...), nil
}

// IsRelease reports whether a notified call (arch, nr, args[0]) is the
// launcher's marked execveat, which Prefix notifies.
func IsRelease(arch uint32, nr int32, arg0, marker uint64) bool {
	execveat, ok := sysnames.Number(sysnames.Native(), "execveat")
	return ok && arch == sysnames.Native() && nr == execveat && arg0&^0xffffffff == marker
}
