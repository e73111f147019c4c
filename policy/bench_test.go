package policy_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/policy"
)

// BenchmarkHandler is the cost of building a rule set's Mux and routing
// its first call, which the agent does once per container process, for
// rule sets naming n calls.
func BenchmarkHandler(b *testing.B) {
	names := sysnames.Names(sysnames.Native())
	first := &seccompstream.Notification{Arch: sysnames.Native()}
	for _, n := range []int{10, 50, 300} {
		r := &policy.Rules{Default: policy.Trace, Syscalls: map[string]policy.Action{}}
		for _, name := range names[:n] {
			r.Syscalls[name] = policy.Allow
		}
		b.Run(fmt.Sprintf("names=%d", n), func(b *testing.B) {
			for b.Loop() {
				h, err := r.Handler(nil)
				if err != nil {
					b.Fatal(err)
				}
				h.ServeNotification(context.Background(), first)
			}
		})
	}
}

// BenchmarkServe is the cost of deciding one call through a rule set's
// Mux with the show middleware.
func BenchmarkServe(b *testing.B) {
	r := &policy.Rules{Syscalls: map[string]policy.Action{"getpid": policy.Trace, "mkdir": policy.Allow}}
	h, err := r.Handler(func(context.Context, *seccompstream.Notification, seccompstream.Response) {})
	if err != nil {
		b.Fatal(err)
	}
	nr, _ := sysnames.Number(sysnames.Native(), "getpid")
	n := &seccompstream.Notification{Arch: sysnames.Native(), Syscall: nr}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeNotification(ctx, n)
	}
}
