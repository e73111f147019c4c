package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/policy"
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
  --deny LIST    fail these calls, and show them. Items are NAME or
                 NAME:ERRNO; an :ERRNO applies to its name and every name
                 before it back to the previous :ERRNO, names after the
                 last get EPERM ("mkdir,mkdirat:EACCES": both EACCES).
                 May be repeated, as in "seccomp-stream help run".
                 Without --trace, --deny and --policy every notified call
                 is shown and let run.
  --policy FILE  decide by a policy file instead of --trace and --deny:
                 per system call an action ("allow", "trace", "deny",
                 "deny:ERRNO"), optionally for containers matched by id,
                 annotation or listenerMetadata:
                   {"default": "trace",
                    "syscalls": {"mkdir": "deny:EACCES"},
                    "containers": [{"match": {"annotations": {"sandbox": "strict"}},
                                    "default": "deny"}]}
  --json         print one JSON object per call instead of a text line;
                 it has the container id in "container".

Lists and policy files are described in full, once, in the documentation
of package policy (` + policyDoc + `);
docs/agent.md walks through a container. Names apply on every ABI of this
machine (an i386 mkdir of a container is decided as "mkdir").

The agent decides only what the containers' filters notify: the names
given here should be the ones config.json sends with SCMP_ACT_NOTIFY.
Each shown call is one line on standard output, with the container id:

  mybox 4242 mkdir("/tmp/x", 0777) = EACCES

Connections and rejected runtime messages (with the reason) are logged on
standard error. SIGINT or SIGTERM stops the agent: calls in progress are
answered, and from then on every notified call of the containers fails
with ENOSYS, as it does when the agent dies. Exit status: 0 after a
signal, 1 if serving failed, 2 for bad usage or a bad policy.

Example:
  seccomp-stream agent --socket /run/seccomp-agent.sock --deny mkdir,mkdirat:EACCES
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
	p, err := agentPolicy(*policyFile, trace, deny)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
		return exitUsage
	}
	tr := &tracer{out: &lineWriter{w: stdout}, json: *asJSON}
	newHandler, err := agent.PolicyHandler(p, func(c *agent.Container, n *seccompstream.Notification, r seccompstream.Response) {
		tr.show(c.ID(), n, r)
	})
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
		return exitUsage
	}

	ln, err := agent.Listen(*socket)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
		return exitFailure
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv := &agent.Server{Logger: log, NewHandler: newHandler}
	log.Info("seccomp-stream agent: listening", "socket", *socket)
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
		return exitFailure
	}
	return 0
}

// agentPolicy is the policy the flags ask for: the file, or the lists, or
// (neither) show every notified call and let it run.
func agentPolicy(file string, trace, deny []string) (*policy.Policy, error) {
	if file != "" {
		if len(trace) > 0 || len(deny) > 0 {
			return nil, errors.New("--policy cannot be combined with --trace or --deny")
		}
		return policy.Load(file)
	}
	if len(trace) == 0 && len(deny) == 0 {
		return &policy.Policy{Rules: policy.Rules{Default: policy.Trace}}, nil
	}
	r, err := policy.ParseLists(trace, deny)
	if err != nil {
		return nil, err
	}
	return &policy.Policy{Rules: *r}, nil
}
