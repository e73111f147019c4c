package launcher

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/cbpf"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

func sampleConfig() Config {
	var a cbpf.Assembler
	deny := a.NewLabel()
	a.LoadAbs(cbpf.OffArch)
	a.JumpIf(bpf.JumpEqual, 7, cbpf.Next, deny)
	a.Ret(unix.SECCOMP_RET_ALLOW)
	a.Bind(deny)
	a.Ret(unix.SECCOMP_RET_ERRNO | 1)
	prog, err := a.Assemble()
	if err != nil {
		panic(err)
	}
	return Config{
		Marker:           0xdeadbeef << 32,
		WaitKillableRecv: true,
		Path:             "/bin/true",
		Env:              []string{"A=1", "", "PATH=/bin:/usr/bin"},
		Prog:             prog,
	}
}

func TestConfigRoundTrip(t *testing.T) {
	for _, c := range []Config{sampleConfig(), {Env: []string{}, Prog: sampleConfig().Prog[2:]}} {
		got, err := DecodeConfig(c.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip: %+v, want %+v", got, c)
		}
	}
}

func TestDecodeConfigErrors(t *testing.T) {
	b := sampleConfig().Encode()
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "short header"},
		{"header only", b[:24], "short body"},
		{"cut in the program", b[:len(b)-3], "program length"},
		{"trailing byte", append(append([]byte{}, b...), 0), "program length"},
		{"unknown flag", func() []byte {
			c := append([]byte{}, b...)
			binary.LittleEndian.PutUint32(c[8:], 1<<7)
			return c
		}(), "unknown flags"},
		{"no program", Config{Path: "/x"}.Encode(), "not a program"},
	} {
		if _, err := DecodeConfig(tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzDecodeConfig(f *testing.F) {
	f.Add(sampleConfig().Encode())
	f.Add([]byte{})
	f.Add(make([]byte, 24))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeConfig(b)
		if err != nil {
			return
		}
		if again, err := DecodeConfig(c.Encode()); err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("re-encoding %+v: %+v, %v", c, again, err)
		}
	})
}

func TestErrorMessage(t *testing.T) {
	err := DecodeError(EncodeError("install", unix.EBUSY, "filter: the chain has a listener already"))
	var le *Error
	if !errors.As(err, &le) || le.Op != "install" || !errors.Is(err, unix.EBUSY) {
		t.Fatalf("decoded %#v", err)
	}
	if got := err.Error(); got != "filter: the chain has a listener already: device or resource busy" {
		t.Errorf("message %q", got)
	}
	// A detail that names the errno already is not repeated.
	err = DecodeError(EncodeError("exec", unix.ENOENT, "stat /x: no such file or directory"))
	if got := err.Error(); got != "stat /x: no such file or directory" {
		t.Errorf("message %q", got)
	}
	for _, b := range [][]byte{nil, {MsgError, 1}, {MsgListener, 0, 0, 0, 0}} {
		if err := DecodeError(b); errors.As(err, &le) {
			t.Errorf("DecodeError(%q) = %v", b, err)
		}
	}
}

// TestPrefix runs the prefix in front of a user program that returns A
// (which the prefix must leave cleared): only the marked execveat of the
// native arch is notified.
func TestPrefix(t *testing.T) {
	native := sysnames.Native()
	execveat, _ := sysnames.Number(native, "execveat")
	getpid, _ := sysnames.Number(native, "getpid")
	const marker = 0x8badf00d << 32
	user := []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_A}}
	prog, err := Prefix(user, marker)
	if err != nil {
		t.Fatal(err)
	}
	vm := sectest.NewVM(t, prog, binary.NativeEndian.Uint16([]byte{1, 0}) == 1)
	fdcwd := int32(unix.AT_FDCWD)
	atFDCWD := uint64(uint32(fdcwd))
	for _, tc := range []struct {
		name string
		nr   int32
		arch uint32
		arg0 uint64
		want uint32
	}{
		{"marked execveat", execveat, native, marker | atFDCWD, unix.SECCOMP_RET_USER_NOTIF},
		{"plain execveat", execveat, native, atFDCWD, 0},
		{"other marker", execveat, native, 0x8badf00e<<32 | atFDCWD, 0},
		{"other call", getpid, native, marker | atFDCWD, 0},
		{"other arch", execveat, native ^ 1, marker | atFDCWD, 0},
	} {
		got := vm.Run(t, sectest.Data{Nr: tc.nr, Arch: tc.arch, Args: [6]uint64{tc.arg0}})
		if got != tc.want {
			t.Errorf("%s: %#x, want %#x\n%s", tc.name, got, tc.want, cbpf.Disassemble(prog))
		}
		if want := tc.want == unix.SECCOMP_RET_USER_NOTIF; IsRelease(tc.arch, tc.nr, tc.arg0, marker) != want {
			t.Errorf("%s: IsRelease = %v, want %v", tc.name, !want, want)
		}
	}
	if _, err := Prefix(make([]bpf.RawInstruction, cbpf.MaxInstructions-8), marker); err == nil {
		t.Error("Prefix accepted a program with no room for it")
	}
}

// TestErrnoOf keeps the launcher's errno extraction honest.
func TestErrnoOf(t *testing.T) {
	if got := errnoOf(syscall.ENOEXEC); got != syscall.ENOEXEC {
		t.Errorf("errnoOf(ENOEXEC) = %v", got)
	}
	if got := errnoOf(errors.New("x")); got != unix.EINVAL {
		t.Errorf("errnoOf(plain) = %v", got)
	}
}
