package emulate_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// BenchmarkOpen times one open+close of a file by a C program, one call at
// a time, measured inside the program: plain (no filter), with openat
// notified and answered Continue (the cost of a round trip), and carried
// out by Files (the cost of emulation). It reports the median and the 90th
// percentile in microseconds; compare the three in one run.
//
//	go test -run '^$' -bench 'Open|Stat' -benchtime 20000x ./emulate
func BenchmarkOpen(b *testing.B) { benchCall(b, "open") }

// BenchmarkStat is BenchmarkOpen for stat (newfstatat), whose answer is
// written into the program's memory.
func BenchmarkStat(b *testing.B) { benchCall(b, "stat") }

func benchCall(b *testing.B, call string) {
	h := helperPath(b)
	dir := sectest.PublicDir(b)
	file := dir + "/f"
	if err := writeFileB(file); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"plain", "continue", "emulated"} {
		b.Run(mode, func(b *testing.B) {
			cmd := exec.Command(h, "bench", call, file, fmt.Sprint(b.N))
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			b.ResetTimer()
			switch mode {
			case "plain":
				if err := cmd.Run(); err != nil {
					b.Fatalf("%v: %s", err, out.String())
				}
			default:
				serveBench(b, mode, cmd, dir)
			}
			b.StopTimer()
			var med, p90 float64
			if _, err := fmt.Sscanf(out.String(), "median=%f p90=%f", &med, &p90); err != nil {
				b.Fatalf("helper printed %q", out.String())
			}
			b.ReportMetric(med/1000, "median-µs")
			b.ReportMetric(p90/1000, "p90-µs")
		})
	}
}

func serveBench(b *testing.B, mode string, cmd *exec.Cmd, dir string) {
	sectest.RequireKernel(b, sectest.AddFD)
	f := filter.New(filter.Allow)
	var h seccompstream.Handler
	switch mode {
	case "continue":
		if err := f.Add(filter.Notify, "openat", "newfstatat"); err != nil {
			b.Fatal(err)
		}
		h = seccompstream.HandlerFunc(func(context.Context, *seccompstream.Notification) seccompstream.Response {
			return seccompstream.Continue()
		})
	case "emulated":
		fs, err := emulate.NewFiles(emulate.FilePolicy{Read: []string{dir}})
		if err != nil {
			b.Fatal(err)
		}
		if err := fs.AddRules(f); err != nil {
			b.Fatal(err)
		}
		h = fs
	}
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := s.Serve(ctx, h); err != nil {
		b.Fatal(err)
	}
	if err := <-waited; err != nil {
		b.Fatalf("helper: %v", err)
	}
}
