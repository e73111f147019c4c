package agent_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seccompstream/seccompstream/internal/cbuild"
	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// The figures of issue 15's closing note come from these benchmarks, with
// a helper agent in a process of its own answering every notified call
// with EDQUOT (no memory read, no output):
//
//	go test -run '^$' -bench . -benchtime 1x ./agent
//
// BenchmarkAgentCalls: calls per second through the agent for one busy
// container and for 20 at once. BenchmarkContainerStart: a runc container's
// whole run (start to exit) without an agent, with one, and with one while
// 500 idle connections are open. BenchmarkIdleContainers: the agent's
// thread count with 100 idle containers connected.

// mkdirLoop is a C program that calls mkdir argv[1] times and prints the
// CLOCK_MONOTONIC times before and after (shared by every container).
const mkdirLoop = `#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
static long long now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}
int main(int argc, char **argv) {
	long n = atol(argv[1]);
	long long start = now();
	for (long i = 0; i < n; i++)
		mkdir("/tmp/x", 0);
	printf("start=%lld end=%lld\n", start, now());
	return 0;
}
`

// addMkdirLoop builds mkdirLoop statically into rootfs as /bin/mkdirloop.
func addMkdirLoop(tb testing.TB, rootfs string) {
	tb.Helper()
	sectest.BuildCIn(tb, filepath.Join(rootfs, "bin"), cbuild.Program{Name: "mkdirloop", Source: []byte(mkdirLoop), Flags: []string{"-static", "-O2"}})
}

func BenchmarkAgentCalls(b *testing.B) {
	rt := ocitest.NewRuntime(b, "runc")
	rootfs := newRootfs(b)
	addMkdirLoop(b, rootfs)
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			ctx := testCtx(b)
			a := startAgentProcAt(b, filepath.Join(b.TempDir(), "agent.sock"), envHelperQuiet+"=1")
			const calls = 20000
			bundle := newBundle(b, bundleOpts{rootfs: rootfs, listener: a.socket, script: fmt.Sprintf("exec /bin/mkdirloop %d", calls)})
			var rate float64
			for i := range b.N {
				cs := make([]*ocitest.Container, n)
				for j := range cs {
					cs[j] = rt.Start(b, ctx, bundle, fmt.Sprintf("calls-%d-%d-%d", n, i, j))
				}
				var first, last int64
				for _, c := range cs {
					var start, end int64
					out := c.Wait(b)
					if _, err := fmt.Sscanf(strings.TrimSpace(out), "start=%d end=%d", &start, &end); err != nil {
						b.Fatalf("container %s: %q", c.ID, out)
					}
					if first == 0 || start < first {
						first = start
					}
					last = max(last, end)
				}
				rate += float64(n*calls) / (float64(last-first) / 1e9)
			}
			b.ReportMetric(rate/float64(b.N), "calls/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkContainerStart runs one container of each kind in turn per
// iteration (so that the machine's load falls on all of them alike) and
// reports each kind's median time, start to exit, in ms.
func BenchmarkContainerStart(b *testing.B) {
	rt := ocitest.NewRuntime(b, "runc")
	rootfs := newRootfs(b)
	ctx := testCtx(b)
	modes := []string{"no-agent", "agent", "agent-flood500"}
	bundles := map[string]string{}
	for _, mode := range modes {
		o := bundleOpts{rootfs: rootfs, script: "true"}
		if mode == "no-agent" {
			o.notify = []string{} // nothing notifies: no listenerPath
		} else {
			a := startAgentProcAt(b, filepath.Join(b.TempDir(), "agent.sock"), envHelperQuiet+"=1")
			o.listener = a.socket
			if mode == "agent-flood500" {
				openIdle(b, a.socket, 500)
			}
		}
		bundles[mode] = newBundle(b, o)
	}
	took := map[string][]time.Duration{}
	b.ResetTimer()
	for i := range b.N {
		for _, mode := range modes {
			start := time.Now()
			c := rt.Start(b, ctx, bundles[mode], fmt.Sprintf("start-%s-%d", mode, i))
			c.Wait(b)
			took[mode] = append(took[mode], time.Since(start))
			if c.Err() != nil {
				b.Fatalf("container: %v: %s", c.Err(), c.Output())
			}
		}
	}
	for _, mode := range modes {
		d := took[mode]
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2])/1e6, "ms/"+mode)
	}
	b.ReportMetric(0, "ns/op")
}

func BenchmarkIdleContainers(b *testing.B) {
	rt := ocitest.NewRuntime(b, "runc")
	rootfs := newRootfs(b)
	const n = 100
	for i := range b.N {
		ctx := testCtx(b)
		a := startAgentProcAt(b, filepath.Join(b.TempDir(), "agent.sock"), envHelperQuiet+"=1")
		bundle := newBundle(b, bundleOpts{rootfs: rootfs, listener: a.socket, script: `mkdir /tmp/x; echo "idle=$?"; read x; exit 0`})
		cs := make([]*ocitest.Container, n)
		for j := range cs {
			cs[j] = rt.Start(b, ctx, bundle, fmt.Sprintf("idle-%d-%d", i, j))
			cs[j].WaitLine(b, "idle=1") // served: its stream is open
		}
		time.Sleep(time.Second) // let the runtime's idle threads settle
		b.ReportMetric(float64(a.threads(b)), "threads")
		for _, c := range cs {
			c.Stdin.Close()
		}
		for _, c := range cs {
			c.Wait(b)
		}
	}
	b.ReportMetric(0, "ns/op")
}
