package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
)

// The agent scenario: an OCI seccomp agent (package agent, in a process of
// its own) serves runc containers whose C targets make calls, and the
// harness SIGKILLs the agent from time to time and starts it again. A
// container whose agent died gets ENOSYS for its calls from then on (its
// listener is gone), which its target accepts; a container started while
// the agent is down fails to start (runc cannot hand its listener over).

// envAgent marks a process started as the agent: its value is the socket.
const envAgent = "SECCOMPSTREAM_SOAK_AGENT"

// containerSlots is the number of containers running at once.
const containerSlots = 2

// agentMain is the agent process: it serves containers on the socket
// named by envAgent until SIGTERM, answering calls as their ops ask (only
// the ops of steady targets: value, errno, fd, continue).
func agentMain(socket string, magic string) int {
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM)
	defer stop()
	memfd, err := unix.MemfdCreate("soak-agent-fd", unix.MFD_CLOEXEC)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := unix.Write(memfd, []byte(magic)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ln, err := agent.Listen(socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	srv := &agent.Server{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewHandler: func(*agent.Container) seccompstream.Handler {
			return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
				return answerSteady(n, memfd)
			})
		},
	}
	fmt.Println("serving")
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// answerSteady decides a call of a steady target: the answer its op asks
// for, with the fd of memfd for opFD.
func answerSteady(n *seccompstream.Notification, memfd int) seccompstream.Response {
	id, seq, op := n.Args[0], n.Args[1], n.Args[2]
	switch op {
	case opValue:
		return seccompstream.Return(int64(id<<32 | seq))
	case opErrno:
		return seccompstream.Errno(expectedErrno(seq))
	case opFD:
		fd, err := n.AddFD(memfd)
		if err != nil {
			return seccompstream.Error(err)
		}
		return seccompstream.Return(int64(fd))
	case opContinue:
		return seccompstream.Continue()
	}
	return seccompstream.Errno(unix.ENOSYS)
}

// agentRun is the agent scenario of one soak.
type agentRun struct {
	h      *harness
	dir    string // bundles, ledgers, runc state
	socket string
	root   string // runc --root
	rootfs string

	mu    sync.Mutex
	proc  *exec.Cmd
	gone  chan struct{} // closed when proc was reaped
	n     atomic.Uint64 // containers started
	down  atomic.Bool   // the agent is being restarted
	kills atomic.Uint64 // the agent's deaths so far
	live  map[*containerRun]struct{}
	ended bool
}

// containerRun is one container and its target's ledger.
type containerRun struct {
	id      string
	l       *ledger
	hungSeq uint64 // guarded by agentRun.mu
}

// startAgent starts the agent and the container slots (counted in slots),
// or returns nil, with the reason in the report, when it cannot run.
func (h *harness) startAgent(slots *sync.WaitGroup) *agentRun {
	skip := func(why string) *agentRun {
		h.c.do(func(r *Report) { r.Skipped = append(r.Skipped, "agent scenario: "+why) })
		return nil
	}
	for _, tool := range []string{"runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if inCI() {
				h.c.do(func(r *Report) { r.TargetFails++ })
				h.c.detail("agent scenario: %s is required in CI: %v", tool, err)
			}
			return skip(tool + " not installed")
		}
	}
	a := &agentRun{h: h, dir: filepath.Join(h.tmp, "agent"), live: make(map[*containerRun]struct{})}
	a.socket = filepath.Join(a.dir, "agent.sock")
	a.root = filepath.Join(a.dir, "runc")
	a.rootfs = filepath.Join(a.dir, "rootfs")
	for _, d := range []string{a.root, filepath.Join(a.rootfs, "proc"), filepath.Join(a.rootfs, "dev")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return skip(err.Error())
		}
	}
	bin, err := os.ReadFile(h.cstatic)
	if err == nil {
		err = os.WriteFile(filepath.Join(a.rootfs, "target"), bin, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(a.rootfs, "ledger"), nil, 0o644)
	}
	if err != nil {
		return skip(err.Error())
	}
	if err := a.startProc(); err != nil {
		h.c.do(func(r *Report) { r.TargetFails++ })
		h.c.detail("agent scenario: starting the agent: %v", err)
		return nil
	}
	for i := range containerSlots {
		slots.Add(1)
		go func() {
			defer slots.Done()
			a.slot(i)
		}()
	}
	return a
}

