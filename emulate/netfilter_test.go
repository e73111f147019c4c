package emulate_test

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// The filter AddRules builds, run in x/net/bpf's VM: what it lets run
// unnotified, what it notifies.
func TestNetworkFilter(t *testing.T) {
	nw, err := emulate.NewNetwork(emulate.NetworkPolicy{Connect: []string{"127.0.0.1:80"}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := filter.NewForArch(filter.Allow, unix.AUDIT_ARCH_X86_64)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.AddArch(unix.AUDIT_ARCH_I386); err != nil {
		t.Fatal(err)
	}
	if err := f.SetMismatchAction(filter.Notify); err != nil {
		t.Fatal(err)
	}
	if err := nw.AddRules(f); err != nil {
		t.Fatal(err)
	}
	raw, err := f.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	ins, _ := bpf.Disassemble(raw)
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	const (
		allow  = 0x7fff0000 // SECCOMP_RET_ALLOW
		notify = 0x7fc00000 // SECCOMP_RET_USER_NOTIF
		x86    = unix.AUDIT_ARCH_X86_64
		i386   = unix.AUDIT_ARCH_I386
		high   = 1 << 32 // garbage in the upper half of an int register
	)
	for _, c := range []struct {
		what string
		arch uint32
		nr   int
		args []uint64
		want uint32
	}{
		{"TCP socket", x86, unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM | unix.SOCK_CLOEXEC, 0}, allow},
		{"UDP6 socket", x86, unix.SYS_SOCKET, []uint64{unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_UDP}, allow},
		{"MPTCP socket", x86, unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP}, allow},
		{"unix socket", x86, unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_SEQPACKET, 0}, allow},
		{"netlink socket", x86, unix.SYS_SOCKET, []uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE}, allow},
		{"int family with high bits", x86, unix.SYS_SOCKET, []uint64{unix.AF_INET | high, unix.SOCK_STREAM, 0}, allow},
		{"raw socket", x86, unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP}, notify},
		{"packet socket", x86, unix.SYS_SOCKET, []uint64{unix.AF_PACKET, unix.SOCK_RAW, 0}, notify},
		{"SCTP socket", x86, unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_SEQPACKET, 0}, notify},
		{"ICMP datagram socket", x86, unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP}, notify},
		{"connect", x86, unix.SYS_CONNECT, []uint64{3, 0x1000, 16}, notify},
		{"bind", x86, unix.SYS_BIND, []uint64{3, 0x1000, 16}, notify},
		{"send", x86, unix.SYS_SENDTO, []uint64{3, 0x1000, 5, 0, 0, 0}, allow},
		{"sendto with a zero length", x86, unix.SYS_SENDTO, []uint64{3, 0x1000, 5, 0, 0x2000, high}, allow},
		{"sendto", x86, unix.SYS_SENDTO, []uint64{3, 0x1000, 5, 0, 0x2000, 16}, notify},
		{"sendmsg", x86, unix.SYS_SENDMSG, []uint64{3, 0x1000, 0}, notify},
		{"sendmmsg", x86, unix.SYS_SENDMMSG, []uint64{3, 0x1000, 2, 0}, notify},
		{"recvfrom", x86, unix.SYS_RECVFROM, []uint64{3, 0x1000, 5, 0, 0x2000, 0x3000}, allow},
		{"SO_REUSEADDR", x86, unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_SOCKET, unix.SO_REUSEADDR, 0x1000, 4}, allow},
		{"IP_OPTIONS", x86, unix.SYS_SETSOCKOPT, []uint64{3, unix.IPPROTO_IP, unix.IP_OPTIONS, 0x1000, 8}, notify},
		{"IP_OPTIONS with high bits", x86, unix.SYS_SETSOCKOPT, []uint64{3, unix.IPPROTO_IP | high, unix.IP_OPTIONS | high, 0x1000, 8}, notify},
		{"IPV6_RTHDR", x86, unix.SYS_SETSOCKOPT, []uint64{3, unix.IPPROTO_IPV6, unix.IPV6_RTHDR, 0x1000, 8}, notify},
		{"io_uring_setup", x86, unix.SYS_IO_URING_SETUP, []uint64{4, 0x1000}, notify},
		{"bpf", x86, unix.SYS_BPF, []uint64{5, 0x1000, 64}, notify},
		{"x32 connect", x86, unix.SYS_CONNECT | 0x40000000, []uint64{3, 0x1000, 16}, notify},
		{"i386 TCP socket", i386, 359, []uint64{unix.AF_INET, unix.SOCK_STREAM, 0}, allow},
		{"i386 connect", i386, 362, []uint64{3, 0x1000, 16}, notify},
		{"i386 send", i386, 369, []uint64{3, 0x1000, 5, 0, 0, 0}, allow},
		{"i386 IP_OPTIONS", i386, 366, []uint64{3, unix.IPPROTO_IP, unix.IP_OPTIONS, 0x1000, 8}, notify},
		{"i386 socketcall(SEND)", i386, 102, []uint64{9, 0x1000}, allow},
		{"i386 socketcall(RECVMSG)", i386, 102, []uint64{17, 0x1000}, allow},
		{"i386 socketcall(SOCKET)", i386, 102, []uint64{1, 0x1000}, notify},
		{"i386 socketcall(CONNECT)", i386, 102, []uint64{3, 0x1000}, notify},
		{"i386 socketcall(SETSOCKOPT)", i386, 102, []uint64{14, 0x1000}, notify},
		{"i386 socketcall(SENDMMSG)", i386, 102, []uint64{20, 0x1000}, notify},
		{"i386 getpid", i386, 20, nil, allow},
	} {
		// seccomp_data as the VM reads it: 32-bit words, which it loads
		// big-endian.
		b := make([]byte, 64)
		binary.BigEndian.PutUint32(b, uint32(c.nr))
		binary.BigEndian.PutUint32(b[4:], c.arch)
		for i, a := range c.args {
			binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
			binary.BigEndian.PutUint32(b[20+8*i:], uint32(a>>32))
		}
		got, err := vm.Run(b)
		if err != nil {
			t.Fatal(err)
		}
		if uint32(got) != c.want {
			t.Errorf("%s: %#x, want %#x", c.what, got, c.want)
		}
	}
}

