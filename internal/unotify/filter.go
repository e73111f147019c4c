package unotify

import (
	"unsafe"

	"golang.org/x/net/bpf"
)

// SockFilter has the layout of bpf.RawInstruction (8 bytes), which the
// assembler (internal/cbpf) produces.
var (
	_ [8 - unsafe.Sizeof(SockFilter{})]struct{}
	_ [unsafe.Sizeof(SockFilter{}) - 8]struct{}
)

// SockFilters converts an assembled program to the kernel's struct
// sock_filter, for SetModeFilter.
func SockFilters(prog []bpf.RawInstruction) []SockFilter {
	sf := make([]SockFilter, len(prog))
	for i, ins := range prog {
		sf[i] = SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	return sf
}
