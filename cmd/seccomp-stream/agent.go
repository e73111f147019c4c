package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
)

func init() {
	subcommands["agent"] = subcommand{
		summary: "serve runc and crun as their seccomp agent (linux.seccomp.listenerPath)",
		run:     runAgent,
	}
}

const agentUsage = `Usage: seccomp-stream agent --socket PATH [--trace LIST] [--deny LIST] [--json]
       seccomp-stream agent --socket PATH --policy FILE [--json]

Serve container runtimes (runc >= 1.1, crun >= 0.19) as their seccomp
agent. A container whose config.json has, under linux.seccomp, rules with
the action SCMP_ACT_NOTIFY and "listenerPath": PATH hands its notified
calls to this agent, which shows them, lets them run or fails them. Every
process of every container is served at once; each exec'd process
("runc exec") arrives as a stream of its own.

Flags:
  --socket PATH  the unix socket to listen on: the containers'
                 listenerPath. "@NAME" is an abstract socket name (no file;
                 runc accepts it, crun 1.8 wants an absolute path).
                 A socket file left by an agent that is gone is replaced.
  --trace LIST   show these calls and let them run. LIST is comma-separated
                 kernel names (openat,mkdir), or "all". May be repeated.
  --deny LIST    fail these calls. Each item is NAME or NAME:ERRNO
                 (mkdir:EACCES, unlink:1); the default errno is EPERM.
                 Denied calls are shown too. May be repeated.
                 Without --trace, --deny and --policy every notified call
                 is shown and let run.
  --policy FILE  decide by a policy file instead of --trace and --deny:
                 per system call an action ("allow", "trace", "deny",
                 "deny:ERRNO"), optionally for containers matched by id,
                 annotation or listenerMetadata (see docs/agent.md):
                   {"default": "trace",
                    "syscalls": {"mkdir": "deny:EACCES"},
                    "containers": [{"match": {"annotations": {"sandbox": "strict"}},
                                    "default": "deny"}]}
  --json         print one JSON object per call instead of a text line;
                 it has the container id in "container".

The agent decides only what the containers' filters notify: the names
given here should be the ones config.json sends with SCMP_ACT_NOTIFY.
Each shown call is one line on standard output, with the container id:

  mybox 4242 mkdir("/tmp/x", 0777) = EACCES

Connections and rejected runtime messages (with the reason) are logged on
standard error. SIGINT or SIGTERM stops the agent: calls in progress are
answered, and from then on every notified call of the containers fails
with ENOSYS, as it does when the agent dies. Exit status: 0 after a
signal, 1 if serving failed, 2 for bad usage.

Example:
  seccomp-stream agent --socket /run/seccomp-agent.sock --deny mkdir:EACCES,mkdirat:EACCES
`

// runAgent is the "agent" subcommand.
func runAgent(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("agent", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	var trace, deny stringFlag
	flags.Var(&trace, "trace", "")
	flags.Var(&deny, "deny", "")
	socket := flags.String("socket", "", "")
	policyFile := flags.String("policy", "", "")
	asJSON := flags.Bool("json", false, "")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(stdout, agentUsage)
			return 0
		}
		fmt.Fprintf(stderr, "seccomp-stream agent: %v\n\n%s", err, agentUsage)
		return exitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "seccomp-stream agent: unexpected arguments %q\n", flags.Args())
		return exitUsage
	}
	if *socket == "" {
		fmt.Fprintf(stderr, "seccomp-stream agent: --socket is required\n\n%s", agentUsage)
		return exitUsage
	}
	var decide func(*agent.Container) func(name string) (seccompstream.Response, bool)
	if *policyFile != "" {
		if len(trace) > 0 || len(deny) > 0 {
			fmt.Fprintln(stderr, "seccomp-stream agent: --policy cannot be combined with --trace or --deny")
			return exitUsage
		}
		p, err := agent.LoadPolicy(*policyFile)
		if err != nil {
			fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
			return exitUsage
		}
		decide = func(c *agent.Container) func(string) (seccompstream.Response, bool) {
			r := p.For(c)
			return func(name string) (seccompstream.Response, bool) {
				a := r.Action(name)
				return a.Response(), a.Logged()
			}
		}
	} else {
		r, err := parseRules(trace, deny)
		if err != nil {
			fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
			return exitUsage
		}
		all := r.empty()
		decide = func(*agent.Container) func(string) (seccompstream.Response, bool) {
			return func(name string) (seccompstream.Response, bool) {
				return r.decide(name), all || r.traces(name)
			}
		}
	}

	ln, err := agent.Listen(*socket)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
		return exitFailure
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	log := slog.New(slog.NewTextHandler(stderr, nil))
	out := &traceWriter{w: stdout, json: *asJSON}
	srv := &agent.Server{
		Logger: log,
		NewHandler: func(c *agent.Container) seccompstream.Handler {
			d := decide(c)
			id := c.ID()
			return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
				r, show := d(n.SyscallName())
				if show {
					// Before answering: the trace reads the caller's memory.
					out.write(id, n, r)
				}
				return r
			})
		},
	}
	log.Info("seccomp-stream agent: listening", "socket", *socket)
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
		return exitFailure
	}
	return 0
}

// agentRecord is a --json trace line of the agent: the call, with the id
// of the container that made it.
type agentRecord struct {
	Container string `json:"container"`
	traceRecord
}

// traceWriter writes trace lines from concurrent handlers, one whole line
// at a time.
type traceWriter struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

func (t *traceWriter) write(id string, n *seccompstream.Notification, r seccompstream.Response) {
	var line []byte
	if t.json {
		b, err := json.Marshal(agentRecord{Container: id, traceRecord: decodeCall(n, r)})
		if err != nil {
			b = fmt.Appendf(nil, `{"container":%q,"pid":%d,"syscall":%q,"error":%q}`, id, n.PID, n.SyscallName(), err.Error())
		}
		line = append(b, '\n')
	} else {
		line = append([]byte(id+" "), formatCall(n, r, false)...)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.w.Write(line)
}
