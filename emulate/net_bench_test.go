package emulate_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// BenchmarkConnect measures one blocking connect to a local listener, as
// the program sees it (the C helper times each connect call and reports
// the median and p90): run plainly, under a filter that notifies connect
// and answers Continue, and carried out by Network. The metrics
// median-µs and p90-µs are per connect; ns/op includes the program's
// start.
func BenchmarkConnect(b *testing.B) {
	for _, mode := range []string{"plain", "continue", "emulated"} {
		b.Run(mode, func(b *testing.B) {
			benchConnect(b, mode)
		})
	}
}

func benchConnect(b *testing.B, mode string) {
	helper := netHelperPath(b)
	l := listenTCP(b)
	cmd := exec.Command(helper, "connectloop", "127.0.0.1", l.portString(), strconv.Itoa(max(b.N, 10)))
	var out strings.Builder
	cmd.Stdout = &out
	b.ResetTimer()
	switch mode {
	case "plain":
		if err := cmd.Run(); err != nil {
			b.Fatal(err, out.String())
		}
	default:
		sectest.RequireKernel(b, sectest.AddFD)
		f := filter.New(filter.Allow)
		mux := seccompstream.NewMux()
		if mode == "continue" {
			if err := f.Add(filter.Notify, "connect"); err != nil {
				b.Fatal(err)
			}
			mux.Handle("connect", seccompstream.Answer(seccompstream.Continue()))
		} else {
			nw, err := emulate.NewNetwork(emulate.NetworkPolicy{Connect: []string{"127.0.0.1:" + l.portString()}})
			if err != nil {
				b.Fatal(err)
			}
			if err := nw.AddRules(f); err != nil {
				b.Fatal(err)
			}
			nw.Register(mux)
		}
		mux.HandleDefault(seccompstream.Answer(seccompstream.Continue()))
		s, err := seccompstream.Start(cmd, f, seccompstream.WithSyncWakeup())
		if err != nil {
			b.Fatal(err)
		}
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		if err := s.Serve(context.Background(), mux); err != nil {
			b.Fatal(err)
		}
		s.Close()
		if err := <-waited; err != nil {
			b.Fatal(err, out.String())
		}
	}
	b.StopTimer()
	var median, p90 float64
	if _, err := fmt.Sscanf(strings.TrimSpace(out.String()), "ok median=%g p90=%g", &median, &p90); err != nil {
		b.Fatalf("helper: %q", out.String())
	}
	b.ReportMetric(median/1000, "median-µs")
	b.ReportMetric(p90/1000, "p90-µs")
}
