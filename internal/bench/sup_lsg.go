//go:build cgo

package main

import (
	"errors"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

func lsgSupervisors() []goSupervisor {
	return []goSupervisor{{
		name:  "lsg",
		serve: serveLSG,
		idle:  idleLSG,
	}}
}

// serveLSG is the usual libseccomp-golang loop: blocking NotifReceive and
// NotifRespond from a goroutine (each blocked cgo call holds an OS thread).
// It cannot see the end of the stream while blocked, so it stops after per
// answers.
func serveLSG(fd int, sync bool, per int, first func()) (int, error) {
	defer unix.Close(fd)
	if sync {
		if err := setSyncWakeup(fd); err != nil {
			return 0, err
		}
	}
	sfd := seccomp.ScmpFd(fd)
	answered := 0
	for per == 0 || answered < per {
		req, err := seccomp.NotifReceive(sfd)
		if err != nil {
			if listenerDone(fd) {
				return answered, nil
			}
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINTR) {
				continue
			}
			return answered, err
		}
		resp := &seccomp.ScmpNotifResp{ID: req.ID, Val: req.Data.Args[0] + 1}
		if err := seccomp.NotifRespond(sfd, resp); err != nil && !errors.Is(err, unix.ENOENT) {
			return answered, err
		}
		answered++
		if answered == 1 {
			first()
		}
	}
	return answered, nil
}

// idleLSG parks one blocking NotifReceive per fd; they cannot be stopped.
func idleLSG(fds []int) (func() error, error) {
	for _, fd := range fds {
		go seccomp.NotifReceive(seccomp.ScmpFd(fd))
	}
	return nil, nil
}
