package sysargs

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
)

// Memory is the target's memory as Decode reads it. *seccompstream.Memory
// satisfies it (each of its reads is validated against the notification);
// tests can fake it.
type Memory interface {
	// ReadAt reads len(p) bytes at address addr, as io.ReaderAt does.
	ReadAt(p []byte, addr int64) (int, error)
	// ReadString reads the NUL-terminated string at addr, at most max
	// bytes including the NUL.
	ReadString(addr uint64, max int) (string, error)
	// ReadSockaddr reads and decodes the socket address of length bytes at
	// addr.
	ReadSockaddr(addr uint64, length int) (seccompstream.Sockaddr, error)
}

// Limits on what Decode reads from the target.
const (
	// PathMax bounds Path and String arguments, NUL included.
	PathMax = unix.PathMax
	// BufferMax is how many bytes of a Buffer argument are read.
	BufferMax = 32
	// ArrayMax is how many entries of a StringArray are read.
	ArrayMax = 64
	// EnvMax is how many entries of an EnvArray are counted.
	EnvMax = 4096
)

// Call is a decoded system call.
type Call struct {
	Syscall
	// Described reports whether the tables describe the call's arguments.
	// When they do not, Args holds the six raw registers as Hex (trailing
	// zeros dropped), named "arg0" to "arg5".
	Described bool
	// Args holds one Arg per parameter.
	Args []Arg
	// Sub is the call a socketcall stands for, with the arguments read from
	// its array (nil for other calls, or when the array could not be read).
	Sub *Call
}

// Arg is one decoded argument.
type Arg struct {
	// Param describes the argument. Decode replaces a FcntlArg by the
	// kind its command gives it (OpenFlags for F_SETFL, FD for F_DUPFD...).
	Param
	// Value is the argument's value (see Syscall.Value).
	Value uint64
	// Str is what a Path, String or Buffer points to (a Buffer: its first
	// BufferMax bytes).
	Str string
	// Strs are the strings of a StringArray (its first ArrayMax). An entry
	// that could not be read is "", with its reason in Errs.
	Strs []string
	// Errs is nil when every entry of Strs was read, and holds one error
	// (or nil) per entry otherwise.
	Errs []error
	// Count is the number of entries of a StringArray or EnvArray (at most
	// ArrayMax or EnvMax, see Truncated).
	Count int
	// Truncated reports that Str, Strs or Count stopped at a limit.
	Truncated bool
	// Sockaddr is the address a Sockaddr (or a MsgHdr's msg_name) points to.
	Sockaddr *seccompstream.Sockaddr
	// Fields are the members of a struct argument (OpenHow, MmapArgs,
	// MsgHdr, CloneArgs), in their order.
	Fields []Arg
	// Err tells why the memory the argument points to could not be read
	// (nil if it was, or was not tried); it matches seccompstream.ErrGone
	// when the notification is no longer pending.
	Err error
	// Unused reports an argument the kernel ignores in this call (open's
	// mode without O_CREAT or O_TMPFILE, fcntl's third argument for
	// F_GETFD): String shows the call without it.
	Unused bool

	abi  *abi
	read bool     // what the pointer points to was read
	ptrs []uint64 // StringArray: the entries' addresses, for unreadable ones
}

// Decode decodes call nr on arch with the six register values args. It
// reads the target memory that pointer arguments point to from mem; with a
// nil mem, pointers are shown as addresses. Decode never fails: what it
// cannot read is reported in Arg.Err and shown as the address with the
// reason (`0x7ffd1234 <EFAULT>`).
func Decode(arch uint32, nr int32, args [6]uint64, mem Memory) Call {
	s, ok := Lookup(arch, nr)
	if !ok {
		if s.abi == nil {
			s = Syscall{Name: s.Name, Arch: arch, Nr: nr, abi: abiOf(arch, nr)}
		}
		return Call{Syscall: s, Args: rawArgs(args, s.abi)}
	}
	d := decoder{abi: s.abi, mem: mem}
	c := Call{Syscall: s, Described: true, Args: make([]Arg, len(s.Params))}
	for i, p := range s.Params {
		c.Args[i] = Arg{Param: p, Value: s.Value(i, args), abi: s.abi}
	}
	d.fill(&c)
	return c
}

