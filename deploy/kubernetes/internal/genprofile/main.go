// Command genprofile writes the Localhost seccomp profiles of
// deploy/kubernetes:
//
//   - the pods' profile: Docker's default profile (moby/profiles/seccomp),
//     resolved for the capabilities a Kubernetes container has by default
//     on amd64, with mknod, mknodat and sysinfo sent to the seccompstream
//     agent (agent.InterceptRules) and the profile's listenerPath and
//     listenerMetadata set;
//   - the agent's own profile: the same default profile resolved for the
//     capabilities the DaemonSet gives the agent, plus unshare(CLONE_FS),
//     which Docker's and containerd's default profiles allow only with
//     CAP_SYS_ADMIN and which every throwaway thread acting as a caller
//     makes (its own root, working directory and umask).
//
// It writes them in the OCI format (linux.seccomp of config.json), which
// both containerd (plain JSON into the runtime-spec type) and CRI-O (the
// Docker format, a superset) read from the kubelet's seccomp directory,
// and a ConfigMap holding both that the DaemonSet installs on every node.
//
//	go run ./internal/genprofile -o seccomp-profile.json -agent agent-seccomp-profile.json -configmap seccomp-profile-configmap.yaml
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/agent"
)

// Kubernetes' default capabilities (those of containerd's and CRI-O's
// default runtime configuration, the same as Docker's).
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// The capabilities daemonset.yaml adds for the agent (TestDaemonSetServes
// runs the agent with the DaemonSet's list and this profile).
var agentCaps = []string{"CAP_SYS_PTRACE", "CAP_SETUID", "CAP_SETGID", "CAP_MKNOD", "CAP_CHOWN", "CAP_DAC_OVERRIDE"}

// Where the DaemonSet's agent listens, and what the profile tells it.
const (
	listenerPath     = "/run/seccompstream/agent.sock"
	listenerMetadata = "profile=seccompstream-intercepts\n"
	profileName      = "seccompstream-intercepts.json"
	agentProfileName = "seccompstream-agent.json"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "genprofile:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("genprofile", flag.ContinueOnError)
	out := flags.String("o", "seccomp-profile.json", "pods' profile output file")
	agentOut := flags.String("agent", "agent-seccomp-profile.json", "agent's profile output file")
	cm := flags.String("configmap", "", "ConfigMap output file (none if empty)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	p, err := profile()
	if err != nil {
		return err
	}
	data, err := marshal(p)
	if err != nil {
		return err
	}
	agentData, err := marshal(agentProfile())
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(*agentOut, agentData, 0o644); err != nil {
		return err
	}
	if *cm == "" {
		return nil
	}
	return os.WriteFile(*cm, configMap(data, agentData), 0o644)
}

func marshal(p *specs.LinuxSeccomp) ([]byte, error) {
	data, err := json.MarshalIndent(p, "", "  ")
	return append(data, '\n'), err
}

// agentProfile builds the agent's own profile.
func agentProfile() *specs.LinuxSeccomp {
	p := resolve(agentCaps)
	p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
		Names:  []string{"unshare"},
		Action: specs.ActAllow,
		Args:   []specs.LinuxSeccompArg{{Index: 0, Value: unix.CLONE_FS, Op: specs.OpEqualTo}},
	})
	return p
}

// resolve returns Docker's default profile resolved for amd64 and caps.
func resolve(caps []string) *specs.LinuxSeccomp {
	def := seccomp.DefaultProfile()
	p := def.LinuxSeccomp
	p.Syscalls = nil
	for _, a := range def.ArchMap {
		if a.Arch == specs.ArchX86_64 {
			p.Architectures = append([]specs.Arch{a.Arch}, a.SubArches...)
		}
	}
	for _, sc := range def.Syscalls {
		if applies(sc, caps) {
			p.Syscalls = append(p.Syscalls, sc.LinuxSyscall)
		}
	}
	return &p
}

// profile builds the profile.
func profile() (*specs.LinuxSeccomp, error) {
	intercepted, err := agent.InterceptedSyscalls(agent.InterceptMknod, agent.InterceptSysinfo)
	if err != nil {
		return nil, err
	}
	p := *resolve(defaultCaps)
	rules := p.Syscalls
	p.Syscalls = nil
	for _, r := range rules {
		r.Names = slices.DeleteFunc(slices.Clone(r.Names), func(n string) bool { return slices.Contains(intercepted, n) })
		if len(r.Names) == 0 {
			continue
		}
		p.Syscalls = append(p.Syscalls, r)
	}
	// mknod of what is not a device stays allowed, as Docker's profile
	// allows every mknod; devices go to the agent.
	p.Syscalls = append(p.Syscalls, agent.NonDeviceMknodRules()...)
	notify, err := agent.InterceptRules(agent.InterceptMknod, agent.InterceptSysinfo)
	if err != nil {
		return nil, err
	}
	p.Syscalls = append(p.Syscalls, notify...)
	p.ListenerPath = listenerPath
	p.ListenerMetadata = listenerMetadata
	return &p, nil
}

// applies resolves a rule's includes and excludes for amd64, the
// capabilities caps and a kernel newer than every minKernel in the profile
// (the agent needs Linux 5.9 or later anyway).
func applies(sc *seccomp.Syscall, caps []string) bool {
	const arch = "amd64"
	if f := sc.Excludes; f != nil {
		if slices.Contains(f.Arches, arch) || f.MinKernel != nil {
			return false
		}
		for _, c := range f.Caps {
			if slices.Contains(caps, c) {
				return false
			}
		}
	}
	if f := sc.Includes; f != nil {
		if len(f.Arches) > 0 && !slices.Contains(f.Arches, arch) {
			return false
		}
		for _, c := range f.Caps {
			if !slices.Contains(caps, c) {
				return false
			}
		}
	}
	return true
}

// configMap returns a ConfigMap in kube-system holding the profiles, for
// the DaemonSet's init container to copy into the kubelet's seccomp
// directory.
func configMap(profile, agentProfile []byte) []byte {
	var b bytes.Buffer
	b.WriteString("# Generated by deploy/kubernetes/internal/genprofile (go generate ./deploy/kubernetes). DO NOT EDIT.\n")
	b.WriteString("# The Localhost seccomp profiles; the DaemonSet's init container copies them to\n")
	b.WriteString("# /var/lib/kubelet/seccomp/" + profileName + " (the pods') and\n")
	b.WriteString("# /var/lib/kubelet/seccomp/" + agentProfileName + " (the agent's own) on every node.\n")
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: seccompstream-profile\n  namespace: kube-system\n")
	b.WriteString("data:\n")
	for _, f := range []struct {
		name string
		data []byte
	}{{profileName, profile}, {agentProfileName, agentProfile}} {
		b.WriteString("  " + f.name + ": |\n")
		for line := range strings.Lines(string(f.data)) {
			b.WriteString("    " + line)
		}
	}
	return b.Bytes()
}
