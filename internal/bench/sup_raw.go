package main

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

func rawSupervisors() []goSupervisor {
	return []goSupervisor{
		{name: "go-raw", serve: func(fd int, sync bool, per int, first func()) (int, error) {
			return serveRaw(fd, sync, per, first, false)
		}},
		{name: "go-raw-poll", serve: func(fd int, sync bool, per int, first func()) (int, error) {
			return serveRaw(fd, sync, per, first, true)
		}},
	}
}

// seccompNotif and seccompNotifResp mirror the kernel's structs (80 and 24
// bytes on 64-bit architectures).
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

type seccompNotifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

// serveRaw is the floor for a Go supervisor: blocking RECV and SEND ioctls
// on a locked OS thread, no allocation, no poller, no end detection beyond
// the call count. It is a reference point, not a usable design (it cannot be
// cancelled). With withPoll it waits in a blocking ppoll before each RECV,
// as a cancellable blocking design must (a blocked RECV is restarted after
// an SA_RESTART signal handler, so a signal cannot get it out).
func serveRaw(fd int, sync bool, per int, first func(), withPoll bool) (int, error) {
	defer unix.Close(fd)
	if sync {
		if err := setSyncWakeup(fd); err != nil {
			return 0, err
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var req seccompNotif
	var resp seccompNotifResp
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	answered := 0
	for per == 0 || answered < per {
		if withPoll {
			if _, err := unix.Poll(pfd, -1); err != nil && err != unix.EINTR {
				return answered, err
			}
		}
		req = seccompNotif{}
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req)))
		if e != 0 {
			if listenerDone(fd) {
				return answered, nil
			}
			if e == unix.ENOENT || e == unix.EINTR {
				continue
			}
			return answered, e
		}
		resp = seccompNotifResp{id: req.id, val: int64(req.args[0] + 1)}
		_, _, e = unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)))
		if e != 0 && e != unix.ENOENT {
			return answered, e
		}
		answered++
		if answered == 1 {
			first()
		}
	}
	return answered, nil
}
