package seccompstream_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

var _ = registerBenchScenarios()

func registerBenchScenarios() bool {
	// openat-loop N PATH: openat(AT_FDCWD, PATH, O_RDONLY) and
	// close the result, N times; every open must succeed.
	scenarios["openat-loop"] = func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		p := append([]byte(args[1]), 0)
		for range n {
			for {
				fd, e := rawOpenat(unix.AT_FDCWD, uintptr(unsafe.Pointer(&p[0])), 0)
				if e == unix.EINTR {
					continue
				}
				if e != 0 {
					println("openat:", e.Error())
					return 1
				}
				unix.Close(fd)
				break
			}
		}
		return 0
	}
	return true
}

// latencies collects the duration of each iteration of a benchmark and
// reports their median and 90th percentile.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(l[len(l)*9/10].Nanoseconds()), "p90-ns")
}

// benchTarget pins the target of a target-call child started with options
// (as root), or of a Start target with cred (when not nil).
func benchTarget(b *testing.B, cred *syscall.Credential, options ...string) (*seccompstream.Target, func()) {
	b.Helper()
	var s *seccompstream.Stream
	var finish func()
	if cred == nil {
		c, st := startNotify(b, "target-call", options, "getppid")
		s = st
		finish = func() { exitZero(b, c) }
	} else {
		p := startBench(b, cred, "target-call", options...)
		s = p.s
		finish = func() {
			if err := p.wait(); err != nil {
				b.Fatalf("target: %v; output:\n%s", err, p.out)
			}
		}
	}
	n := receiveMarked(b, s, "getppid", 0, markTarget)
	tg, err := n.Target()
	if err != nil {
		b.Fatal(err)
	}
	return tg, func() {
		tg.Close()
		if err := s.Respond(n, seccompstream.Return(0)); err != nil {
			b.Fatal(err)
		}
		finish()
	}
}

// benchDir returns a directory every user may write, holding a file
// "file" every user may read.
func benchDir(b *testing.B) string {
	b.Helper()
	d := sectest.PublicDir(b)
	if err := os.Chmod(d, 0o777); err != nil {
		b.Fatal(err)
	}
	writeFile(b, d+"/file", "bench", 0o644, 0, 0)
	return d
}

// startBench starts the Go target name with args under a filter that
// notifies getppid and openat, with the credentials cred when not nil.
func startBench(b *testing.B, cred *syscall.Credential, name string, args ...string) *started {
	b.Helper()
	cmd := selfTarget(b, name, args...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return startCmd(b, cmd, notifyFilter(b, filter.Allow, "getppid", "openat"))
}

// timeEach runs op b.N times and reports the median and 90th percentile
// of its durations.
func timeEach(b *testing.B, op func() error) {
	b.Helper()
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	lat.report(b)
}

// BenchmarkTarget measures Target (pinning) and Close.
func BenchmarkTarget(b *testing.B) {
	c, s := startNotify(b, "target-call", nil, "getppid")
	n := receiveMarked(b, s, "getppid", 0, markTarget)
	timeEach(b, func() error {
		tg, err := n.Target()
		if err != nil {
			return err
		}
		return tg.Close()
	})
	s.Respond(n, seccompstream.Return(0))
	exitZero(b, c)
}

// BenchmarkTargetCreds measures the first Creds of a Target (reading
// /proc/<tid>/status); later calls are cached.
func BenchmarkTargetCreds(b *testing.B) {
	c, s := startNotify(b, "target-call", nil, "getppid")
	n := receiveMarked(b, s, "getppid", 0, markTarget)
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		tg, err := n.Target()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if _, err := tg.Creds(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		tg.Close()
		b.StartTimer()
	}
	b.StopTimer()
	lat.report(b)
	s.Respond(n, seccompstream.Return(0))
	exitZero(b, c)
}

// BenchmarkTargetOpen measures Open of an existing file with the Target's
// credentials read already: for a root target (the supervisor's
// credentials: no thread) and for one running as uid 65534 (a throwaway
// thread per Open), with absolute and relative paths; and a creation.
func BenchmarkTargetOpen(b *testing.B) {
	requireOpenat2(b)
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	for _, bc := range []struct {
		name  string
		cred  *syscall.Credential
		path  string
		flags int
	}{
		{"root/absolute", nil, "DIR/file", unix.O_RDONLY},
		{"root/relative", nil, "file", unix.O_RDONLY},
		{"root/dotdot", nil, "../BASE/file", unix.O_RDONLY},
		{"root/create", nil, "DIR/created", unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC},
		{"uid65534/absolute", nobody, "DIR/file", unix.O_RDONLY},
		{"uid65534/relative", nobody, "file", unix.O_RDONLY},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := benchDir(b)
			path := strings.NewReplacer("DIR", dir, "BASE", filepath.Base(dir)).Replace(bc.path)
			tg, finish := benchTarget(b, bc.cred, "chdir="+dir)
			if _, err := tg.Creds(); err != nil {
				b.Fatal(err)
			}
			timeEach(b, func() error {
				f, err := tg.Open(unix.AT_FDCWD, path, bc.flags, 0o644)
				if err != nil {
					return err
				}
				return f.Close()
			})
			finish()
		})
	}
}

