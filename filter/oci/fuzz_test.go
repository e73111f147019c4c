package oci_test

import (
	"encoding/json"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/filter/oci"
	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// FuzzFromSpec checks that importing an OCI seccomp profile never panics on
// what JSON can hold, and that a profile it accepts assembles into a
// program the BPF VM runs (for calls of every architecture the filter
// has and of one it has not), whose default is the profile's.
func FuzzFromSpec(f *testing.F) {
	f.Add(ocitest.DockerProfile(f))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],` +
		`"syscalls":[{"names":["socketcall","openat"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":2,"op":"SCMP_CMP_MASKED_EQ","valueTwo":2},{"index":1,"value":0,"op":"SCMP_CMP_EQ"}]}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_TRACE","defaultErrnoRet":70000}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"op":"SCMP_CMP_EQ"}]}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_LOG","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_TSYNC"],"listenerPath":"/run/x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s specs.LinuxSeccomp
		if json.Unmarshal(b, &s) != nil {
			return
		}
		_, _ = oci.InstallOptions(&s)
		flt, err := oci.FromSpec(&s)
		if err != nil {
			return
		}
		prog, err := flt.Assemble()
		if err != nil {
			// Accepted rules can add up to more than the kernel takes;
			// Assemble says so. Anything else is a bug.
			if len(s.Syscalls) < 100 {
				t.Fatalf("accepted profile does not assemble: %v\n%s", err, b)
			}
			return
		}
		m := sectest.NewVM(t, prog, true)
		for _, arch := range append(flt.Arches(), 0xdead) {
			for _, name := range []string{"read", "openat", "mkdir", "socketcall"} {
				n, ok := sysnames.Number(arch, name)
				if !ok {
					n = 1
				}
				m.Run(t, sectest.Data{Nr: n, Arch: arch, Args: [6]uint64{0, 2, 0xffffffff}})
			}
		}
		if got := filter.Action(m.Run(t, sectest.Data{Nr: 0x7ffffff, Arch: flt.Arches()[0]})); got != flt.DefaultAction() {
			t.Fatalf("a call no rule names gets %v, want the default %v", got, flt.DefaultAction())
		}
	})
}
