// Package ocitest holds fixtures for tests that need OCI runtime material:
// Docker's default seccomp profile, built by moby's own code, and real
// containers: busybox root filesystems (BusyboxRootfs), bundles (Spec and
// WriteBundle, or Bundle with a seccomp section as given) and runc or crun
// to run them (Runtime: Run, Start, RunDetached, ForEachRuntime). It is
// the one place the module's tests run containers from; it is for tests
// only (it pulls in github.com/moby/profiles).
package ocitest

import (
	"encoding/json"
	"testing"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// DockerProfile returns moby's default seccomp profile for a container
// with Docker's default capabilities, as JSON, as a runtime finds it in
// config.json's linux.seccomp.
func DockerProfile(tb testing.TB) []byte {
	tb.Helper()
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: []string{
			"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
			"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
			"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
		},
	}}}
	p, err := seccomp.GetDefaultProfile(spec)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Seccomp decodes a linux.seccomp JSON object.
func Seccomp(tb testing.TB, b []byte) *specs.LinuxSeccomp {
	tb.Helper()
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(b, &s); err != nil {
		tb.Fatal(err)
	}
	return &s
}
