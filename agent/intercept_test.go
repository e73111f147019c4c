package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/cbuild"
	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/policy"
)

func TestInterceptRulesBad(t *testing.T) {
	if _, err := agent.InterceptRules("mknod", "open"); err == nil || !strings.Contains(err.Error(), `"open"`) {
		t.Errorf("InterceptRules with an unknown intercept: %v", err)
	}
	names, err := agent.InterceptedSyscalls("sysinfo", "mknod", "mknod")
	if err != nil || strings.Join(names, ",") != "mknod,mknodat,sysinfo" {
		t.Errorf("InterceptedSyscalls: %q, %v", names, err)
	}
}

// TestProfilePrefilter runs a runc container under deploy/kubernetes's
// generated profile: mknod of a character or block device and sysinfo
// reach the agent, mknod of a FIFO and of a regular file do not (the
// register prefilter lets the kernel run them), and the rest of Docker's
// default profile lets a shell run.
func TestProfilePrefilter(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	ctx := testCtx(t)
	data, err := os.ReadFile("../deploy/kubernetes/seccomp-profile.json")
	if err != nil {
		t.Fatal(err)
	}
	var profile specs.LinuxSeccomp
	if err := json.Unmarshal(data, &profile); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 100)
	sock := startServer(t, &agent.Server{
		Logger: slog.New(newLogRecorder()),
		NewHandler: func(c *agent.Container) seccompstream.Handler {
			return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
				mode := ""
				switch n.SyscallName() {
				case "mknod":
					mode = typeName(n.Args[1])
				case "mknodat":
					mode = typeName(n.Args[2])
				}
				seen <- n.SyscallName() + " " + mode
				return seccompstream.Errno(unix.EDQUOT)
			})
		},
	})
	bundle := newBundle(t, bundleOpts{
		rootfs:   newRootfs(t),
		listener: sock,
		seccomp:  &profile,
		script: `mknod /tmp/c c 1 3; echo "c=$?"; mknod /tmp/b b 7 0; echo "b=$?"; mknod /tmp/p p; echo "p=$?"; ` +
			`free >/dev/null; echo "free=$?"; echo done`,
	})
	out := strings.ToLower(rt.Start(t, ctx, bundle, "prefilter").Wait(t))
	// busybox's free falls back on its own when sysinfo fails.
	for _, want := range []string{"c=1", "b=1", "p=0", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
	// Every call was answered before the container exited; the channel
	// holds them all (not closed: the handler goroutines own the sends).
	var got []string
	for len(seen) > 0 {
		got = append(got, strings.TrimSpace(strings.Replace(<-seen, "mknodat ", "mknod ", 1)))
	}
	if strings.Join(got, ",") != "mknod chr,mknod blk,sysinfo" {
		t.Errorf("the agent saw %q, want the character device, the block device and sysinfo", got)
	}
}

func typeName(mode uint64) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFCHR:
		return "chr"
	case unix.S_IFBLK:
		return "blk"
	case unix.S_IFIFO:
		return "fifo"
	}
	return "other"
}

