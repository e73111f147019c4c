//go:build !noours && !nodedicated

package main

import (
	"context"

	"github.com/seccompstream/seccompstream"
)

func dedicatedSupervisors() []goSupervisor {
	return []goSupervisor{{
		name: "ours-ded",
		serve: func(fd int, sync bool, per int, first func()) (int, error) {
			return serveOurs(context.Background(), fd, sync, first, seccompstream.WithDedicatedThread())
		},
		idle: func(fds []int) (func() error, error) {
			return idleOurs(fds, seccompstream.WithDedicatedThread())
		},
	}}
}
