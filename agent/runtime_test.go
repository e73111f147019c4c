package agent_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// busyboxApplets are linked to /bin/busybox in the test rootfs.
var busyboxApplets = []string{"sh", "mkdir", "echo", "cat", "sleep", "ls", "true", "rmdir", "mknod", "free", "stat"}

// newRootfs makes a rootfs with busybox (busybox-static) and
// busyboxApplets in it.
func newRootfs(t testing.TB) string {
	t.Helper()
	return ocitest.BusyboxRootfs(t, busyboxApplets...)
}

// newUsernsRootfs is newRootfs for a userns bundle: in a directory the
// container's root (host uid usernsBase) can reach (t.TempDir's parents
// are 0700), with /tmp owned by it.
func newUsernsRootfs(t testing.TB) string {
	t.Helper()
	rootfs := ocitest.BusyboxRootfsIn(t, sectest.PublicDir(t), busyboxApplets...)
	if err := os.Chown(filepath.Join(rootfs, "tmp"), usernsBase, usernsBase); err != nil {
		t.Fatal(err)
	}
	return rootfs
}

// bundleOpts describes a test container.
type bundleOpts struct {
	rootfs      string // from newRootfs (shared by bundles)
	listener    string // linux.seccomp.listenerPath
	script      string // run by sh -c
	notify      []string
	annotations map[string]string
	metadata    string
	seccomp     *specs.LinuxSeccomp // replaces the profile made from notify; its listenerPath is set to listener
	userns      bool                // run in a user namespace: container 0..65535 is host 100000..165535
	memoryLimit int64               // linux.resources.memory.limit, if not 0
	caps        []string            // the process's capabilities (every set but ambient); none if nil
}

// usernsBase is the host uid and gid of root in a userns bundle.
const usernsBase = 100000

// newBundle writes a bundle directory whose config.json runs o.script under
// a seccomp profile that allows everything but o.notify (default mkdir and
// mkdirat), which go to the agent at o.listener.
func newBundle(t testing.TB, o bundleOpts) string {
	t.Helper()
	if o.notify == nil {
		o.notify = []string{"mkdir", "mkdirat"}
	}
	spec := ocitest.Spec(o.rootfs, "/bin/sh", "-c", o.script)
	spec.Hostname = "agent-test"
	spec.Annotations = o.annotations
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	)
	spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction:    specs.ActAllow,
		ListenerPath:     o.listener,
		ListenerMetadata: o.metadata,
		Syscalls:         notifyRules(o.notify),
	}
	if o.userns {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces,
			specs.LinuxNamespace{Type: specs.UserNamespace}, specs.LinuxNamespace{Type: specs.NetworkNamespace})
		m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: usernsBase, Size: 65536}}
		spec.Linux.UIDMappings, spec.Linux.GIDMappings = m, m
	}
	if o.caps != nil {
		spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: o.caps, Effective: o.caps, Permitted: o.caps, Inheritable: o.caps}
	}
	if o.memoryLimit != 0 {
		spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &o.memoryLimit}}
	}
	if o.seccomp != nil {
		sc := *o.seccomp
		sc.ListenerPath = o.listener
		spec.Linux.Seccomp = &sc
	}
	return ocitest.WriteBundle(t, spec)
}

// notifyRules returns the rule that notifies names, none for no names.
func notifyRules(names []string) []specs.LinuxSyscall {
	if len(names) == 0 {
		return nil
	}
	return []specs.LinuxSyscall{{Names: names, Action: specs.ActNotify}}
}
