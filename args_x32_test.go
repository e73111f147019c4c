//go:build amd64

package seccompstream_test

import (
	"encoding/binary"
	"fmt"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// x32Writev is x32's writev (516 with the x32 bit). The kernel runs
// seccomp before it looks at the number, so the call notifies even where
// x32 is not enabled.
const x32Writev = 0x40000000 | 516

func init() {
	// args-writev-x32: writev(markWrite) of three buffers from x32 code:
	// 8-byte iovecs with 32-bit pointers, in memory below 4 GiB. It must
	// return their total length, as args-writev's does.
	scenarios["args-writev-x32"] = func([]string) int {
		mem, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_32BIT)
		if err != nil {
			fmt.Println("mmap(MAP_32BIT):", err)
			return 2
		}
		base := uintptr(unsafe.Pointer(&mem[0]))
		const iovAt = 256 // the iovec array; the buffers come first
		total, off := 0, 0
		for i, b := range []string{"hello, ", "iovec ", "world"} {
			copy(mem[off:], b)
			binary.LittleEndian.PutUint32(mem[iovAt+8*i:], uint32(base)+uint32(off))
			binary.LittleEndian.PutUint32(mem[iovAt+8*i+4:], uint32(len(b)))
			off += len(b) + 1
			total += len(b)
		}
		r, _, e := unix.Syscall(x32Writev, markWrite, base+iovAt, 3)
		if e != 0 || int(r) != total {
			fmt.Printf("x32 writev = %d, %v; want %d\n", int(r), e, total)
			return 1
		}
		return 0
	}
}

// TestReadIovecsX32: an x32 call's iovecs are 8 bytes each, although its
// notification has x86_64's Arch.
func TestReadIovecsX32(t *testing.T) {
	c, s := startNotify(t, "args-writev-x32", nil, fmt.Sprintf("#%#x", x32Writev))
	serveAll(t, s, answerWritev(t, "writev (x32)"))
	exitZero(t, c)
}
