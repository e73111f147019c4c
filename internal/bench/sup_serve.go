//go:build !noours && !noserve

package main

import (
	"context"
	"sync/atomic"

	"github.com/seccompstream/seccompstream"
)

func serveSupervisors() []goSupervisor {
	return []goSupervisor{{
		name:  "ours-serve",
		serve: serveServe,
	}}
}

// serveServe answers through Stream.Serve with a HandlerFunc; Serve returns
// nil at the end of the stream.
func serveServe(fd int, sync bool, per int, first func()) (int, error) {
	var opts []seccompstream.Option
	if sync {
		opts = append(opts, seccompstream.WithSyncWakeup())
	}
	s, err := seccompstream.New(fd, opts...)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	var answered atomic.Int64
	h := seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		if answered.Add(1) == 1 {
			first()
		}
		return seccompstream.Return(int64(n.Args[0] + 1))
	})
	err = s.Serve(context.Background(), h)
	return int(answered.Load()), err
}
