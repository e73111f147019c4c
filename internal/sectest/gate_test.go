package sectest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/internal/kernel"
)

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		version string
		have    bool
		release string
		ci      bool
		want    outcome
		text    string
	}{
		{"5.19", true, "5.10.0", false, run, ""},
		{"5.19", true, "6.18.0", true, run, ""},
		{"5.19", false, "5.10.0-28-amd64", false, skip, "needs 5.19"},
		{"5.19", false, "5.10.0-28-amd64", true, skip, "needs 5.19"}, // CI runs old kernels too
		{"5.19", false, "5.19.0", false, fail, "probe is broken"},
		{"5.19", false, "6.1.0-40-cloud-amd64", false, fail, "probe is broken"},
		{"6.11", false, "6.1.0", false, skip, "Linux 6.1.0"},
		{"6.11", false, "6.11-rc2", false, fail, "since 6.11"},
		{"6.6", false, "6.10.3", false, fail, ""}, // 10 > 6, not "1" < "6"
		{"", false, "6.18.0", false, skip, "not available"},
		{"", false, "6.18.0", true, fail, "required in CI"},
		{"", true, "6.18.0", true, run, ""},
		{"5.19", false, "weird", false, fail, "cannot read"},
		{"bad", false, "6.18.0", false, fail, "cannot read"},
	} {
		got, msg := verdict("FEATURE", tc.version, tc.have, tc.release, tc.ci)
		if got != tc.want || !strings.Contains(msg, tc.text) {
			t.Errorf("verdict(%q, have=%v, release %q, ci=%v) = %v %q, want %v containing %q",
				tc.version, tc.have, tc.release, tc.ci, got, msg, tc.want, tc.text)
		}
		if got != run && !strings.Contains(msg, "FEATURE") {
			t.Errorf("message %q does not name the feature", msg)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in         string
		maj, min   int
		shouldFail bool
	}{
		{"6.18.0-1-amd64", 6, 18, false},
		{"6.1.0-40-cloud-amd64", 6, 1, false},
		{"5.19", 5, 19, false},
		{"6.19-rc2", 6, 19, false},
		{"6", 0, 0, true},
		{"", 0, 0, true},
		{"x.y", 0, 0, true},
	} {
		maj, min, err := parseVersion(tc.in)
		if (err != nil) != tc.shouldFail || maj != tc.maj || min != tc.min {
			t.Errorf("parseVersion(%q) = %d, %d, %v", tc.in, maj, min, err)
		}
	}
}

// TestRunningKernel checks that the running release can be read at all:
// every gate depends on it.
func TestRunningKernel(t *testing.T) {
	if _, err := KernelAtLeast("5.0"); err != nil {
		t.Fatal(err)
	}
	t.Logf("Linux %s", KernelRelease())
}

// TestFeaturesComplete checks that every field of kernel.Features has
// exactly one gate value, with a name and a version.
func TestFeaturesComplete(t *testing.T) {
	typ := reflect.TypeFor[kernel.Features]()
	if typ.NumField() != len(allFeatures) {
		t.Errorf("kernel.Features has %d fields, sectest %d features", typ.NumField(), len(allFeatures))
	}
	for i := range typ.NumField() {
		var k kernel.Features
		reflect.ValueOf(&k).Elem().Field(i).SetBool(true)
		var got []string
		for _, f := range allFeatures {
			if f.have(k) {
				got = append(got, f.Name)
			}
		}
		if len(got) != 1 {
			t.Errorf("kernel.Features.%s is reported by %d features %q, want 1", typ.Field(i).Name, len(got), got)
		}
	}
	for _, f := range allFeatures {
		if f.Name == "" {
			t.Errorf("unnamed feature %+v", f)
		}
		if _, _, err := parseVersion(f.Version); err != nil {
			t.Errorf("%s: %v", f.Name, err)
		}
	}
}
