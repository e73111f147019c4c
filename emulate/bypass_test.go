package emulate_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

func init() {
	// steal SECRET: take the supervisor's listener from the parent with
	// pidfd_getfd, answer its own notifications Continue with it, and read
	// SECRET; print "stolen" and what it read, or why it could not.
	goPrograms["steal"] = func(args []string) int {
		pidfd, err := unix.PidfdOpen(os.Getppid(), 0)
		if err != nil {
			fmt.Println("pidfd_open:", err)
			return 1
		}
		lfd := -1
		for fd := 0; fd < 1024 && lfd < 0; fd++ {
			got, err := unix.PidfdGetfd(pidfd, fd, 0)
			if err == unix.EBADF {
				continue
			}
			if err != nil {
				fmt.Println("pidfd_getfd:", unix.ErrnoName(err.(unix.Errno)))
				return 1
			}
			var id uint64
			if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(got), unix.SECCOMP_IOCTL_NOTIF_ID_VALID, uintptr(unsafe.Pointer(&id))); e == unix.ENOENT {
				lfd = got // a listener: no notification has id 0
				break
			}
			unix.Close(got)
		}
		if lfd < 0 {
			fmt.Println("no listener")
			return 1
		}
		for range 4 {
			go func() {
				runtime.LockOSThread()
				for {
					var req [80]byte // struct seccomp_notif
					if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(lfd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req[0]))); e != 0 {
						continue
					}
					var resp [24]byte // struct seccomp_notif_resp: the id, flags CONTINUE
					copy(resp[:8], req[:8])
					resp[20] = 1
					unix.Syscall(unix.SYS_IOCTL, uintptr(lfd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp[0])))
				}
			}()
		}
		for range 2000 {
			if b, err := os.ReadFile(args[0]); err == nil {
				fmt.Printf("stolen %q\n", b)
				return 0
			}
		}
		fmt.Println("listener taken, the secret not read")
		return 0
	}
	// setflags FILE: FS_IOC_SETFLAGS (FS_NODUMP_FL) on FILE opened
	// read-only; print "setflags=ERRNO" (or "setflags=ok").
	goPrograms["setflags"] = func(args []string) int {
		f, err := os.Open(args[0])
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer f.Close()
		fmt.Printf("setflags=%s\n", flagsIoctl(unix.SYS_IOCTL, f, unix.FS_IOC_SETFLAGS))
		return 0
	}
	// crossproc PID: the calls that act through another process, on PID
	// (a process outside the policy), and userfaultfd; print "name=ERRNO"
	// (or "name=ok") for each.
	goPrograms["crossproc"] = func(args []string) int {
		pid, _ := strconv.Atoi(args[0])
		show := func(name string, e unix.Errno) {
			s := "ok"
			if e != 0 {
				s = unix.ErrnoName(e)
			}
			fmt.Printf("%s=%s\n", name, s)
		}
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			fmt.Println("pidfd_open:", err)
			return 1
		}
		fd, _, e := unix.Syscall(unix.SYS_PIDFD_GETFD, uintptr(pidfd), 0, 0)
		show("pidfd_getfd", e)
		if e == 0 {
			unix.Close(int(fd))
		}
		// Remote address 0: EFAULT once the kernel let the call reach the
		// other process.
		var b [1]byte
		local := []unix.Iovec{{Base: &b[0], Len: 1}}
		remote := []unix.RemoteIovec{{Base: 0, Len: 1}}
		_, err = unix.ProcessVMReadv(pid, local, remote, 0)
		show("process_vm_readv", errno(err))
		_, err = unix.ProcessVMWritev(pid, local, remote, 0)
		show("process_vm_writev", errno(err))
		// SEIZE does not stop the other process; it is let go when this
		// program ends.
		_, _, e = unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, 0, 0, 0)
		show("ptrace", e)
		ufd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC, 0, 0)
		show("userfaultfd", e)
		if e == 0 {
			unix.Close(int(ufd))
		}
		return 0
	}
}

func errno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EINVAL
}

// A program under a policy cannot take the supervisor's listener with
// pidfd_getfd and answer its own calls with it (a root program could, and
// so could one with the supervisor's uid).
func TestListenerNotStolen(t *testing.T) {
	dir := sectest.PublicDir(t)
	writeFile(t, dir+"/secret", "SECRET", 0o600)
	res := sandbox(t, emulate.FilePolicy{Read: emulate.SystemPaths()}, stdoutOnly(goProgram("steal", dir+"/secret")))
	if res.out != "pidfd_getfd: EPERM\n" || !res.deniedCall("pidfd_getfd") {
		t.Errorf("%v: %q, denied %v; want pidfd_getfd refused (EPERM, shown)", res.err, res.out, res.denied)
	}
}