// rawArgs shows the six registers as Hex arguments, without trailing zeros.
func rawArgs(args [6]uint64, a *abi) []Arg {
	last := len(args)
	for last > 0 && args[last-1] == 0 {
		last--
	}
	out := make([]Arg, last)
	for i := range out {
		out[i] = Arg{Param: Param{Name: "arg" + strconv.Itoa(i), Kind: Hex, Reg: int8(i), Hi: -1, Ref: -1}, Value: args[i], abi: a}
	}
	return out
}

type decoder struct {
	abi *abi
	mem Memory
}

// fill decodes what c's arguments point to, and the kinds that depend on
// other arguments.
func (d decoder) fill(c *Call) {
	for i := range c.Args {
		a := &c.Args[i]
		switch a.Kind {
		case Mode:
			// open, openat, mq_open: the mode is read only to create a file.
			if j := c.Find(OpenFlags); j >= 0 && j < i {
				fl := c.Args[j].Value
				creat, tmp := d.value(OpenFlags, "O_CREAT"), d.value(OpenFlags, "O_TMPFILE")
				a.Unused = fl&creat == 0 && (tmp == 0 || fl&tmp != tmp)
			}
		case FcntlArg:
			d.fcntlArg(c, a)
		case SocketCallArgs:
			c.Sub = d.socketCall(c, a)
		default:
			d.read(c, a)
		}
	}
}

// value returns the value of the constant name of kind k on the ABI (0 if
// it has none).
func (d decoder) value(k Kind, name string) uint64 {
	v, _ := d.abi.lookupName(k, name)
	return v
}

// ref returns the argument a refers to, or nil.
func ref(c *Call, a *Arg) *Arg {
	if a.Ref < 0 || int(a.Ref) >= len(c.Args) {
		return nil
	}
	return &c.Args[a.Ref]
}

// read reads what a points to.
func (d decoder) read(c *Call, a *Arg) {
	if !a.Kind.Pointer() || a.Kind == Pointer || d.mem == nil || a.Value == 0 {
		return
	}
	switch a.Kind {
	case Path, String:
		a.Str, a.Err = d.mem.ReadString(a.Value, PathMax)
		a.read = a.Err == nil
	case Buffer:
		n := BufferMax
		if l := ref(c, a); l != nil && l.Value < uint64(n) {
			n = int(l.Value)
		} else if l != nil {
			a.Truncated = true
		}
		b := make([]byte, n)
		if a.Err = d.readFull(b, a.Value); a.Err == nil {
			a.Str, a.read = string(b), true
		}
	case StringArray:
		d.stringArray(a, ArrayMax, true)
	case EnvArray:
		d.stringArray(a, EnvMax, false)
	case Sockaddr:
		n := 0
		if l := ref(c, a); l != nil {
			n = int(int32(l.Value))
		}
		d.sockaddr(a, n)
	case OpenHow:
		d.openHow(c, a)
	case MmapArgs:
		d.mmapArgs(a)
	case MsgHdr:
		d.msgHdr(a)
	case CloneArgs:
		d.cloneArgs(c, a)
	}
}

// readFull reads len(p) bytes at addr.
func (d decoder) readFull(p []byte, addr uint64) error {
	n, err := d.mem.ReadAt(p, int64(addr))
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = unix.EFAULT
	}
	return err
}

// words reads n pointer-sized values at addr, in the ABI's byte order.
func (d decoder) words(addr uint64, n int) ([]uint64, error) {
	size := int(d.abi.ptrSize)
	b := make([]byte, n*size)
	if err := d.readFull(b, addr); err != nil {
		return nil, err
	}
	w := make([]uint64, n)
	for i := range w {
		w[i] = d.word(b[i*size:], size)
	}
	return w, nil
}

func (d decoder) word(b []byte, size int) uint64 {
	var bo binary.ByteOrder = binary.BigEndian
	if d.abi.le {
		bo = binary.LittleEndian
	}
	switch size {
	case 4:
		return uint64(bo.Uint32(b))
	case 2:
		return uint64(bo.Uint16(b))
	}
	return bo.Uint64(b)
}

