package seccompstream_test

import (
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/seccompstream/seccompstream"
)

func TestParseStatus(t *testing.T) {
	status := "Name:\tcat\nUmask:\t0027\nState:\tS (sleeping)\nTgid:\t12\nUid:\t1000\t1001\t1002\t1003\nGid:\t2000\t2001\t2002\t2003\n" +
		"Groups:\t4 24 100 \nCapInh:\t0000000000000000\nCapPrm:\t00000000000000c0\nCapEff:\t0000000000000040\n" +
		"CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
	c, err := seccompstream.ParseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	want := seccompstream.Creds{UID: 1000, EUID: 1001, SUID: 1002, FSUID: 1003, GID: 2000, EGID: 2001, SGID: 2002, FSGID: 2003,
		Groups: []uint32{4, 24, 100}, CapPermitted: 0xc0, CapEffective: 0x40, CapBounding: 0x1ffffffffff, NoNewPrivs: true, Umask: 0o027}
	got := *c
	if !slices.Equal(got.Groups, want.Groups) {
		t.Fatalf("Groups %v, want %v", got.Groups, want.Groups)
	}
	got.Groups, want.Groups = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", got, want)
	}
	if !c.CapEffective.Has(6) || c.CapEffective.Has(7) || c.CapEffective.Has(64) || c.CapEffective.Has(-1) {
		t.Errorf("CapSet.Has wrong for %#x", c.CapEffective)
	}
	// No groups at all, and a status file without a credential line.
	if c, err := seccompstream.ParseStatus([]byte("Umask:\t0022\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\n")); err != nil || len(c.Groups) != 0 {
		t.Errorf("empty groups: %+v, %v", c, err)
	}
	for _, bad := range []string{"", "Uid:\t0\t0\t0\nGid:\t0\t0\t0\t0\n", status + "Uid:\tx\n"} {
		if _, err := seccompstream.ParseStatus([]byte(bad)); err == nil {
			t.Errorf("parsed %q without an error", bad)
		}
	}
	// The test process's own status parses.
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seccompstream.ParseStatus(b); err != nil {
		t.Errorf("/proc/self/status: %v", err)
	}
}
