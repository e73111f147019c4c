//go:build !noours && !noserve

package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/seccompstream/seccompstream"
)

func serveSupervisors() []goSupervisor {
	return []goSupervisor{{
		name:  "ours-serve",
		serve: serveServe,
		idle:  idleGroup,
	}}
}

// idleGroup serves every stream from one Group (a Serve per Stream) and
// returns a stop function that cancels the Group's context and waits for it.
func idleGroup(fds []int) (func() error, error) {
	streams := make([]*seccompstream.Stream, 0, len(fds))
	for _, fd := range fds {
		s, err := seccompstream.New(fd)
		if err != nil {
			for _, s := range streams {
				s.Close()
			}
			return nil, err
		}
		streams = append(streams, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(int64(n.Args[0] + 1))
	})
	g := seccompstream.NewGroup(ctx, h)
	for _, s := range streams {
		g.Serve(s)
	}
	stop := func() error {
		cancel()
		if err := g.Wait(); !errors.Is(err, context.Canceled) {
			return fmt.Errorf("Group.Wait returned %v, want context.Canceled", err)
		}
		return nil
	}
	return stop, nil
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