// stringArray reads a NULL-terminated array of string pointers: the strings
// too when strs is set, only their number otherwise.
func (d decoder) stringArray(a *Arg, max int, strs bool) {
	chunk := 64
	for a.Count < max {
		n := min(chunk, max-a.Count)
		ptrs, err := d.words(a.Value+uint64(a.Count)*uint64(d.abi.ptrSize), n)
		if err != nil && n > 1 {
			// The array may end right before unmapped memory: read the
			// rest one entry at a time.
			chunk = 1
			continue
		}
		if err != nil {
			a.Err = err
			return
		}
		for _, p := range ptrs {
			if p == 0 {
				a.read = true
				return
			}
			a.Count++
			if strs {
				s, err := d.mem.ReadString(p, PathMax)
				if err != nil && a.Errs == nil {
					a.Errs = make([]error, len(a.Strs), ArrayMax)
				}
				if a.Errs != nil {
					a.Errs = append(a.Errs, err)
				}
				a.Strs = append(a.Strs, s)
				a.ptrs = append(a.ptrs, p)
			}
		}
	}
	a.Truncated, a.read = true, true
}

func (d decoder) sockaddr(a *Arg, length int) {
	sa, err := d.mem.ReadSockaddr(a.Value, length)
	if err != nil {
		a.Err = err
		return
	}
	a.Sockaddr = &sa
}

// field makes a struct member argument.
func (d decoder) field(name string, k Kind, v uint64) Arg {
	return Arg{Param: Param{Name: name, Kind: k, Reg: -1, Hi: -1, Ref: -1}, Value: v, abi: d.abi}
}

// openHow reads struct open_how {u64 flags, mode, resolve}.
func (d decoder) openHow(c *Call, a *Arg) {
	d.u64Struct(c, a, []string{"flags", "mode", "resolve"}, []Kind{OpenFlags, Mode, ResolveFlags})
}

// cloneArgs reads the first members of struct clone_args: flags, pidfd,
// child_tid, parent_tid, exit_signal, stack, stack_size, tls.
func (d decoder) cloneArgs(c *Call, a *Arg) {
	d.u64Struct(c, a,
		[]string{"flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls"},
		[]Kind{UnshareFlags, Pointer, Pointer, Pointer, Signal, Pointer, Size, Hex})
}

// u64Struct reads the leading u64 members of a struct (open_how,
// clone_args) into a.Fields, as many of them as the size argument a refers
// to covers.
func (d decoder) u64Struct(c *Call, a *Arg, names []string, kinds []Kind) {
	n := 8 * len(names)
	if l := ref(c, a); l != nil && l.Value < uint64(n) {
		n = int(l.Value) / 8 * 8
	}
	if n == 0 {
		return
	}
	b := make([]byte, n)
	if a.Err = d.readFull(b, a.Value); a.Err != nil {
		return
	}
	for i := 0; i*8 < n; i++ {
		a.Fields = append(a.Fields, d.field(names[i], kinds[i], d.word(b[i*8:], 8)))
	}
}

// mmapArgs reads old_mmap's struct mmap_arg_struct: six longs.
func (d decoder) mmapArgs(a *Arg) {
	w, err := d.words(a.Value, 6)
	if err != nil {
		a.Err = err
		return
	}
	fd := w[4]
	if d.abi.ptrSize == 4 {
		fd = uint64(int64(int32(fd)))
	}
	a.Fields = []Arg{
		d.field("addr", Pointer, w[0]), d.field("len", Size, w[1]),
		d.field("prot", MmapProt, w[2]), d.field("flags", MmapFlags, w[3]),
		d.field("fd", FD, fd), d.field("offset", Offset, w[5]),
	}
}

// msgHdr reads struct msghdr: name, namelen, iov, iovlen, control,
// controllen, flags, laid out for the ABI.
func (d decoder) msgHdr(a *Arg) {
	ps := int(d.abi.ptrSize)
	size := 7 * 4 // 32-bit: every member 4 bytes
	if ps == 8 {
		size = 56 // name@0 namelen@8 iov@16 iovlen@24 control@32 controllen@40 flags@48
	}
	b := make([]byte, size)
	if a.Err = d.readFull(b, a.Value); a.Err != nil {
		return
	}
	at := func(i int) uint64 {
		if ps == 8 {
			if i == 1 || i == 6 {
				return d.word(b[i*8:], 4)
			}
			return d.word(b[i*8:], 8)
		}
		return d.word(b[i*4:], 4)
	}
	name := d.field("msg_name", Sockaddr, at(0))
	namelen := d.field("msg_namelen", SockaddrLen, uint64(int64(int32(at(1)))))
	if name.Value != 0 {
		d.sockaddr(&name, int(int32(namelen.Value)))
	}
	a.Fields = []Arg{
		name, namelen,
		d.field("msg_iov", Pointer, at(2)), d.field("msg_iovlen", Size, at(3)),
		d.field("msg_control", Pointer, at(4)), d.field("msg_controllen", Size, at(5)),
		d.field("msg_flags", MsgFlags, at(6)),
	}
	if name.Sockaddr != nil {
		a.Sockaddr = name.Sockaddr
	}
}