// interceptServer serves by a policy file with both intercepts (the
// default devices for mknod and mknodat, emulate.Mknod; sysinfo,
// emulate.Sysinfo): the path a policy file takes to them.
func interceptServer(t *testing.T) string {
	t.Helper()
	p, err := policy.Parse([]byte(`{"default": "allow", "intercepts": {"mknod": {}, "sysinfo": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	newHandler, err := agent.PolicyHandler(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, &agent.Server{Logger: slog.New(newLogRecorder()), NewHandler: newHandler})
}

// interceptSeccomp is a profile that allows everything but what the
// intercepts take (with their register prefilter).
func interceptSeccomp(t *testing.T) *specs.LinuxSeccomp {
	t.Helper()
	rules, err := agent.InterceptRules(agent.InterceptMknod, agent.InterceptSysinfo)
	if err != nil {
		t.Fatal(err)
	}
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86}, Syscalls: rules}
}

// TestInterceptMknod: in a runc container with a user namespace, mknod of
// /dev/null's numbers succeeds through the intercept and the node is a
// 1:3 character device owned by the caller (root of the container, host
// uid 100000); a block device stays EPERM, as does a name where the
// caller may not create a file.
func TestInterceptMknod(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	ctx := testCtx(t)
	sock := interceptServer(t)
	rootfs := newUsernsRootfs(t)
	os.MkdirAll(filepath.Join(rootfs, "rootonly"), 0o755) // host root's: not the container's
	bundle := newBundle(t, bundleOpts{
		rootfs: rootfs, listener: sock, userns: true, seccomp: interceptSeccomp(t),
		script: `mknod /tmp/null c 1 3; echo "c=$?"; stat -c 'node=%F %t:%T %u:%g %a' /tmp/null; ` +
			`mknod /tmp/loop b 7 0; echo "b=$?"; mknod /rootonly/null c 1 3; echo "r=$?"; ` +
			`mknod /tmp/fifo p; echo "p=$?"; echo done`,
	})
	out := strings.ToLower(rt.Start(t, ctx, bundle, "intercept-mknod").Wait(t))
	for _, want := range []string{
		"c=0", "node=character special file 1:3 0:0 644",
		"mknod: /tmp/loop: operation not permitted", "b=1",
		"mknod: /rootonly/null: permission denied", "r=1",
		"p=0", "done",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(rootfs, "tmp", "null"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 || st.Uid != usernsBase || st.Gid != usernsBase {
		t.Errorf("node on the host: mode %o rdev %d:%d owner %d:%d; want a 1:3 char device of %d", st.Mode,
			unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Uid, st.Gid, usernsBase)
	}
}

// sysinfoProg prints what sysinfo says of the total memory, from a native
// call and from an i386 one (int $0x80; built non-PIE, so its buffer sits
// below 4 GiB).
const sysinfoProg = `#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
static unsigned char buf32[64];
int main(void) {
	struct sysinfo si;
	if (sysinfo(&si) != 0) { perror("sysinfo"); return 1; }
	printf("native=%llu\n", (unsigned long long)si.totalram * si.mem_unit);
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(116), "b"(buf32) : "memory", "cc");
	unsigned int total, unit;
	memcpy(&total, buf32 + 16, 4);
	memcpy(&unit, buf32 + 52, 4);
	printf("i386=%d %llu\n", (int)ret, (unsigned long long)total * unit);
	return 0;
}
`

// TestInterceptSysinfo: sysinfo in a runc container with a 64 MiB memory
// limit reports that limit, to a 64-bit caller and to an i386 one.
func TestInterceptSysinfo(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	sectest.RequireFeature(t, "IA32 emulation (int $0x80)", "", haveIA32())
	ctx := testCtx(t)
	sock := interceptServer(t)
	rootfs := newRootfs(t)
	sectest.BuildCIn(t, filepath.Join(rootfs, "bin"), cbuild.Program{Name: "si", Source: []byte(sysinfoProg), Flags: []string{"-static", "-no-pie", "-O1"}})
	const limit = 64 << 20
	bundle := newBundle(t, bundleOpts{rootfs: rootfs, listener: sock, seccomp: interceptSeccomp(t), memoryLimit: limit, script: `/bin/si`})
	out := rt.Start(t, ctx, bundle, "intercept-sysinfo").Wait(t)
	for _, want := range []string{fmt.Sprintf("native=%d\n", limit), fmt.Sprintf("i386=0 %d\n", limit)} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
}

// haveIA32 reports whether this kernel runs i386 code (int $0x80).
func haveIA32() bool {
	_, err := os.Stat("/proc/sys/abi/vsyscall32")
	return err == nil
}

// TestInterceptMknodWhiteout: an overlayfs whiteout (a character device
// 0:0), which the kernel lets a caller without CAP_MKNOD create (Linux
// 5.8), is still created under the mknod intercept: the intercept lets
// the kernel run it rather than refusing a device outside its list.
func TestInterceptMknodWhiteout(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	ctx := testCtx(t)
	sock := interceptServer(t)
	rootfs := newUsernsRootfs(t)
	bundle := newBundle(t, bundleOpts{
		rootfs: rootfs, listener: sock, userns: true, seccomp: interceptSeccomp(t),
		script: `mknod /tmp/wh c 0 0; echo "w=$?"; echo done`,
	})
	out := strings.ToLower(rt.Start(t, ctx, bundle, "intercept-whiteout").Wait(t))
	for _, want := range []string{"w=0", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(rootfs, "tmp", "wh"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 || st.Uid != usernsBase {
		t.Errorf("whiteout on the host: mode %o rdev %d owner %d; want a 0:0 char device of %d", st.Mode, st.Rdev, st.Uid, usernsBase)
	}
}

// TestInterceptMknodCapable: a caller that holds CAP_MKNOD itself (a
// container without a user namespace, with the capability, as Kubernetes
// gives by default) keeps what the kernel gives it: a block device
// outside the intercept's list is created by the kernel, not refused.
func TestInterceptMknodCapable(t *testing.T) {
	rt := ocitest.NewRuntime(t, "runc")
	ctx := testCtx(t)
	sock := interceptServer(t)
	rootfs := newRootfs(t)
	bundle := newBundle(t, bundleOpts{
		rootfs: rootfs, listener: sock, seccomp: interceptSeccomp(t),
		caps:   []string{"CAP_MKNOD"},
		script: `mknod /tmp/loop b 7 0; echo "b=$?"; mknod /tmp/null c 1 3; echo "c=$?"; echo done`,
	})
	out := strings.ToLower(rt.Start(t, ctx, bundle, "intercept-capable").Wait(t))
	for _, want := range []string{"b=0", "c=0", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
}
