package unotify

import (
	"testing"
	"unsafe"
)

// TestSizesMatchKernel compares the structs with the sizes the running
// kernel reports (SECCOMP_GET_NOTIF_SIZES).
func TestSizesMatchKernel(t *testing.T) {
	k, err := NotifSizes()
	if err != nil {
		t.Fatal(err)
	}
	if int(k.Notif) != int(unsafe.Sizeof(Notif{})) || int(k.Resp) != int(unsafe.Sizeof(Resp{})) || k.SeccompData != 64 {
		t.Fatalf("kernel sizes %+v; ours notif %d resp %d", k, unsafe.Sizeof(Notif{}), unsafe.Sizeof(Resp{}))
	}
}

func TestProbeFilterFlag(t *testing.T) {
	known, err := ProbeFilterFlag(FilterFlagNewListener)
	if err != nil || !known {
		t.Fatalf("NEW_LISTENER: known=%v err=%v", known, err)
	}
	if known, err := ProbeFilterFlag(1 << 30); err != nil || known {
		t.Fatalf("bit 30: known=%v err=%v", known, err)
	}
}
