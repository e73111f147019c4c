//go:build amd64

package emulate_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// x32Ioctl is x32's ioctl (514 with the x32 bit). seccomp sees it before
// the kernel looks at the number, so it reaches the supervisor even where
// x32 is not enabled (and then gets ENOSYS if let through).
const x32Ioctl = 0x40000000 | 514

func init() {
	// setflags-x32 FILE: from x32 code, FS_IOC32_SETFLAGS (FS_NODUMP_FL)
	// and FS_IOC32_GETFLAGS on FILE opened read-only; print
	// "setflags=ERRNO getflags=ERRNO" ("ok" for success).
	goPrograms["setflags-x32"] = func(args []string) int {
		f, err := os.Open(args[0])
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer f.Close()
		set := flagsIoctl(x32Ioctl, f, 0x40046602) // FS_IOC32_SETFLAGS
		get := flagsIoctl(x32Ioctl, f, 0x80046601) // FS_IOC32_GETFLAGS
		fmt.Printf("setflags=%s getflags=%s\n", set, get)
		return 0
	}
}

// An x32 program's inode-changing ioctls are refused too (and shown),
// although the filter cannot match x32 calls; its other ioctls get what
// the Mux's default gives them (here: they run, and without x32 in the
// kernel fail with ENOSYS).
func TestInodeFlagsRefusedX32(t *testing.T) {
	dir := sectest.PublicDir(t)
	writeFile(t, dir+"/f", "x", 0o644)
	res := sandbox(t, emulate.FilePolicy{Read: append(emulate.SystemPaths(), dir)}, stdoutOnly(goProgram("setflags-x32", dir+"/f")))
	var set, get string
	if _, err := fmt.Sscanf(res.out, "setflags=%s getflags=%s\n", &set, &get); err != nil || res.err != nil {
		t.Fatalf("%v: %q (%v)", res.err, res.out, err)
	}
	if set != "EPERM" {
		t.Errorf("x32 FS_IOC32_SETFLAGS: %s, want EPERM", set)
	}
	if get == "EPERM" {
		t.Errorf("x32 FS_IOC32_GETFLAGS: EPERM, want it let through")
	}
	if !res.deniedCall("ioctl (x32)") {
		t.Errorf("the refusal was not shown: denied %q", res.denied)
	}
}