// BenchmarkTargetDo measures Do with a function that does nothing, for a
// target thread in namespaces of its own, joined with one setns on its
// pidfd (Linux 6.9 for a thread that is not its process's main thread)
// and one setns per namespace (/proc/<tid>/ns); and DoWithCreds.
func BenchmarkTargetDo(b *testing.B) {
	for _, bc := range []struct {
		name    string
		nsFiles bool
		creds   bool
	}{{"pidfd", false, false}, {"ns-files", true, false}, {"DoWithCreds", false, true}} {
		b.Run(bc.name, func(b *testing.B) {
			tg, finish := benchTarget(b, nil, "ns="+b.TempDir()+":bench")
			if bc.nsFiles {
				seccompstream.TargetUseNSFiles(tg)
			} else if !bc.creds && !seccompstream.TargetPidfdNamesThread(tg) {
				b.Skip("the pidfd names the leader (PIDFD_THREAD is Linux 6.9): see ns-files")
			}
			do := tg.Do
			if bc.creds {
				do = tg.DoWithCreds
			}
			ctx := timeout(b)
			timeEach(b, func() error { return do(ctx, func() error { return nil }) })
			finish()
		})
	}
}

// BenchmarkEmulatedOpenat measures a target's openat round trip, from one
// notification to the next (the target closes each file in between):
// answered with Continue, and emulated (Target, Open as the target,
// RespondFD) for a root target and for one running as uid 65534.
func BenchmarkEmulatedOpenat(b *testing.B) {
	requireAddFD(b)
	requireOpenat2(b)
	for _, bc := range []struct {
		name    string
		emulate bool
		cred    *syscall.Credential
	}{
		{"continue", false, nil},
		{"emulated/root", true, nil},
		{"continue/uid65534", false, &syscall.Credential{Uid: 65534, Gid: 65534}},
		{"emulated/uid65534", true, &syscall.Credential{Uid: 65534, Gid: 65534}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := startBench(b, bc.cred, "openat-loop", strconv.Itoa(b.N), benchDir(b)+"/file")
			s := p.s
			ctx := timeout(b)
			lat := make(latencies, 0, b.N)
			gone := 0
			var last time.Time
			b.ResetTimer()
			for i := 0; i < b.N; {
				n, err := s.Receive(ctx)
				if err != nil {
					b.Fatal(err)
				}
				now := time.Now()
				if !last.IsZero() {
					lat = append(lat, now.Sub(last))
				}
				last = now
				if n.SyscallName() != "openat" {
					s.Respond(n, seccompstream.Continue())
					continue
				}
				if bc.emulate {
					err = emulateOpen(s, n)
				} else {
					err = s.Respond(n, seccompstream.Continue())
				}
				if errors.Is(err, seccompstream.ErrGone) {
					gone++ // interrupted: the call comes back
					continue
				}
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.StopTimer()
			lat.report(b)
			b.ReportMetric(float64(gone), "gone")
			// The Go runtime of the target made some of the openat calls
			// counted: let the rest run.
			serveAll(b, s, func(*seccompstream.Notification) seccompstream.Response { return seccompstream.Continue() })
			if err := p.wait(); err != nil {
				b.Fatalf("target: %v; output:\n%s", err, p.out)
			}
		})
	}
}
