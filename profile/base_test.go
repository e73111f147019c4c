package profile

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestBase(t *testing.T) {
	if got := BaseNames(); !slices.Equal(got, []string{"crun", "none", "runc"}) {
		t.Errorf("BaseNames() = %v", got)
	}
	if p, err := Base("none"); err != nil || p.Len() != 0 {
		t.Errorf("Base(none) = %v, %v; want empty", p, err)
	}
	_, err := Base("docker")
	if err == nil || !strings.Contains(err.Error(), `"docker"`) || !strings.Contains(err.Error(), "crun, none, runc") {
		t.Errorf("Base(docker) error %v, want it to name the input and the known bases", err)
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("the bases' names are checked against x86_64's table")
	}
	for _, name := range []string{"runc", "crun"} {
		p, err := Base(name)
		if err != nil {
			t.Fatal(err)
		}
		// Every name listed exists (a misspelt one would be dropped).
		if p.Len() != len(slices.Compact(slices.Sorted(slices.Values(bases[name])))) {
			t.Errorf("%s: %d calls of %d listed: %v", name, p.Len(), len(bases[name]), p.Names(specs.ArchX86_64))
		}
		if !p.Has(specs.ArchX86_64, "execve") || !slices.Equal(p.Arches(), []specs.Arch{specs.ArchX86_64}) {
			t.Errorf("%s: %v", name, p.Calls())
		}
	}
	runc, _ := Base("runc")
	for _, c := range []string{"write", "futex", "rt_sigreturn", "getdents64", "epoll_ctl"} {
		if !runc.Has(specs.ArchX86_64, c) {
			t.Errorf("runc's base lacks %s", c)
		}
	}
	if a, err := NativeArch(); err != nil || a != specs.ArchX86_64 {
		t.Errorf("NativeArch() = %s, %v", a, err)
	}
}
