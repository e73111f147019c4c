package ocitest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// BusyboxRootfs makes a rootfs in a temporary directory of t with busybox
// (busybox-static) as /bin/busybox and the applets linked to it, and
// empty /proc, /dev, /sys, /etc and /tmp (mode 1777) directories.
func BusyboxRootfs(t testing.TB, applets ...string) string {
	t.Helper()
	return BusyboxRootfsIn(t, t.TempDir(), applets...)
}

// BusyboxRootfsIn is BusyboxRootfs as dir/rootfs, for a rootfs that must
// be somewhere else than t's temporary directories (which only their
// owner can enter).
func BusyboxRootfsIn(t testing.TB, dir string, applets ...string) string {
	t.Helper()
	bb := sectest.RequireTool(t, "busybox")
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// Spec returns the spec of a test container that runs args (PATH=/bin,
// as root, no new privileges) in rootfs, with /proc, in new pid, ipc, uts
// and mount namespaces, without seccomp. Tests add what their containers
// need and write it with WriteBundle.
func Spec(rootfs string, args ...string) *specs.Spec {
	return &specs.Spec{
		Version:  "1.0.2",
		Root:     &specs.Root{Path: rootfs},
		Hostname: "ocitest",
		Process: &specs.Process{
			Args: args, Env: []string{"PATH=/bin"}, Cwd: "/",
			NoNewPrivileges: true, User: specs.User{UID: 0, GID: 0},
		},
		Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
		},
	}
}

// WriteBundle writes spec as the config.json of a new bundle directory in
// a temporary directory of t, and returns the directory.
func WriteBundle(t testing.TB, spec *specs.Spec) string {
	t.Helper()
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, b)
}

// Bundle writes a bundle that runs args in rootfs as Spec says, with a
// tmpfs /tmp, and with seccompJSON, exactly as given, as its
// linux.seccomp (none when nil). It returns the bundle's directory.
func Bundle(t testing.TB, rootfs string, seccompJSON []byte, args ...string) string {
	t.Helper()
	spec := Spec(rootfs, args...)
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"})
	if seccompJSON == nil {
		return WriteBundle(t, spec)
	}
	// The seccomp section goes in as raw JSON, so that a profile's
	// fields that runtime-spec does not know reach the runtime too.
	linux, err := json.Marshal(spec.Linux)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(linux, &fields); err != nil {
		t.Fatal(err)
	}
	fields["seccomp"] = seccompJSON
	raw := struct {
		*specs.Spec
		Linux map[string]json.RawMessage `json:"linux"`
	}{spec, fields}
	b, err := json.MarshalIndent(raw, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, b)
}

func writeConfig(t testing.TB, config []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