// fcntlArg gives fcntl's third argument the kind its command implies.
func (d decoder) fcntlArg(c *Call, a *Arg) {
	j := c.Find(FcntlCmd)
	if j < 0 {
		a.Kind = Hex
		return
	}
	cmd := c.Args[j].Value
	is := func(names ...string) bool {
		for _, n := range names {
			if v, ok := d.abi.lookupName(FcntlCmd, n); ok && v == cmd {
				return true
			}
		}
		return false
	}
	switch {
	case is("F_GETFD", "F_GETFL", "F_GETOWN", "F_GETSIG", "F_GETLEASE", "F_GETPIPE_SZ", "F_GET_SEALS"):
		a.Kind, a.Unused = Hex, true
	case is("F_DUPFD", "F_DUPFD_CLOEXEC"):
		a.Kind = FD
	case is("F_SETFD"):
		a.Kind = FDFlags
	case is("F_SETFL"):
		a.Kind = OpenFlags
	case is("F_SETOWN"):
		a.Kind = PID
	case is("F_SETSIG"):
		a.Kind = Signal
	case is("F_SETPIPE_SZ"):
		a.Kind = Int
	case is("F_GETLK", "F_SETLK", "F_SETLKW", "F_GETLK64", "F_SETLK64", "F_SETLKW64",
		"F_OFD_GETLK", "F_OFD_SETLK", "F_OFD_SETLKW", "F_GETOWN_EX", "F_SETOWN_EX",
		"F_GET_RW_HINT", "F_SET_RW_HINT", "F_GET_FILE_RW_HINT", "F_SET_FILE_RW_HINT"):
		a.Kind = Pointer
	default:
		a.Kind = Hex
	}
	if a.Kind == FD || a.Kind == PID || a.Kind == Signal || a.Kind == Int {
		a.Value = uint64(int64(int32(a.Value)))
	}
}

// socketCall reads socketcall's argument array and decodes it as the call
// it names.
func (d decoder) socketCall(c *Call, a *Arg) *Call {
	call := ref(c, a)
	if call == nil || d.abi.sockets == nil || call.Value == 0 || call.Value >= uint64(len(d.abi.sockets)) {
		return nil
	}
	shape := d.abi.sockets[call.Value]
	if shape == 0 {
		return nil
	}
	ps := shapeParams(shape)
	n := 0
	for _, p := range ps {
		n = max(n, int(p.Reg)+1, int(p.Hi)+1)
	}
	if d.mem == nil || a.Value == 0 {
		return nil
	}
	w, err := d.words(a.Value, n)
	if err != nil {
		a.Err = err
		return nil
	}
	var args [6]uint64
	copy(args[:], w)
	name := strings.ToLower(strings.TrimPrefix(d.abi.format(SocketCall, call.Value), "SYS_"))
	sub := &Call{Syscall: Syscall{Name: name, Arch: c.Arch, Nr: c.Nr, Params: ps, abi: d.abi}, Described: true}
	sub.Args = make([]Arg, len(ps))
	for i, p := range ps {
		sub.Args[i] = Arg{Param: p, Value: sub.Value(i, args), abi: d.abi}
	}
	d.fill(sub)
	return sub
}

// ArgStrings returns the rendering of each argument the call uses (Unused
// ones left out), as String joins them.
func (c *Call) ArgStrings() []string {
	out := make([]string, 0, len(c.Args))
	for i := range c.Args {
		a := &c.Args[i]
		if a.Unused {
			continue
		}
		switch {
		case !c.Described:
			out = append(out, hex(a.Value)) // raw registers
		case a.Kind == SocketCallArgs && c.Sub != nil:
			out = append(out, "["+strings.Join(c.Sub.ArgStrings(), ", ")+"]")
		default:
			out = append(out, a.String())
		}
	}
	return out
}