// startProc starts the agent process and waits until it serves.
func (a *agentRun) startProc() error {
	cmd := exec.Command(a.h.self)
	cmd.Env = append(os.Environ(), envAgent+"="+a.socket, envGoTarget+"=", "SECCOMPSTREAM_SOAK_MAGIC="+a.h.magic)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	gone := make(chan struct{})
	ready := make(chan bool, 1)
	go func() {
		b := make([]byte, 8)
		n, _ := io.ReadFull(out, b)
		ready <- n == 8 && string(b) == "serving\n"
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(gone)
	}()
	if !<-ready {
		_ = cmd.Process.Kill()
		<-gone
		return fmt.Errorf("agent did not start: %s", stderr.String())
	}
	a.mu.Lock()
	a.proc, a.gone = cmd, gone
	a.mu.Unlock()
	return nil
}

// kill SIGKILLs the agent and starts it again (an injector).
func (a *agentRun) kill(*rand.Rand) {
	a.mu.Lock()
	proc, gone := a.proc, a.gone
	a.mu.Unlock()
	if proc == nil {
		return // a restart failed before
	}
	a.down.Store(true)
	a.kills.Add(1)
	_ = proc.Process.Signal(syscall.SIGKILL) // not reaped yet: the pid is still ours
	<-gone
	a.h.c.fault(faultAgentKill)
	if err := a.startProc(); err != nil {
		a.mu.Lock()
		a.proc = nil
		a.mu.Unlock()
		a.h.c.do(func(r *Report) { r.TargetFails++ })
		a.h.c.detail("agent scenario: restarting the agent: %v", err)
		return
	}
	a.down.Store(false)
}

// slot runs containers one after another until no new target may start.
func (a *agentRun) slot(i int) {
	for a.h.startCtx.Err() == nil {
		if a.down.Load() {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		a.run(i)
	}
}

// run runs one container to its end and adds its target's ledger to the
// report.
func (a *agentRun) run(slot int) {
	h := a.h
	kills := a.kills.Load()
	n := a.n.Add(1)
	id := fmt.Sprintf("soak-%d-%d", h.cfg.Seed%100000, n)
	dir := filepath.Join(a.dir, id)
	ledgerPath := filepath.Join(a.dir, id+".ledger")
	fail := func(format string, args ...any) {
		h.c.do(func(r *Report) { r.TargetFails++ })
		h.c.detail("container %s: "+format, append([]any{id}, args...)...)
	}
	l, err := newFileLedger(ledgerPath)
	if err != nil {
		fail("%v", err)
		return
	}
	defer os.Remove(ledgerPath)
	defer os.RemoveAll(dir)
	cr := &containerRun{id: id, l: l}
	tid := firstID + h.nextID.Add(1)
	calls := h.cfg.Calls/10 + int(n)%(h.cfg.Calls-h.cfg.Calls/10+1)
	if err := a.writeBundle(dir, ledgerPath, tid, calls); err != nil {
		l.close()
		fail("bundle: %v", err)
		return
	}
	a.mu.Lock()
	if a.ended {
		a.mu.Unlock()
		l.close()
		return
	}
	a.live[cr] = struct{}{}
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.Duration+2*h.cfg.Hang)
	defer cancel()
	cmd := exec.CommandContext(ctx, "runc", "--root", a.root, "run", "--bundle", dir, id)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	a.runcDelete(id)
	a.mu.Lock()
	delete(a.live, cr)
	a.mu.Unlock()
	sn := l.snapshot()
	l.close()
	if sn[lMagic] != ledgerMagic {
		// The target never started: runc could not hand the listener
		// to the agent (it was killed meanwhile), or could not start
		// the container at all.
		if !a.down.Load() && a.kills.Load() == kills && a.h.startCtx.Err() == nil {
			h.c.do(func(r *Report) { r.ContainerFails++ })
			h.c.detail("container %s did not start (%v): %s", id, err, bytes.TrimSpace(out))
			time.Sleep(100 * time.Millisecond)
		}
		return
	}
	h.c.fault(faultContainers)
	h.c.do(func(r *Report) {
		r.add(sn)
		r.ContainerCalls += sn[lReturned]
	})
	h.c.wrong("container "+id, sn)
	if sn[lDone] != 1 && ctx.Err() == nil {
		fail("target did not finish (%v): %s", err, out)
	}
}

