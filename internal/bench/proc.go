package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// startOn starts cmd with its CPU affinity set to cpu (-1: any CPU). The
// fork happens on a locked OS thread whose mask was set first, so the child
// and all its threads inherit the mask from the first instruction (the Go
// runtime of a Go child sees it, and sizes GOMAXPROCS by it). The locked
// thread is never unlocked: it exits with its goroutine.
func startOn(cmd *exec.Cmd, cpu int) error {
	if cpu < 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("sched_setaffinity(cpu %d): %w", cpu, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// socketPair returns two connected SOCK_SEQPACKET unix sockets as files.
func socketPair() (a, b *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sock-a"), os.NewFile(uintptr(fds[1]), "sock-b"), nil
}

// supProc is a running supervisor process.
type supProc struct {
	cmd    *exec.Cmd
	ready  chan struct{}
	lines  []string // stdout lines other than "ready"
	done   chan struct{}
	stderr bytes.Buffer
	mu     sync.Mutex
}

// startSup starts a supervisor with sock as its fd 3 and watches its stdout.
func startSup(argv []string, sock *os.File, cpu int) (*supProc, error) {
	p := &supProc{
		cmd:   exec.Command(argv[0], argv[1:]...),
		ready: make(chan struct{}),
		done:  make(chan struct{}),
	}
	p.cmd.ExtraFiles = []*os.File{sock}
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := startOn(p.cmd, cpu); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		readyOnce := false
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" && !readyOnce {
				readyOnce = true
				close(p.ready)
				continue
			}
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
		}
		io.Copy(io.Discard, out)
	}()
	return p, nil
}

// finish waits up to timeout for the supervisor to exit by itself, kills it
// otherwise, and returns its stat lines ("stat NAME VALUE") as a map.
func (p *supProc) finish(timeout time.Duration) (stats map[string]string, exitedAlone bool, err error) {
	waitc := make(chan error, 1)
	go func() {
		<-p.done
		waitc <- p.cmd.Wait()
	}()
	var werr error
	select {
	case werr = <-waitc:
		exitedAlone = true
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-waitc
	}
	stats = map[string]string{}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "stat" {
			stats[f[1]] = f[2]
		}
	}
	if exitedAlone && werr != nil {
		return stats, exitedAlone, fmt.Errorf("supervisor %s: %v: %s", p.cmd.Args[0], werr, strings.TrimSpace(p.stderr.String()))
	}
	return stats, exitedAlone, nil
}

// kill ends the supervisor and reaps it.
func (p *supProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
	p.cmd.Wait()
}

// runTimeout is how long one target may run before the harness gives up on
// it (a supervisor that stopped answering would otherwise hang the run).
const runTimeout = 120 * time.Second

// waitTimeout waits for cmd, killing it after d.
func waitTimeout(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not finish within %v (killed)", cmd.Args[0], d)
	}
}
