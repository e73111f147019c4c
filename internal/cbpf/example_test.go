package cbpf_test

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/cbpf"
)

// A filter that kills calls of other ABIs, notifies getppid and allows the
// rest, with every jump by label.
func ExampleAssembler() {
	var a cbpf.Assembler
	kill, notify := a.NewLabel(), a.NewLabel()
	a.LoadAbs(cbpf.OffArch)
	a.JumpIf(bpf.JumpNotEqual, unix.AUDIT_ARCH_X86_64, kill, cbpf.Next)
	a.LoadAbs(cbpf.OffNr)
	a.JumpIf(bpf.JumpEqual, 110, notify, cbpf.Next) // getppid on x86_64
	a.Ret(unix.SECCOMP_RET_ALLOW)
	a.Bind(notify)
	a.Ret(unix.SECCOMP_RET_USER_NOTIF)
	a.Bind(kill)
	a.Ret(unix.SECCOMP_RET_KILL_PROCESS)
	prog, err := a.Assemble()
	if err != nil {
		panic(err)
	}
	fmt.Print(cbpf.Disassemble(prog))
	// Output:
	//   0: ld [4]                    ; arch
	//   1: jeq #0xc000003e, 2, 6
	//   2: ld [0]                    ; nr
	//   3: jeq #0x6e, 5, 4
	//   4: ret #0x7fff0000           ; ALLOW
	//   5: ret #0x7fc00000           ; USER_NOTIF
	//   6: ret #0x80000000           ; KILL_PROCESS
}
