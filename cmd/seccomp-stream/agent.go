package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/policy"
	"github.com/seccompstream/seccompstream/profile"
)

func init() {
	subcommands["agent"] = subcommand{
		summary: "serve runc and crun as their seccomp agent (linux.seccomp.listenerPath)",
		run:     runAgent,
	}
}

const agentUsage = `Usage: seccomp-stream agent --socket PATH [--trace LIST] [--deny LIST] [--json]
       seccomp-stream agent --socket PATH --policy FILE [--json]
         [--allow-uid LIST] [--socket-mode MODE] [--socket-group GROUP]
         [--metrics-addr ADDR]
       seccomp-stream agent --socket PATH --record DIR [--record-base NAME]

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
  --allow-uid LIST
                 the user ids (numbers or names, comma-separated; may be
                 repeated) whose connections are served; default: the
                 agent's own. The peer's uid (SO_PEERCRED) is checked
                 before anything is read; a refused peer is logged with its
                 pid and uid, and the listener it sent is closed unserved.
  --socket-mode MODE
                 the socket file's permissions, octal (default 0600: only
                 the agent's user can connect). Widen it on purpose, e.g.
                 0660 with --socket-group. Not for an abstract socket.
  --socket-group GROUP
                 the socket file's group (a name or a number).
  --metrics-addr ADDR
                 serve Prometheus metrics on http://ADDR/metrics and "ok"
                 on /healthz (ADDR is HOST:PORT, ":9090" for every address):
                 calls by system call, decision and pod, the handler's time,
                 containers connected, refused connections, errors.
                 /healthz answers 503 until the agent listens and once its
                 socket file is removed or replaced.
  --trace LIST   show these calls and let them run. LIST is comma-separated
                 kernel names (openat,mkdir), or "all". May be repeated.
  --deny LIST    fail these calls, and show them. Items are NAME or
                 NAME:ERRNO; an :ERRNO applies to its name and every name
                 before it back to the previous :ERRNO, names after the
                 last get EPERM ("mkdir,mkdirat:EACCES": both EACCES).
                 May be repeated, as in "seccomp-stream help run".
                 Without --trace, --deny and --policy every notified call
                 is shown and let run (with --record: let run unshown).
  --policy FILE  decide by a policy file instead of --trace and --deny:
                 per system call an action ("allow", "trace", "deny",
                 "deny:ERRNO"), optionally for containers matched by id,
                 annotation, listenerMetadata, or Kubernetes namespace,
                 pod and container (from the runtime's annotations):
                   {"default": "trace",
                    "syscalls": {"mkdir": "deny:EACCES"},
                    "containers": [{"match": {"annotations": {"sandbox": "strict"}},
                                    "default": "deny"}]}
  --json         print one JSON object per call instead of a text line;
                 it has the container id in "container".
  --record DIR   record every notified call of each container (whatever
                 the rules answer) and write the container's OCI seccomp
                 profile to DIR/ID.json (ID: the container id) when its
                 last process has exited: the init process and every
                 "runc exec" of a container add up in one profile, and so
                 does a file already there for that id. write, which runc
                 refuses to notify, is always added. Record with a
                 config.json that notifies the calls to record: see
                 "seccomp-stream help record" and docs/profiles.md.
  --record-base NAME
                 merge the runtime's own calls into each profile written
                 (runc, crun or none, the default; as record --base). A
                 recording through the agent sees most of them itself.

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
	recordDir := flags.String("record", "", "")
	recordBase := flags.String("record-base", "none", "")
	var allowUID stringFlag
	flags.Var(&allowUID, "allow-uid", "")
	socketMode := flags.String("socket-mode", "", "")
	socketGroup := flags.String("socket-group", "", "")
	metricsAddr := flags.String("metrics-addr", "", "")
	if code, done := flagsDone(flags.Parse(args), "agent", agentUsage, stdout, stderr); done {
		return code
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
	if *recordDir != "" && *policyFile == "" && len(trace) == 0 && len(deny) == 0 {
		// Recording alone: let every call run, without a line each.
		p.Rules.Default = policy.Allow
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var recorder *agentRecorder
	if *recordDir != "" {
		base, err := profile.Base(*recordBase)
		if err != nil {
			fmt.Fprintf(stderr, "seccomp-stream agent: --record-base: %s\n", trimProfilePrefix(err))
			return exitUsage
		}
		if recorder, err = newAgentRecorder(*recordDir, base, log); err != nil {
			fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
			return exitFailure
		}
	} else if *recordBase != "none" {
		fmt.Fprintf(stderr, "seccomp-stream agent: --record-base needs --record DIR\n")
		return exitUsage
	}
	tr := &tracer{out: &lineWriter{w: stdout}, json: *asJSON}
	newHandler, err := agent.PolicyHandler(p, func(c *agent.Container, n *seccompstream.Notification, r seccompstream.Response) {
		tr.showPod(c.ID(), c.Identity(), n, r)
	})
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
		return exitUsage
	}
	if recorder != nil {
		newHandler = recorder.wrap(newHandler)
		defer recorder.close()
	}
	uids, err := parseUIDs(allowUID)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream agent: --allow-uid: %v\n", err)
		return exitUsage
	}
	lopts, err := socketOptions(*socketMode, *socketGroup)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
		return exitUsage
	}
	if *metricsAddr != "" {
		if _, _, err := net.SplitHostPort(*metricsAddr); err != nil {
			fmt.Fprintf(stderr, "seccomp-stream agent: --metrics-addr %q: %v\n", *metricsAddr, err)
			return exitUsage
		}
	}

	// Before any container is served, as run does (see undumpable): a
	// container process of our uid must not reach /proc/<agent>/mem.
	if err := undumpable(); err != nil {
		fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
		return exitFailure
	}
	srv := &agent.Server{Logger: log, NewHandler: newHandler, AllowUIDs: uids}
	var m *agentMetrics
	if *metricsAddr != "" {
		m = newAgentMetrics()
		addr, stopMetrics, err := serveMetrics(*metricsAddr, m, func(err error) {
			log.Error("seccomp-stream agent: metrics server", "err", err)
		})
		if err != nil {
			fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
			return exitFailure
		}
		defer stopMetrics()
		srv.Hooks = m.hooks()
		log.Info("seccomp-stream agent: metrics", "addr", addr.String())
	}
	ln, err := agent.Listen(*socket, lopts...)
	if err == nil && m != nil {
		if err = m.watchSocket(*socket); err != nil {
			ln.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream agent: %v\n", err)
		return exitFailure
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if recorder != nil {
		recorder.shutdown = ctx // before Serve: nothing reads it yet
	}

	log.Info("seccomp-stream agent: listening", "socket", *socket, "allow_uids", fmt.Sprint(allowedUIDs(uids)))
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

// parseUIDs reads --allow-uid items: user ids or user names. nil when
// none were given (the agent's own uid).
func parseUIDs(items []string) ([]uint32, error) {
	var uids []uint32
	for _, list := range items {
		for _, item := range strings.Split(list, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if n, err := strconv.ParseUint(item, 10, 32); err == nil {
				uids = append(uids, uint32(n))
				continue
			}
			u, err := user.Lookup(item)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a uid nor a known user", item)
			}
			n, err := strconv.ParseUint(u.Uid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("user %q has uid %q", item, u.Uid)
			}
			uids = append(uids, uint32(n))
		}
	}
	if len(items) > 0 && len(uids) == 0 {
		return nil, errors.New("no uid given")
	}
	return uids, nil
}

// allowedUIDs is what the Server allows for uids (nil: its own).
func allowedUIDs(uids []uint32) []uint32 {
	if uids == nil {
		return []uint32{uint32(os.Geteuid())}
	}
	return uids
}

// socketOptions reads --socket-mode (octal) and --socket-group (a group
// name or gid).
func socketOptions(mode, group string) ([]agent.ListenOption, error) {
	var opts []agent.ListenOption
	if mode != "" {
		m, err := strconv.ParseUint(mode, 8, 32)
		if err != nil || m > 0o777 {
			return nil, fmt.Errorf("--socket-mode %q: want octal permissions 0000..0777 (e.g. 0660)", mode)
		}
		opts = append(opts, agent.SocketMode(os.FileMode(m)))
	}
	if group != "" {
		gid, err := strconv.ParseUint(group, 10, 31)
		if err != nil {
			g, lerr := user.LookupGroup(group)
			if lerr != nil {
				return nil, fmt.Errorf("--socket-group %q: neither a gid nor a known group", group)
			}
			if gid, err = strconv.ParseUint(g.Gid, 10, 31); err != nil {
				return nil, fmt.Errorf("--socket-group %q: group has gid %q", group, g.Gid)
			}
		}
		opts = append(opts, agent.SocketGroup(int(gid)))
	}
	return opts, nil
}