// Files and Network share one Mux and one filter, registered in either
// order; the calls both refuse are routed once.
func TestBothPolicies(t *testing.T) {
	for _, netFirst := range []bool{false, true} {
		fs, err := emulate.NewFiles(emulate.FilePolicy{Read: []string{"/"}})
		if err != nil {
			t.Fatal(err)
		}
		nw, err := emulate.NewNetwork(emulate.NetworkPolicy{Connect: []string{"127.0.0.1:1"}})
		if err != nil {
			t.Fatal(err)
		}
		ps := []interface {
			AddRules(*filter.Filter) error
			Register(*seccompstream.Mux)
		}{fs, nw}
		if netFirst {
			ps[0], ps[1] = ps[1], ps[0]
		}
		f := filter.New(filter.Allow)
		if err := f.SetMismatchAction(filter.Notify); err != nil {
			t.Fatal(err)
		}
		m := seccompstream.NewMux()
		for _, p := range ps {
			if err := p.AddRules(f); err != nil {
				t.Fatalf("netFirst %v: AddRules: %v", netFirst, err)
			}
			p.Register(m)
		}
		if _, err := f.Assemble(); err != nil {
			t.Fatal(err)
		}
		for _, name := range append(fs.Syscalls(), nw.Syscalls()...) {
			nr, ok := sysnames.Number(sysnames.Native(), name)
			if !ok {
				continue
			}
			if _, routed := m.Handler(&seccompstream.Notification{Arch: sysnames.Native(), Syscall: nr}); !routed {
				t.Errorf("netFirst %v: %s not routed", netFirst, name)
			}
		}
	}
}
