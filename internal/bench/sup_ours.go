//go:build !noours

package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/seccompstream/seccompstream"
)

func oursSupervisors() []goSupervisor {
	return []goSupervisor{{
		name: "ours",
		serve: func(fd int, sync bool, per int, first func()) (int, error) {
			return serveOurs(context.Background(), fd, sync, first)
		},
		idle: func(fds []int) (func() error, error) { return idleOurs(fds) },
	}, {
		// The same loop with a context that can be cancelled, as a server
		// that shuts down would pass.
		name: "ours-ctx",
		serve: func(fd int, sync bool, per int, first func()) (int, error) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			return serveOurs(ctx, fd, sync, first)
		},
	}}
}

// serveOurs is the loop a user writes: Receive, Respond, until io.EOF.
func serveOurs(ctx context.Context, fd int, sync bool, first func(), opts ...seccompstream.Option) (int, error) {
	if sync {
		opts = append(opts, seccompstream.WithSyncWakeup())
	}
	s, err := seccompstream.New(fd, opts...)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	answered := 0
	for {
		n, err := s.Receive(ctx)
		if err == io.EOF {
			return answered, nil
		}
		if err != nil {
			return answered, err
		}
		err = s.Respond(n, seccompstream.Return(int64(n.Args[0]+1)))
		if err != nil && !errors.Is(err, seccompstream.ErrGone) {
			return answered, err
		}
		answered++
		if answered == 1 {
			first()
		}
	}
}

// idleOurs starts one Receive per stream and returns a stop function that
// cancels them, checks that each returned ctx.Err(), and closes the streams.
func idleOurs(fds []int, opts ...seccompstream.Option) (func() error, error) {
	streams := make([]*seccompstream.Stream, 0, len(fds))
	for _, fd := range fds {
		s, err := seccompstream.New(fd, opts...)
		if err != nil {
			for _, s := range streams {
				s.Close()
			}
			return nil, err
		}
		streams = append(streams, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, len(streams))
	for _, s := range streams {
		go func() {
			_, err := s.Receive(ctx)
			errs <- err
		}()
	}
	stop := func() error {
		cancel()
		var bad error
		for range streams {
			if err := <-errs; !errors.Is(err, context.Canceled) && bad == nil {
				bad = fmt.Errorf("Receive returned %v, want context.Canceled", err)
			}
		}
		for _, s := range streams {
			if err := s.Close(); err != nil && bad == nil {
				bad = err
			}
		}
		return bad
	}
	return stop, nil
}