// The calls that would act through a process outside the policy, and
// userfaultfd, are refused under a file policy and under a network policy.
func TestCrossProcessCallsRefused(t *testing.T) {
	other := exec.Command("sleep", "600")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		other.Process.Kill()
		other.Wait()
	}()
	want := "pidfd_getfd=EPERM\nprocess_vm_readv=EPERM\nprocess_vm_writev=EPERM\nptrace=EPERM\nuserfaultfd=EPERM\n"
	pid := strconv.Itoa(other.Process.Pid)
	for _, policy := range []string{"files", "network"} {
		var res *result
		if policy == "files" {
			res = sandbox(t, emulate.FilePolicy{Read: emulate.SystemPaths()}, stdoutOnly(goProgram("crossproc", pid)))
		} else {
			res = netSandbox(t, emulate.NetworkPolicy{Connect: []string{"127.0.0.1:1"}}, stdoutOnly(goProgram("crossproc", pid)))
		}
		if res.err != nil || res.out != want {
			t.Errorf("%s policy: %v, got\n%swant\n%s", policy, res.err, res.out, want)
		}
		for _, name := range []string{"pidfd_getfd", "process_vm_readv", "process_vm_writev", "ptrace", "userfaultfd"} {
			if !res.deniedCall(name) {
				t.Errorf("%s policy: %s not shown as refused (%v)", policy, name, res.denied)
			}
		}
	}
}

// fsNodumpFL is FS_NODUMP_FL (linux/fs.h): a flag any owner may set.
const fsNodumpFL = 0x40

// flagsIoctl makes the ioctl call nr (the native one, or another ABI's
// number) with request req on f and a pointer to FS_NODUMP_FL, and
// returns "ok" or the name of its errno.
func flagsIoctl(nr uintptr, f *os.File, req uintptr) string {
	flags := int32(fsNodumpFL)
	if _, _, e := unix.Syscall(nr, f.Fd(), req, uintptr(unsafe.Pointer(&flags))); e != 0 {
		return unix.ErrnoName(e)
	}
	return "ok"
}

// A file the policy lets the program read only cannot have its inode
// flags changed through a read-only descriptor (chattr: a root program
// could make a library immutable or append-only); the filter refuses the
// request with EPERM. (Without the refusal the flag is set here, on
// tmpfs and ext4 alike.)
func TestInodeFlagsRefused(t *testing.T) {
	dir := sectest.PublicDir(t)
	writeFile(t, dir+"/f", "x", 0o644)
	res := sandbox(t, emulate.FilePolicy{Read: append(emulate.SystemPaths(), dir)}, stdoutOnly(goProgram("setflags", dir+"/f")))
	if res.err != nil || res.out != "setflags=EPERM\n" {
		t.Errorf("%v: %q, want setflags=EPERM", res.err, res.out)
	}
	f, err := os.Open(dir + "/f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var flags int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.FS_IOC_GETFLAGS, uintptr(unsafe.Pointer(&flags))); e == 0 && flags&fsNodumpFL != 0 {
		t.Errorf("the file's flags are %#x: FS_NODUMP_FL was set", flags)
	}
}

func init() {
	// tcpmisc ALLOWED FORBIDDEN: the TCP calls that reach an address
	// other than by connect, and dissolving a connection, on 127.0.0.1;
	// print "step=ERRNO" (or "step=ok") for each.
	goPrograms["tcpmisc"] = func(args []string) int {
		allowed, _ := strconv.Atoi(args[0])
		forbidden, _ := strconv.Atoi(args[1])
		show := func(step string, err error) {
			s := "ok"
			if err != nil {
				s = unix.ErrnoName(errno(err))
			}
			fmt.Printf("%s=%s\n", step, s)
		}
		to := func(port int) *unix.SockaddrInet4 {
			return &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
		}
		tcp := func() int {
			s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				fmt.Println("socket:", err)
				os.Exit(1)
			}
			return s
		}
		// sendto with MSG_FASTOPEN connects a TCP socket to its address.
		s := tcp()
		show("fastopen-forbidden", unix.Sendto(s, []byte("tfo\n"), unix.MSG_FASTOPEN, to(forbidden)))
		unix.Close(s)
		s = tcp()
		show("fastopen-allowed", unix.Sendto(s, []byte("tfo\n"), unix.MSG_FASTOPEN, to(allowed)))
		unix.Close(s)
		// connect, dissolve (AF_UNSPEC), connect elsewhere.
		s = tcp()
		show("connect", unix.Connect(s, to(allowed)))
		var unspec [16]byte
		_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(s), uintptr(unsafe.Pointer(&unspec[0])), uintptr(len(unspec)))
		show("unspec", errno0(e))
		show("reconnect-forbidden", unix.Connect(s, to(forbidden)))
		unix.Close(s)
		// An IPv4 destination on an IPv6 UDP socket (the kernel sends to
		// it as IPv4).
		s6, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			fmt.Println("socket:", err)
			return 1
		}
		show("v4-on-v6", unix.Sendto(s6, []byte("x"), 0, to(forbidden)))
		unix.Close(s6)
		return 0
	}
}

