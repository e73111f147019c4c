package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/policy"
)

const runUsage = `Usage: seccomp-stream run [flags] -- PROGRAM [ARGS...]
       seccomp-stream run --profile FILE [--complain] [--json] [-o FILE] -- PROGRAM [ARGS...]

Run PROGRAM under a seccomp filter. Calls named by --trace are shown and
then run; calls named by --deny are shown and fail with an errno. The
program's children and everything it executes stay under the filter and
are traced too.

Flags:
  --trace LIST   show these system calls and let them run. LIST is
                 comma-separated kernel names (openat,execve,connect), or
                 "all" for every call. May be repeated.
  --deny LIST    make these calls fail, and show them. LIST is comma-
                 separated names, each optionally NAME:ERRNO, where ERRNO
                 is an errno name (EACCES) or number. An :ERRNO applies to
                 its name and to every name before it back to the previous
                 :ERRNO; names after the last one get EPERM:
                   --deny mkdir,mkdirat:EACCES     mkdir and mkdirat: EACCES
                   --deny mkdir:EACCES,unlink      mkdir EACCES, unlink EPERM
                   --deny a,b:EACCES,c,d:ENOENT,e  a,b EACCES; c,d ENOENT; e EPERM
                 A name given two different errnos is an error. A call
                 both traced and denied is denied. May be repeated.
  --allow-read LIST
                 turn the file policy on: the program may read these paths
                 (a directory with everything below it, or a file) and
                 nothing else. LIST is comma-separated absolute paths.
                 "@system" stands for what dynamically linked programs
                 read before their own work (paths a machine lacks add
                 nothing): /lib /lib32 /lib64 /libx32 /usr/lib /usr/lib32
                 /usr/lib64 /usr/libx32 /usr/local/lib /etc/ld.so.cache
                 /etc/ld.so.conf /etc/ld.so.conf.d /etc/ld.so.preload
                 /usr/share/locale /usr/share/i18n /etc/locale.alias
                 /usr/share/zoneinfo /etc/localtime /etc/timezone
                 /etc/nsswitch.conf /etc/passwd /etc/group
                 /usr/share/terminfo /etc/terminfo /proc/filesystems
                 /sys/devices/system/cpu /dev/null /dev/zero /dev/full
                 /dev/random /dev/urandom. May be repeated.
  --allow-write LIST
                 the program may also write, create, remove, rename and
                 chmod in these paths (a path it may write it may read).
                 Giving either flag turns the file policy on: every other
                 path gets EACCES ("Permission denied").
  --allow-connect LIST
                 turn the network policy on: the program may connect, and
                 send datagrams, to these addresses and nothing else. LIST
                 is comma-separated items: IP:PORT (127.0.0.1:8080),
                 [IPv6]:PORT ([::1]:443), IP:* (any port), CIDR prefixes
                 (10.0.0.0/8:53, [fd00::/8]:*), absolute unix socket paths
                 (/run/app.sock) and abstract unix names (@name). Host names
                 are not accepted. May be repeated.
  --allow-bind LIST
                 the program may bind these local addresses (same items;
                 port 0 or * lets the kernel pick a port). Giving either
                 flag turns the network policy on: every other address gets
                 EACCES, and so do raw and packet sockets.
  --json         print one JSON object per call instead of a text line:
                 {"pid":..,"syscall":..,"args":[..],"raw":[..],"decision":..}
  -o FILE        write the trace to FILE instead of standard error.
  --profile FILE enforce an OCI seccomp profile (linux.seccomp, a whole
                 config.json, Docker's or containers-common's format), with
                 its own actions and default, as runc would, and show each
                 call it denies (= ENOSYS, ...); a last line counts them
                 by name. Calls it allows run unseen; its kill, trap and
                 trace actions are carried out by the kernel, not shown.
                 Names no table knows are skipped with a warning, as
                 runtimes skip them. Not with --trace or --deny.
  --complain     with --profile: let the calls the profile denies run, and
                 show each with the profile's answer,
                   4242 mkdir("/tmp/x", 0777) = continue (profile: ENOSYS)
                 kills and traps included: what a recording missed.

Names are the kernel's ("openat", "newfstatat"), and a name applies on every
ABI this machine runs: on x86_64 to the x86_64 call, to the i386 call of that
name (int $0x80) and to the x32 one. Calls of those other ABIs are shown and
decided like the native ones; their lines carry the ABI, as in getpid[i386].
Unknown names are an error before anything runs. The syntax is described in
full, once, in the documentation of package policy:
  ` + policyDoc + `

Each line shows the calling thread id, the call with its arguments decoded
(paths and strings read from the program's memory, socket addresses of
connect/bind/sendto, open and *at flags by name) and the decision:

  4242 openat(AT_FDCWD, "/etc/hostname", O_RDONLY|O_CLOEXEC) = continue
  4242 mkdir("/tmp/x", 0777) = EACCES

The exit status is the program's, or 128+N if signal N killed it; 126 if
PROGRAM cannot be executed, 127 if it does not exist, 2 for bad usage, 1
if the supervisor failed. SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to
seccomp-stream are passed on to the program. If SIGSYS kills the program,
one line says whether the filter can have done it.

Calls answered "continue" are run by the kernel after the trace line was
made: the program could have changed a path between the two. --deny is
decided from the call's name alone and is not affected by that.

Under a file policy (--allow-read, --allow-write) the calls that take a
path (open, stat, access, readlink, mkdir, unlink, rename, link, symlink,
chmod, chown, truncate, utimes, mknod, xattrs) are carried out by
seccomp-stream for the program, as the program (its root, working
directory and credentials), once it checked where the path leads: ".."
and symbolic links are resolved first, /proc/<pid>/root and fd links are
never followed, and the call acts on what was checked, so changing the
path afterwards changes nothing. They are never answered "continue".
Refusals are shown as --deny lines are:

  4242 openat(AT_FDCWD, "/etc/shadow", O_RDONLY) = EACCES

io_uring_setup, mount, chroot, ptrace, pidfd_getfd and the other calls
that would go around the policy fail with EPERM (so debuggers do not work
under it). execve is not restricted: the kernel opens the
program itself, and a program outside the lists may be run (what it opens
is checked). chdir is not restricted either. A path starting with
/proc/self is the program's own /proc/<pid>; the magic links there (fd/*,
exe, cwd, root) are never opened, and /dev/stdout and /dev/fd, which lead
through them, are refused. The file policy needs Linux 5.9; what
it guarantees and where it stops is in the documentation of package
emulate:
  go doc ` + emulateDoc + `

Under a network policy (--allow-connect, --allow-bind) connect, bind and
the sends that name a destination (sendto with an address, sendmsg,
sendmmsg) are carried out by seccomp-stream on the program's own socket,
with the address it checked: changing the address afterwards changes
nothing, and a datagram never reaches an address outside the list. A unix
socket path is checked where it leads in the program's view (symbolic
links resolved). Connected sockets send unchecked, and nothing is checked
on receiving. Refusals are shown as --deny lines are:

  4242 connect(3, {AF_INET 10.0.0.5:22}, 16) = EACCES

Name lookups need the name server listed (for example 127.0.0.53:53).
Both policies may be given together. The network policy needs Linux 5.9;
what it guarantees and where it stops is in the same documentation.

Examples:
  seccomp-stream run --trace openat,execve -- ls /
  seccomp-stream run --deny mkdir,mkdirat:EACCES -- mkdir /tmp/x
  seccomp-stream run --trace connect --json -o trace.jsonl -- curl -s example.com
  seccomp-stream run --trace all -- /bin/true
  seccomp-stream run --profile app.json --complain -- ./app
  seccomp-stream run --allow-read @system,/srv/data --allow-write /tmp/out -- ./prog
  seccomp-stream run --allow-read / --allow-write "$PWD" -- make
  seccomp-stream run --allow-connect 127.0.0.1:8080,[::1]:8080 -- curl -s http://127.0.0.1:8080/
  seccomp-stream run --allow-bind 127.0.0.1:* --allow-connect /run/app.sock -- ./server
`