// String renders the call as strace does: `openat(AT_FDCWD, "/etc/passwd",
// O_RDONLY|O_CLOEXEC)`. An undescribed call is shown with its raw registers.
func (c *Call) String() string {
	name := c.Name
	if name == "" {
		name = "syscall_" + strconv.Itoa(int(c.Nr))
	}
	return name + "(" + strings.Join(c.ArgStrings(), ", ") + ")"
}

// String renders the argument: a number, flag names, a quoted string, a
// socket address in braces, a struct's members in braces, or an address
// that could not be read followed by the reason.
func (a *Arg) String() string {
	v := a.Value
	switch a.Kind {
	case Int, FD, PID, SockaddrLen, Long, Offset:
		return strconv.FormatInt(int64(v), 10)
	case DirFD:
		if int32(v) == unix.AT_FDCWD {
			return "AT_FDCWD"
		}
		return strconv.FormatInt(int64(v), 10)
	case Uint, Size, Ulong:
		return strconv.FormatUint(v, 10)
	case UID, GID:
		if uint32(v) == ^uint32(0) {
			return "-1"
		}
		return strconv.FormatUint(v, 10)
	case Hex:
		if v == 0 {
			return "0"
		}
		return hex(v)
	case Mode:
		return "0" + strconv.FormatUint(v&0o7777, 8)
	}
	if a.Kind.Named() {
		if a.abi == nil {
			return hex(v)
		}
		return a.abi.format(a.Kind, v)
	}
	// Pointers.
	if v == 0 {
		return "NULL"
	}
	if a.Err != nil {
		return unreadable(v, a.Err)
	}
	switch a.Kind {
	case Path, String:
		if a.read {
			return strconv.Quote(a.Str)
		}
	case Buffer:
		if a.read {
			s := strconv.Quote(a.Str)
			if a.Truncated {
				s += "..."
			}
			return s
		}
	case StringArray:
		if a.read {
			parts := make([]string, len(a.Strs))
			for i, e := range a.Strs {
				if a.Errs != nil && a.Errs[i] != nil {
					parts[i] = unreadable(a.ptrs[i], a.Errs[i])
				} else {
					parts[i] = strconv.Quote(e)
				}
			}
			s := "[" + strings.Join(parts, ", ")
			if a.Truncated {
				s += ", ..."
			}
			return s + "]"
		}
	case EnvArray:
		if a.read {
			more := ""
			if a.Truncated {
				more = "+"
			}
			return hex(v) + " /* " + strconv.Itoa(a.Count) + more + " vars */"
		}
	case Sockaddr:
		if a.Sockaddr != nil {
			return formatSockaddr(a.abi, a.Sockaddr)
		}
	case OpenHow, MmapArgs, MsgHdr, CloneArgs:
		if a.Fields != nil {
			parts := make([]string, len(a.Fields))
			for i := range a.Fields {
				parts[i] = a.Fields[i].Name + "=" + a.Fields[i].String()
			}
			return "{" + strings.Join(parts, ", ") + "}"
		}
	}
	return hex(v)
}

// formatSockaddr shows a socket address as `{AF_INET 127.0.0.1:80}`.
func formatSockaddr(ab *abi, sa *seccompstream.Sockaddr) string {
	fam := "AF_" + strconv.Itoa(int(sa.Family))
	if ab != nil {
		if f := ab.format(SocketFamily, uint64(sa.Family)); strings.HasPrefix(f, "AF_") {
			fam = f
		}
	}
	return "{" + fam + " " + sa.String() + "}"
}

// unreadable shows a pointer whose memory could not be read, and why.
func unreadable(v uint64, err error) string {
	var e unix.Errno
	why := "unreadable"
	switch {
	case errors.Is(err, seccompstream.ErrGone):
		why = "gone"
	case errors.As(err, &e):
		if name := unix.ErrnoName(e); name != "" {
			why = name
		} else {
			why = "errno " + strconv.Itoa(int(e))
		}
	}
	return hex(v) + " <" + why + ">"
}