func errno0(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// Calls that reach a TCP address other than by connect are decided as
// connect is: sendto with MSG_FASTOPEN (it connects), a connect after
// the connection was dissolved (AF_UNSPEC), an IPv4 destination on an
// IPv6 socket. The forbidden listener accepts nothing.
func TestFastOpenAndDissolve(t *testing.T) {
	ok, no := listenTCP(t), listenTCP(t)
	res := netSandbox(t, emulate.NetworkPolicy{Connect: []string{"127.0.0.1:" + ok.portString()}}, stdoutOnly(goProgram("tcpmisc", ok.portString(), no.portString())))
	want := "fastopen-forbidden=EACCES\nfastopen-allowed=ok\nconnect=ok\nunspec=ok\nreconnect-forbidden=EACCES\nv4-on-v6=EACCES\n"
	if res.err != nil || res.out != want {
		t.Errorf("%v, got\n%swant\n%s", res.err, res.out, want)
	}
	if n := no.accepted.Load(); n != 0 {
		t.Errorf("the forbidden listener accepted %d connections", n)
	}
}

// The inode-changing ioctl requests get EPERM from the filter on every
// ABI, whatever else the filter says of ioctl (here: notify all of it);
// others keep that action.
func TestInodeIoctlFilter(t *testing.T) {
	fs, err := emulate.NewFiles(emulate.FilePolicy{Read: []string{"/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, notifyIoctl := range []bool{false, true} {
		f := x86Filter(t)
		other := uint32(0x7fff0000) // SECCOMP_RET_ALLOW
		if notifyIoctl {
			if err := f.Add(filter.Notify, "ioctl"); err != nil {
				t.Fatal(err)
			}
			other = 0x7fc00000 // SECCOMP_RET_USER_NOTIF
		}
		if err := fs.AddRules(f); err != nil {
			t.Fatal(err)
		}
		vm := filterVM(t, f)
		const (
			eperm = 0x00050000 | uint32(unix.EPERM) // SECCOMP_RET_ERRNO
			x86   = unix.AUDIT_ARCH_X86_64
			i386  = unix.AUDIT_ARCH_I386
			high  = 1 << 32
		)
		for _, c := range []struct {
			what string
			arch uint32
			nr   int
			req  uint64
			want uint32
		}{
			{"FS_IOC_SETFLAGS", x86, unix.SYS_IOCTL, unix.FS_IOC_SETFLAGS, eperm},
			{"FS_IOC_SETFLAGS with high bits", x86, unix.SYS_IOCTL, unix.FS_IOC_SETFLAGS | high, eperm},
			{"FS_IOC_ENABLE_VERITY", x86, unix.SYS_IOCTL, unix.FS_IOC_ENABLE_VERITY, eperm},
			{"FS_IOC_GETFLAGS", x86, unix.SYS_IOCTL, unix.FS_IOC_GETFLAGS, other},
			{"TCGETS", x86, unix.SYS_IOCTL, unix.TCGETS, other},
			{"i386 FS_IOC32_SETFLAGS", i386, 54, 0x40046602, eperm},
			{"i386 FS_IOC_FSSETXATTR", i386, 54, 0x401c5820, eperm},
			{"i386 TCGETS", i386, 54, unix.TCGETS, other},
		} {
			got, err := vm.Run(seccompData(c.arch, c.nr, []uint64{3, c.req}))
			if err != nil {
				t.Fatal(err)
			}
			if uint32(got) != c.want {
				t.Errorf("ioctl notified %v: %s: %#x, want %#x", notifyIoctl, c.what, got, c.want)
			}
		}
	}
}

// x32 ioctls reach the Mux (the filter cannot match x32 calls): Files'
// middleware refuses the inode-changing requests among them, on the
// request's low 32 bits, and passes every other call on.
func TestInodeIoctlX32Middleware(t *testing.T) {
	fs, err := emulate.NewFiles(emulate.FilePolicy{Read: []string{"/"}})
	if err != nil {
		t.Fatal(err)
	}
	m := seccompstream.NewMux()
	fs.Register(m)
	m.HandleDefault(seccompstream.Answer(seccompstream.Continue()))
	const (
		x86   = unix.AUDIT_ARCH_X86_64
		x32   = 0x40000000
		ioctl = x32 | 514 // x32's own number
		high  = 1 << 32
	)
	eperm, cont := seccompstream.Errno(unix.EPERM).String(), seccompstream.Continue().String()
	for _, c := range []struct {
		what string
		arch uint32
		nr   int32
		req  uint64
		want string
	}{
		{"x32 FS_IOC32_SETFLAGS", x86, ioctl, 0x40046602, eperm},
		{"x32 FS_IOC_FSSETXATTR with high bits", x86, ioctl, 0x401c5820 | high, eperm},
		{"x32 FS_IOC32_GETFLAGS", x86, ioctl, 0x80046601, cont},
		{"x32 TCGETS", x86, ioctl, unix.TCGETS, cont},
		{"x86_64's ioctl number with the x32 bit (the kernel refuses it)", x86, x32 | 16, 0x40046602, cont},
		{"x32 read", x86, x32, 0x40046602, cont},
		{"x86_64 ioctl (the filter refuses it)", x86, 16, 0x40046602, cont},
		{"aarch64 with the x32 bit", unix.AUDIT_ARCH_AARCH64, x32 | 29, 0x40046602, cont},
	} {
		n := &seccompstream.Notification{Arch: c.arch, Syscall: c.nr, Args: [6]uint64{3, c.req}}
		if got := m.ServeNotification(context.Background(), n).String(); got != c.want {
			t.Errorf("%s: %s, want %s", c.what, got, c.want)
		}
	}
}

func init() {
	// create DIR: with umask 027, create DIR/f (0666), DIR/d (0777) and
	// DIR/p (mknod FIFO 0666); print each one's mode and group.
	goPrograms["create"] = func(args []string) int {
		syscall.Umask(0o027)
		dir := args[0]
		if f, err := os.OpenFile(dir+"/f", os.O_CREATE|os.O_WRONLY, 0o666); err != nil {
			fmt.Println(err)
		} else {
			f.Close()
		}
		if err := os.Mkdir(dir+"/d", 0o777); err != nil {
			fmt.Println(err)
		}
		if err := unix.Mknod(dir+"/p", unix.S_IFIFO|0o666, 0); err != nil {
			fmt.Println(err)
		}
		for _, name := range []string{"f", "d", "p"} {
			var st unix.Stat_t
			if err := unix.Lstat(dir+"/"+name, &st); err != nil {
				fmt.Println(err)
				continue
			}
			fmt.Printf("%s %#o %d\n", name, st.Mode&0o7777, st.Gid)
		}
		return 0
	}
}

// Files and directories made through the emulation get the program's
// umask, and the group of a setgid directory (subdirectories keep its
// setgid bit), as the kernel gives them to the program.
func TestCreateUmaskSetgid(t *testing.T) {
	dir := sectest.PublicDir(t)
	if err := os.Chown(dir, 0, 4242); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(dir, 0o2777); err != nil { // os.Chmod takes os.ModeSetgid, not 02000
		t.Fatal(err)
	}
	res := sandbox(t, emulate.FilePolicy{Read: emulate.SystemPaths(), Write: []string{dir}}, stdoutOnly(goProgram("create", dir)))
	want := "f 0640 4242\nd 02750 4242\np 0640 4242\n"
	if res.err != nil || res.out != want {
		t.Errorf("%v, got\n%swant\n%s", res.err, res.out, want)
	}
}

// stdoutOnly drops cmd's standard error, so that the tests compare what
// the program prints and not the race detector's warnings (its runtime
// reads /proc/self/exe, which the policies here do not allow).
func stdoutOnly(cmd *exec.Cmd) *exec.Cmd {
	cmd.Stderr = io.Discard
	return cmd
}
