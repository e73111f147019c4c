// Command metrics supervises a command under a seccomp filter with
// seccompstream.Serve and publishes Serve's counters through expvar, the
// standard library's metrics page (/debug/vars, JSON).
//
//	go run ./examples/metrics -addr localhost:8080 -- sh -c 'mkdir /tmp/x; ls /'
//	curl localhost:8080/debug/vars   # "seccompstream": {"Received": ..., ...}
//
// The filter notifies the calls named by -notify. mkdir and mkdirat are
// refused with EACCES, everything else notified is let through (Continue,
// which is fine for tracing and counting but is no security decision; see
// seccompstream.Continue). The counters are the fields of
// seccompstream.StatsSnapshot; a Prometheus exporter would read the same
// snapshot in its Collect method.
package main

import (
	"context"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		log.Fatal(err)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	addr := fs.String("addr", "localhost:0", "address of the HTTP server for /debug/vars")
	notify := fs.String("notify", "mkdir,mkdirat,openat,execve,getppid", "comma-separated system calls to notify")
	hold := fs.Duration("hold", 0, "keep serving /debug/vars this long after the command exits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: metrics [flags] -- command [args...]")
	}

	var stats seccompstream.Stats
	expvar.Publish("seccompstream", expvar.Func(func() any { return stats.Snapshot() }))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Fprintf(os.Stderr, "metrics: counters at http://%s/debug/vars\n", ln.Addr())
	srv := &http.Server{Handler: http.DefaultServeMux} // expvar registers /debug/vars there
	go srv.Serve(ln)
	defer srv.Close()

	f := filter.New(filter.Allow)
	if err := f.Add(filter.Notify, strings.Split(*notify, ",")...); err != nil {
		return err
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		return err
	}
	defer s.Close()
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()

	mux := seccompstream.NewMux()
	deny := seccompstream.Answer(seccompstream.Errno(syscall.EACCES))
	mux.Handle("mkdir", deny)
	mux.Handle("mkdirat", deny)
	mux.HandleDefault(seccompstream.Answer(seccompstream.Continue()))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = s.Serve(ctx, mux,
		seccompstream.WithStats(&stats),
		seccompstream.WithErrorHandler(func(err error) { log.Print(err) }))
	if err != nil {
		cmd.Process.Kill()
	}
	cerr := <-waitErr
	snap := stats.Snapshot()
	fmt.Fprintf(os.Stderr, "metrics: %d received, %d answered (%d continued, %d errno), %d gone, handler time %v\n",
		snap.Received, snap.Answered(), snap.Continued, snap.Errno, snap.Gone, snap.HandlerTime)
	if *hold > 0 {
		time.Sleep(*hold)
	}
	if err != nil {
		return err
	}
	return cerr
}