// writeBundle writes the bundle of a container whose process is the C
// target with its ledger bind-mounted, under a profile that notifies
// getpriority to the agent.
func (a *agentRun) writeBundle(dir, ledgerPath string, tid uint64, calls int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	spec := &specs.Spec{
		Version: "1.0.2",
		Root:    &specs.Root{Path: a.rootfs, Readonly: true},
		Process: &specs.Process{
			Args: []string{"/target", "-enosys", "-ledger", "/ledger",
				strconv.FormatUint(tid, 10), strconv.Itoa(calls), strconv.Itoa(mixSteady), a.h.magic},
			Env:             []string{"PATH=/"},
			Cwd:             "/",
			NoNewPrivileges: true,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755", "size=64k"}},
			{Destination: "/ledger", Type: "bind", Source: ledgerPath, Options: []string{"bind", "rw"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace}},
			Seccomp: &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				ListenerPath:  a.socket,
				Syscalls:      []specs.LinuxSyscall{{Names: []string{"getpriority"}, Action: specs.ActNotify}},
			},
		},
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
}

// runcDelete removes container id, whatever state it is in.
func (a *agentRun) runcDelete(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, "runc", "--root", a.root, "delete", "-f", id).Run()
}

// stopAll tells the running containers' targets to finish.
func (a *agentRun) stopAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for cr := range a.live {
		cr.l.set(lStop, 1)
	}
}

// forLive calls f for every running container (under the lock: f must be
// quick).
func (a *agentRun) forLive(f func(*containerRun)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for cr := range a.live {
		f(cr)
	}
}

// watch finds hung calls in containers (see harness.watch) and kills
// their containers.
func (a *agentRun) watch(now uint64) {
	var hung []string
	a.forLive(func(cr *containerRun) {
		start := cr.l.get(lCallStart)
		if start == 0 || now < start || time.Duration(now-start) < a.h.cfg.Hang {
			return
		}
		seq := cr.l.get(lCurSeq)
		if cr.hungSeq == seq {
			return
		}
		cr.hungSeq = seq
		a.h.c.do(func(r *Report) { r.Hung++ })
		a.h.c.detail("container %s: call %d (op %s) unanswered after %v", cr.id, seq,
			opNames[min(cr.l.get(lCurOp), numOps-1)], time.Duration(now-start).Round(time.Millisecond))
		hung = append(hung, cr.id)
	})
	for _, id := range hung {
		_ = exec.Command("runc", "--root", a.root, "kill", id, "KILL").Run()
	}
}

// close stops the agent once the containers are done.
func (a *agentRun) close() {
	a.mu.Lock()
	a.ended = true
	proc, gone := a.proc, a.gone
	a.mu.Unlock()
	if proc != nil {
		_ = proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-gone:
		case <-time.After(30 * time.Second):
			_ = proc.Process.Kill()
			<-gone
		}
	}
}

// newFileLedger makes a zeroed ledger in the file path (for a target in a
// container, which gets the file bind-mounted).
func newFileLedger(path string) (*ledger, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Truncate(4096); err != nil {
		return nil, err
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("soak: mmap ledger: %w", err)
	}
	return &ledger{mem: mem}, nil
}
