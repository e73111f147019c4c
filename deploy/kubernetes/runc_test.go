package kubernetes_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// TestDaemonSetServes runs the agent the way the DaemonSet runs it, as far
// as runc on this machine can: the image's binary with the DaemonSet's
// args, as uid 0 with only the capabilities the DaemonSet adds,
// no_new_privs (allowPrivilegeEscalation: false), a read-only root, the
// node's pid namespace (hostPID) and the seccomp profile the DaemonSet
// asks for (RuntimeDefault: Docker's default profile resolved for those
// capabilities, as containerd's and CRI-O's defaults are; a Localhost
// profile: the one the init container installs). Then a container with a
// user namespace, under the shipped Localhost profile, makes /dev/null,
// and so does one without a user namespace running as uid 1000: the agent
// must create the nodes, which it can only with what the DaemonSet gives
// it (each added capability is needed by one of the two). This is what checks that the capabilities and the
// profile are enough, not only explained.
func TestDaemonSetServes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs containers")
	}
	rt := ocitest.NewRuntime(t, "runc")
	gobin := sectest.RequireTool(t, "go")
	objs := load(t)
	ds := get(t, objs, "DaemonSet/seccompstream-agent")
	c := ds.Spec.Template.Spec.Containers[0]
	socket, policyFile := flagValue(c.Args, "--socket"), flagValue(c.Args, "--policy")

	// The agent's root: the binary alone, as in the image.
	work := sectest.PublicDir(t)
	agentRoot := filepath.Join(work, "agent-root")
	for _, d := range []string{"proc", "dev", "sys", path.Dir(socket), path.Dir(policyFile)} {
		if err := os.MkdirAll(filepath.Join(agentRoot, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command(gobin, "build", "-trimpath", "-o", filepath.Join(agentRoot, "seccomp-stream"), "../../cmd/seccomp-stream")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v: %s", err, out)
	}
	hostSocketDir := filepath.Join(work, "socket")
	if err := os.Mkdir(hostSocketDir, 0o755); err != nil {
		t.Fatal(err)
	}
	hostPolicy := filepath.Join(work, "policy.json")
	policyCM := get(t, objs, "ConfigMap/seccompstream-policy")
	if err := os.WriteFile(hostPolicy, []byte(policyCM.Data[path.Base(policyFile)]), 0o644); err != nil {
		t.Fatal(err)
	}

	var caps []string
	for _, c := range c.SecurityContext.Capabilities.Add {
		caps = append(caps, "CAP_"+c)
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: agentRoot, Readonly: true},
		Process: &specs.Process{
			Args: append([]string{"/seccomp-stream"}, replaceFlag(c.Args, "--metrics-addr", "127.0.0.1:0")...),
			Env:  []string{"PATH=/"},
			Cwd:  "/",
			User: specs.User{UID: uint32(*c.SecurityContext.RunAsUser)},
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			NoNewPrivileges: true,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: path.Dir(socket), Type: "bind", Source: hostSocketDir, Options: []string{"rbind", "rw"}},
			{Destination: policyFile, Type: "bind", Source: hostPolicy, Options: []string{"rbind", "ro"}},
		},
		Linux: &specs.Linux{
			// No pid namespace (hostPID) and no network namespace.
			Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}},
		},
	}
	switch sp := c.SecurityContext.SeccompProfile; {
	case sp == nil || sp.Type == "Unconfined":
	case sp.Type == "RuntimeDefault":
		prof, err := mobyseccomp.GetDefaultProfile(spec)
		if err != nil {
			t.Fatal(err)
		}
		spec.Linux.Seccomp = prof
	case sp.Type == "Localhost":
		data, ok := get(t, objs, "ConfigMap/seccompstream-profile").Data[sp.LocalhostProfile]
		if !ok {
			t.Fatalf("the agent's Localhost profile %q is not in the profile ConfigMap", sp.LocalhostProfile)
		}
		var prof specs.LinuxSeccomp
		if err := json.Unmarshal([]byte(data), &prof); err != nil {
			t.Fatalf("the agent's profile %s: %v", sp.LocalhostProfile, err)
		}
		if prof.ListenerPath != "" {
			t.Fatalf("the agent's own profile %s names a listener: the agent would wait on itself", sp.LocalhostProfile)
		}
		spec.Linux.Seccomp = &prof
	default:
		t.Fatalf("seccompProfile type %q", sp.Type)
	}
	agent := rt.Start(t, context.Background(), ocitest.WriteBundle(t, spec), rt.ID("ds-agent"))
	agent.WaitOutput(t, "listening")

	// The workload: root of a user namespace (host uid 100000) under the
	// shipped profile, which sends device mknods to the agent.
	const base = 100000
	root := ocitest.BusyboxRootfsIn(t, work)
	if err := os.Chown(filepath.Join(root, "tmp"), base, base); err != nil {
		t.Fatal(err)
	}
	prof, _ := loadProfile(t)
	prof.ListenerPath = filepath.Join(hostSocketDir, path.Base(socket))
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: base, Size: 65536}}
	workload := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: root},
		Process: &specs.Process{
			Args: []string{"/bin/busybox", "sh", "-c", `/bin/busybox mknod /tmp/null c 1 3; echo "mknod=$?"`},
			Env:  []string{"PATH=/bin"}, Cwd: "/", NoNewPrivileges: true,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.UserNamespace}, {Type: specs.NetworkNamespace}},
			UIDMappings: m, GIDMappings: m,
			Seccomp: prof,
		},
	}
	_, out := rt.Run(t, ocitest.WriteBundle(t, workload), rt.ID("ds-workload"))
	if !strings.Contains(out, "mknod=0") {
		t.Errorf("mknod of /dev/null in a user-namespaced container under the agent as deployed:\n%s\nagent's log:\n%s", out, agent.Output())
	}
	checkNode(t, filepath.Join(root, "tmp", "null"), base)

	// And a container without a user namespace running as uid 1000 (no
	// CAP_MKNOD): the agent owns no user namespace of it, so reading its
	// memory takes CAP_SYS_PTRACE.
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	workload.Process.User = specs.User{UID: 1000, GID: 1000}
	workload.Process.Args[3] = `/bin/busybox mknod /tmp/null1000 c 1 3; echo "mknod=$?"`
	workload.Linux.Namespaces = workload.Linux.Namespaces[:4]
	workload.Linux.UIDMappings, workload.Linux.GIDMappings = nil, nil
	_, out = rt.Run(t, ocitest.WriteBundle(t, workload), rt.ID("ds-workload-1000"))
	if !strings.Contains(out, "mknod=0") {
		t.Errorf("mknod of /dev/null as uid 1000 under the agent as deployed:\n%s\nagent's log:\n%s", out, agent.Output())
	}
	checkNode(t, filepath.Join(root, "tmp", "null1000"), 1000)
}

// checkNode checks that path is a 1:3 character device owned by uid.
func checkNode(t *testing.T, path string, uid uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Errorf("no node: %v", err)
		return
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) || st.Uid != uid {
		t.Errorf("%s: mode %o rdev %d:%d owner %d, want a 1:3 char device of %d", path, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Uid, uid)
	}
}

// replaceFlag returns args with the value of flag name replaced by value.
func replaceFlag(args []string, name, value string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == name && i+1 < len(out) {
			out[i+1] = value
		}
	}
	return out
}