// emulateDoc is the package that documents the file and network policies.
const emulateDoc = "github.com/seccompstream/seccompstream/emulate"

// runRun is the "run" subcommand.
func runRun(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("run", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	var trace, deny, allowRead, allowWrite, allowConnect, allowBind stringFlag
	flags.Var(&trace, "trace", "")
	flags.Var(&deny, "deny", "")
	flags.Var(&allowRead, "allow-read", "")
	flags.Var(&allowWrite, "allow-write", "")
	flags.Var(&allowConnect, "allow-connect", "")
	flags.Var(&allowBind, "allow-bind", "")
	asJSON := flags.Bool("json", false, "")
	outFile := flags.String("o", "", "")
	profileFile := flags.String("profile", "", "")
	complain := flags.Bool("complain", false, "")
	if code, done := flagsDone(flags.Parse(args), "run", runUsage, stdout, stderr); done {
		return code
	}
	prog := flags.Args()
	if len(prog) == 0 {
		fmt.Fprintf(stderr, "seccomp-stream run: no program given\n\n%s", runUsage)
		return exitUsage
	}
	var rules *policy.Rules
	var f *filter.Filter
	var enforced *profileRun // --profile
	var err error
	switch {
	case *profileFile != "" || *complain:
		if len(allowRead) > 0 || len(allowWrite) > 0 || len(allowConnect) > 0 || len(allowBind) > 0 {
			fmt.Fprintln(stderr, "seccomp-stream run: --profile and --complain cannot be combined with --allow-read, --allow-write, --allow-connect or --allow-bind")
			return exitUsage
		}
		if enforced, err = newProfileRunFlags(*profileFile, *complain, trace, deny, stderr); err != nil {
			fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
			return exitUsage
		}
		f = enforced.filter
	default:
		if rules, err = policy.ParseLists(trace, deny); err != nil {
			fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
			return exitUsage
		}
		if rules.Files, err = policy.ParseFileLists(allowRead, allowWrite); err != nil {
			fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
			return exitUsage
		}
		if rules.Network, err = policy.ParseNetworkLists(allowConnect, allowBind); err != nil {
			fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
			return exitUsage
		}
		if f, err = rules.Filter(); err != nil {
			fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
			if errors.Is(err, seccompstream.ErrNotSupported) {
				return exitFailure // the kernel's, not the input's
			}
			return exitUsage
		}
		if rules.Files != nil || rules.Network != nil {
			if err := undumpable(); err != nil {
				fmt.Fprintf(stderr, "seccomp-stream run: %v\n", err)
				return exitFailure
			}
		}
	}

	// The trace, the program's standard error and our messages may share
	// stderr: one writer, one whole line at a time.
	errOut := &lineWriter{w: stderr}
	traceOut := errOut
	if *outFile != "" {
		file, err := os.Create(*outFile)
		if err != nil {
			fmt.Fprintf(errOut, "seccomp-stream run: %v\n", err)
			return exitFailure
		}
		defer file.Close()
		traceOut = &lineWriter{w: bufio.NewWriter(file)}
	}
	tr := &tracer{out: traceOut, json: *asJSON}
	var h seccompstream.Handler
	if enforced != nil {
		h = enforced.handler(tr)
	} else {
		mux, err := rules.Handler(func(_ context.Context, n *seccompstream.Notification, r seccompstream.Response) {
			tr.show("", n, r)
		})
		if err != nil {
			fmt.Fprintf(errOut, "seccomp-stream run: %v\n", err)
			return exitUsage
		}
		h = mux
	}

	ps, code, _ := superviseProgram(ctx, "run", prog, f, h, stdin, stdout, stderr, errOut)
	if err := traceOut.Flush(); err != nil {
		fmt.Fprintf(errOut, "seccomp-stream run: writing the trace: %v\n", err)
	}
	if ps == nil {
		return code
	}
	// After a serving error the program ran on with ENOSYS answers: its
	// end is still reported, as it ended.
	if enforced != nil {
		io.WriteString(errOut, enforced.summary())
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == unix.SIGSYS {
		if enforced != nil {
			io.WriteString(errOut, enforced.sigsysNote(prog[0]))
		} else {
			io.WriteString(errOut, sigsysNote(prog[0], f))
		}
	}
	return code
}

// sigsysNote is the line that explains a program killed by SIGSYS, the
// signal of seccomp's kill actions: whether this filter can have sent it.
// Only its mismatch action kills (the rules notify or allow), and on x86_64
// that is Notify too: every ABI reaches the rules.
func sigsysNote(prog string, f *filter.Filter) string {
	switch f.MismatchAction() {
	case filter.KillProcess, filter.KillThread:
		abis := make([]string, 0, 2)
		for _, a := range f.Arches() {
			abis = append(abis, sysnames.ArchName(a))
		}
		return fmt.Sprintf("seccomp-stream run: %s was killed by SIGSYS: the filter kills calls through an ABI other than %s, which it cannot decode; or another seccomp filter or a signal did\n",
			prog, strings.Join(abis, ", "))
	}
	return fmt.Sprintf("seccomp-stream run: %s was killed by SIGSYS, not by this filter (it kills no call): another seccomp filter or a signal did\n", prog)
}

// undumpable makes this process non-dumpable before a sandboxed program
// starts, or (the agent) before any container is served. A program of our
// own uid could otherwise open
// /proc/<our pid>/mem (ptrace access mode) and rewrite the supervisor
// that decides its calls: under a file policy Target refuses that open,
// but a network-only policy does not look at paths at all. Non-dumpable,
// that access needs CAP_SYS_PTRACE, which a root program still has (the
// README's limits say so). The process becomes non-dumpable anyway the
// first time Target acts with another fsuid; this makes it so from the
// start, whatever the policy.
func undumpable() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}
