package filter_test

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/internal/unotify"
)

// TestInstallErrorNamesFlag checks the message when the kernel refuses a
// flag, with a probe that plays an old kernel (5.10: no
// WAIT_KILLABLE_RECV). The real probe is checked against this kernel in
// TestProbeFlags.
func TestInstallErrorNamesFlag(t *testing.T) {
	old := func(flag uintptr) (bool, error) {
		return flag&unotify.FilterFlagWaitKillableRecv == 0, nil
	}
	flags := uintptr(unotify.FilterFlagNewListener | unotify.FilterFlagWaitKillableRecv)
	err := filter.InstallError(flags, unix.EINVAL, old)
	var ufe *filter.UnsupportedFeatureError
	if !errors.Is(err, filter.ErrNotSupported) || !errors.As(err, &ufe) {
		t.Fatalf("error %v does not match ErrNotSupported", err)
	}
	const want = "filter: installing with SECCOMP_FILTER_FLAG_NEW_LISTENER|SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV not supported (needs Linux 5.19)"
	if err.Error() != want || ufe.Name != "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" {
		t.Errorf("error %q, want %q", err, want)
	}

	// Every flag known: the errno, with the flags named.
	all := func(uintptr) (bool, error) { return true, nil }
	err = filter.InstallError(unotify.FilterFlagLog, unix.EINVAL, all)
	if !errors.Is(err, unix.EINVAL) || errors.Is(err, filter.ErrNotSupported) ||
		err.Error() != "filter: seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG): invalid argument" {
		t.Errorf("error %v", err)
	}
	if err := filter.InstallError(unotify.FilterFlagNewListener, unix.EBUSY, all); !errors.Is(err, unix.EBUSY) {
		t.Errorf("EBUSY: %v", err)
	}
}

// TestProbeFlags checks that the probe Install relies on knows every flag on
// a kernel that has them all (6.0 and later).
func TestProbeFlags(t *testing.T) {
	requireSeccomp(t)
	for _, fl := range []struct {
		flag    uintptr
		version string
	}{
		{unotify.FilterFlagTSync, "3.17"},
		{unotify.FilterFlagLog, "4.14"},
		{unotify.FilterFlagSpecAllow, "4.17"},
		{unotify.FilterFlagNewListener, "5.0"},
		{unotify.FilterFlagTSyncESRCH, "5.7"},
		{unotify.FilterFlagWaitKillableRecv | unotify.FilterFlagNewListener, "5.19"},
	} {
		known, err := unotify.ProbeFilterFlag(fl.flag)
		if err != nil {
			t.Fatalf("probe %#x: %v", fl.flag, err)
		}
		if !known {
			t.Logf("flag %#x unknown to Linux %s", fl.flag, sectest.KernelRelease())
			if at, err := sectest.KernelAtLeast(fl.version); err != nil || at {
				t.Errorf("flag %#x unknown to Linux %s, which has it since %s (%v)", fl.flag, sectest.KernelRelease(), fl.version, err)
			}
		}
	}
	if known, _ := unotify.ProbeFilterFlag(1 << 30); known {
		t.Error("a bogus flag probed as known")
	}
}
