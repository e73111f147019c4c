package profile_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/profile"
)

// envSockets makes the test binary open and close a socket of each
// address family in its value ("1,2": AF_UNIX, AF_INET) and print
// "FAMILY ok" or "FAMILY ERRNO" for each, instead of running the tests.
const envSockets = "SECCOMPSTREAM_PROFILE_SOCKETS"

func sockets(fams string) int {
	for _, f := range strings.Split(fams, ",") {
		fam, _ := strconv.Atoi(f)
		fd, _, errno := unix.RawSyscall(unix.SYS_SOCKET, uintptr(fam), unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if errno != 0 {
			fmt.Printf("%d %s\n", fam, unix.ErrnoName(errno))
			continue
		}
		unix.Close(int(fd))
		fmt.Printf("%d ok\n", fam)
	}
	return 0
}

// x86_64 notification of call name with arguments args.
func notif(t *testing.T, name string, args ...uint64) *seccompstream.Notification {
	t.Helper()
	n := &seccompstream.Notification{Arch: unix.AUDIT_ARCH_X86_64, Syscall: sectest.Number(t, unix.AUDIT_ARCH_X86_64, name)}
	copy(n.Args[:], args)
	return n
}

func TestArgRules(t *testing.T) {
	rec := profile.NewRecorder(profile.WithArgRules(3))
	for _, n := range []*seccompstream.Notification{
		notif(t, "socket", unix.AF_UNIX, unix.SOCK_STREAM),
		notif(t, "socket", unix.AF_INET, unix.SOCK_DGRAM),
		notif(t, "socket", unix.AF_UNIX, unix.SOCK_DGRAM), // same family: no new rule
		notif(t, "personality", 0xffffffff),
		// clone: a thread and a fork differ outside the mask only; a
		// new network namespace does not.
		notif(t, "clone", unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD|unix.CLONE_SETTLS),
		notif(t, "clone", uint64(unix.SIGCHLD)|unix.CLONE_CHILD_SETTID|unix.CLONE_CHILD_CLEARTID),
		notif(t, "clone", uint64(unix.SIGCHLD)|unix.CLONE_NEWNET),
		// four prctl options: one more than the cap, so prctl is kept
		// by name only.
		notif(t, "prctl", unix.PR_SET_NAME), notif(t, "prctl", unix.PR_GET_NAME),
		notif(t, "prctl", unix.PR_SET_NO_NEW_PRIVS), notif(t, "prctl", unix.PR_SET_PDEATHSIG),
		notif(t, "openat", 3, 0x1000, 0), // no recorded argument (a path)
	} {
		rec.Record(n)
	}
	checkCalls(t, "recording", rec.Profile(),
		"SCMP_ARCH_X86_64 clone if arg0&0x7e020000 == 0x0 | arg0&0x7e020000 == 0x40000000",
		"SCMP_ARCH_X86_64 openat",
		"SCMP_ARCH_X86_64 personality if arg0 == 0xffffffff",
		"SCMP_ARCH_X86_64 prctl",
		"SCMP_ARCH_X86_64 socket if arg0 == 0x1 | arg0 == 0x2",
	)
	if c, _ := rec.Profile().Lookup(x86_64, "socket"); c.Count != 3 {
		t.Errorf("socket counted %d times, want 3", c.Count)
	}

	// The zero Recorder, and NewRecorder without the option, record names
	// only.
	var plain profile.Recorder
	plain.Record(notif(t, "socket", unix.AF_UNIX))
	checkCalls(t, "without WithArgRules", plain.Profile(), "SCMP_ARCH_X86_64 socket")
}

// TestArgRulesI386: the values of an i386 call are recorded with its own
// register index, as an i386 filter sees them.
func TestArgRulesI386(t *testing.T) {
	rec := profile.NewRecorder(profile.WithArgRules(0))
	nr := sectest.Number(t, unix.AUDIT_ARCH_I386, "socket")
	rec.Record(&seccompstream.Notification{Arch: unix.AUDIT_ARCH_I386, Syscall: nr, Args: [6]uint64{unix.AF_INET6}})
	checkCalls(t, "i386", rec.Profile(), "SCMP_ARCH_X86 socket if arg0 == 0xa")
}

// TestArgRulesConcurrent: values recorded from many goroutines at once
// are each kept once, up to the cap.
func TestArgRulesConcurrent(t *testing.T) {
	rec := profile.NewRecorder(profile.WithArgRules(profile.DefaultArgValues))
	var wg sync.WaitGroup
	n := sectest.Scale(5000)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				fam := uint64((i + g) % profile.DefaultArgValues)
				rec.Record(&seccompstream.Notification{Arch: unix.AUDIT_ARCH_X86_64, Syscall: unix.SYS_SOCKET, Args: [6]uint64{fam}})
			}
		}()
	}
	wg.Wait()
	c, ok := rec.Profile().Lookup(x86_64, "socket")
	if !ok || len(c.Rules) != profile.DefaultArgValues || c.Count != 8*uint64(n) {
		t.Errorf("socket: %v (count %d), want %d rules and count %d", c, c.Count, profile.DefaultArgValues, 8*n)
	}
	// One value more: by name only.
	rec.Record(&seccompstream.Notification{Arch: unix.AUDIT_ARCH_X86_64, Syscall: unix.SYS_SOCKET, Args: [6]uint64{99}})
	if c, _ := rec.Profile().Lookup(x86_64, "socket"); len(c.Rules) != 0 {
		t.Errorf("past the cap: %v, want socket by name only", c)
	}
}

func TestArgRulesAllocs(t *testing.T) {
	if sectest.RaceEnabled() {
		t.Skip("the race detector allocates")
	}
	rec := profile.NewRecorder(profile.WithArgRules(0))
	n := &seccompstream.Notification{Arch: sysnames.Native(), Syscall: int32(unix.SYS_SOCKET), Args: [6]uint64{unix.AF_UNIX}}
	rec.Record(n)
	if a := testing.AllocsPerRun(1000, func() { rec.Record(n) }); a != 0 {
		t.Errorf("Record with argument rules allocates %v times per call", a)
	}
}

// TestArgRulesEnforced records a program that opens AF_UNIX and AF_INET
// sockets, with argument rules, and runs it under the profile: those two
// families work, AF_INET6 fails with ENOSYS, as the recorded register
// values say, and the profile loads as OCI.
func TestArgRulesEnforced(t *testing.T) {
	native, ok := nativeOCIArch()
	if !ok {
		t.Skip("no OCI name for this GOARCH in the test")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := func(fams string) *exec.Cmd {
		c := exec.Command(self)
		c.Env = append(os.Environ(), envSockets+"="+fams)
		return c
	}
	rec := profile.NewRecorder(profile.WithArgRules(0))
	c := cmd("1,2")
	var out strings.Builder
	c.Stdout = &out
	st, err := seccompstream.Start(c, recordFilter(t))
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- c.Wait() }()
	if err := st.Serve(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := <-waited; err != nil || out.String() != "1 ok\n2 ok\n" {
		t.Fatalf("recording run: %v, output %q", err, out.String())
	}
	p := rec.Profile()
	sc, _ := p.Lookup(native, "socket")
	if want := "socket if arg0 == 0x1 | arg0 == 0x2"; !strings.HasSuffix(sc.String(), want) {
		t.Fatalf("recorded %v, want %s", sc, want)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.LinuxSeccomp
	if err := jsonUnmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	under := enforce(t, p, cmd("1,2,10"))
	if under.code != 0 || under.stdout != "1 ok\n2 ok\n10 ENOSYS\n" {
		t.Errorf("under the profile: %+v", under)
	}
}
