package sectest

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/kernel"
)

// Feature is a kernel feature a test may need: its kernel name, the first
// Linux release that has it, and how the probes (kernel.Probe) report it.
// The values below cover every field of kernel.Features; pass them to
// RequireKernel or HaveKernel.
type Feature struct {
	Name    string // e.g. "SECCOMP_IOCTL_NOTIF_ADDFD"
	Version string // e.g. "5.9"
	have    func(kernel.Features) bool
}

// The probed kernel features.
var (
	Continue         = Feature{"SECCOMP_USER_NOTIF_FLAG_CONTINUE", kernel.VersionContinue, func(f kernel.Features) bool { return f.Continue }}
	TSyncESRCH       = Feature{"SECCOMP_FILTER_FLAG_TSYNC_ESRCH", kernel.VersionTSyncESRCH, func(f kernel.Features) bool { return f.TSyncESRCH }}
	AddFD            = Feature{"SECCOMP_IOCTL_NOTIF_ADDFD", kernel.VersionAddFD, func(f kernel.Features) bool { return f.AddFD }}
	AddFDSend        = Feature{"SECCOMP_ADDFD_FLAG_SEND", kernel.VersionAddFDSend, func(f kernel.Features) bool { return f.AddFDSend }}
	WaitKillableRecv = Feature{"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", kernel.VersionWaitKillableRecv, func(f kernel.Features) bool { return f.WaitKillableRecv }}
	SyncWakeUp       = Feature{"SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP", kernel.VersionSyncWakeUp, func(f kernel.Features) bool { return f.SyncWakeup }}
	HUPOnExit        = Feature{"listener hang-up at exit (RECV fails without users)", kernel.VersionHUPOnExit, func(f kernel.Features) bool { return f.HUPOnExit }}
)

// allFeatures lists the values above (a test checks it covers
// kernel.Features).
var allFeatures = []Feature{Continue, TSyncESRCH, AddFD, AddFDSend, WaitKillableRecv, SyncWakeUp, HUPOnExit}

// Features returns the running kernel's probed features, failing the test
// (skipping it on kernels older than 5.0) if seccomp user notification
// cannot be probed at all.
func Features(t testing.TB) kernel.Features {
	t.Helper()
	f, err := kernel.Probe()
	if err != nil {
		RequireFeature(t, "seccomp user notification ("+err.Error()+")", "5.0", false)
	}
	return f
}

// RequireKernel gates a test on kernel features: for each one the probes
// do not find, the test is skipped on a kernel older than the feature's
// version and fails on a kernel at or past it (see RequireFeature).
func RequireKernel(t testing.TB, features ...Feature) {
	t.Helper()
	k := Features(t)
	for _, f := range features {
		RequireFeature(t, f.Name, f.Version, f.have(k))
	}
}

// HaveKernel reports whether the probes find feature f, for a test that
// checks both sides (the feature's use where it exists, the refusal where
// it does not). It fails the test when f is missing on a kernel at or
// past its version, as RequireKernel does.
func HaveKernel(t testing.TB, f Feature) bool {
	t.Helper()
	have := f.have(Features(t))
	if !have {
		if at, err := KernelAtLeast(f.Version); err != nil || at {
			t.Fatalf("%s not found by the probe on Linux %s, which has it since %s (a broken probe; release: %v)", f.Name, KernelRelease(), f.Version, err)
		}
	}
	return have
}

// RequireFeature is the one test gate for a feature the test cannot do
// without. With have true it does nothing. Otherwise:
//
//   - version names the first Linux release with the feature ("5.19"):
//     on an older kernel the test is skipped, naming the feature and the
//     version; on a kernel at or past version it fails, since the probe
//     that said "missing" is lying (or the kernel was built without it,
//     which CI's kernels are not).
//   - version is "" for what no release number decides (a kernel
//     configuration option such as IA32 emulation): the test is skipped,
//     except in CI (InCI), where it fails.
func RequireFeature(t testing.TB, name, version string, have bool) {
	t.Helper()
	switch v, msg := verdict(name, version, have, KernelRelease(), InCI()); v {
	case skip:
		t.Skip(msg)
	case fail:
		t.Fatal(msg)
	}
}

type outcome int

const (
	run outcome = iota
	skip
	fail
)

// verdict is RequireFeature's decision on the running kernel release and
// whether this is CI.
func verdict(name, version string, have bool, release string, ci bool) (outcome, string) {
	if have {
		return run, ""
	}
	if version == "" {
		if ci {
			return fail, fmt.Sprintf("%s is required in CI (SECCOMPSTREAM_CI=1) and missing on Linux %s", name, release)
		}
		return skip, fmt.Sprintf("%s not available on Linux %s", name, release)
	}
	at, err := atLeast(release, version)
	switch {
	case err != nil:
		return fail, fmt.Sprintf("gating on %s: %v", name, err)
	case at:
		return fail, fmt.Sprintf("%s not found on Linux %s, which has it since %s: the probe is broken", name, release, version)
	}
	return skip, fmt.Sprintf("%s not supported by Linux %s (needs %s)", name, release, version)
}

// SkipIfNotSupported gates a test on an error from the code under test:
// if err reports a missing kernel feature (a *kernel.UnsupportedFeatureError
// in its chain, matching ErrNotSupported), the test is skipped or failed
// as RequireFeature decides for that feature's name and version.
// Otherwise it returns, and the caller handles err (typically t.Fatal for
// a non-nil one).
func SkipIfNotSupported(t testing.TB, err error) {
	t.Helper()
	var ufe *kernel.UnsupportedFeatureError
	if errors.As(err, &ufe) {
		RequireFeature(t, ufe.Name+" ("+err.Error()+")", ufe.MinimumVersion, false)
	}
	if errors.Is(err, kernel.ErrNotSupported) {
		t.Fatalf("%v: matches ErrNotSupported without naming a feature and version", err)
	}
}

// RequireTool returns the path of a program a test needs. It skips the
// test when the program is missing, except in CI (InCI), where that fails
// it: .ci/run installs every tool a test asks for.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if InCI() {
			t.Fatalf("%s is required in CI (SECCOMPSTREAM_CI=1): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

var uname = sync.OnceValue(func() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
})

// KernelRelease returns the running kernel's release (uname -r).
func KernelRelease() string { return uname() }

// KernelAtLeast reports whether the running kernel's release (from uname)
// is version ("5.19", "6.1") or later.
func KernelAtLeast(version string) (bool, error) {
	return atLeast(KernelRelease(), version)
}

func atLeast(release, version string) (bool, error) {
	maj, min, err := parseVersion(release)
	if err != nil {
		return false, fmt.Errorf("running kernel: %w", err)
	}
	vmaj, vmin, err := parseVersion(version)
	if err != nil {
		return false, err
	}
	return maj > vmaj || maj == vmaj && min >= vmin, nil
}

// parseVersion reads the major and minor numbers of a release such as
// "6.18.0-1-amd64", "6.19-rc2" or "5.19".
func parseVersion(r string) (major, minor int, err error) {
	a, b, ok := strings.Cut(r, ".")
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(leadingDigits(b))
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("cannot read a version from %q", r)
	}
	return major, minor, nil
}

func leadingDigits(s string) string {
	for i, c := range s {
		if c < '0' || c > '9' {
			return s[:i]
		}
	}
	return s
}
