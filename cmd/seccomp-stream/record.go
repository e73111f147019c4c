package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/errnames"
	"github.com/seccompstream/seccompstream/internal/procstatus"
	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/profile"
)

func init() {
	subcommands["record"] = subcommand{
		summary: "run a program and write the OCI seccomp profile of the calls it made",
		run:     runRecord,
	}
}

const recordUsage = `Usage: seccomp-stream record [-o FILE] [--merge FILE]... [--errno NAME]
                             [--base NAME] [--args] -- PROGRAM [ARGS...]

Run PROGRAM under a seccomp filter that stops every system call of every
ABI (x86_64, and i386 and x32 on x86_64), note which call it was, and let
it run. Nothing is decided and nothing is lost: every thread, child and
executed program is under the filter, and each call waits until it was
counted. No root is needed. When PROGRAM has exited, write the calls seen
as an OCI seccomp profile (the linux.seccomp of a config.json, which runc,
crun, Docker, Podman and Kubernetes Localhost profiles load), to FILE or
to standard output, and exit with PROGRAM's status.

The profile allows the calls seen, in one SCMP_ACT_ALLOW rule with the names
sorted, on the architectures seen, and fails every other call with ENOSYS
(defaultAction SCMP_ACT_ERRNO, defaultErrnoRet 38). ENOSYS, not EPERM: C
libraries and runtimes that try a newer call first (clone3, faccessat2,
openat2, statx, close_range) fall back to the older one on ENOSYS but give
up on EPERM (runc #2151, containers/common #573), so a program stays
working where its recording took the fallback. It includes execve (PROGRAM
was executed under the filter). How often each call was seen goes in a
"seccompstream" field that runtimes ignore. Two recordings that see the same
calls as often give the same bytes.

Flags:
  -o FILE       write the profile to FILE (replaced whole, once PROGRAM
                has exited) instead of standard output.
  --merge FILE  add the calls of an earlier profile to this one (the union;
                counts add up). May be repeated. The calls FILE allows on
                this machine's own ABI, with any arguments, are let through
                by the filter without stopping: a run seeded with the
                profiles of earlier runs costs little more than a plain one,
                and records only what is new.
  --errno NAME  the errno of the default action: ENOSYS (default), EPERM, a
                name or a number.
  --base NAME   add the calls a container runtime makes itself between
                installing the container's filter and executing its
                program, which a recording of the bare program cannot see:
                runc, crun, or none (default). See "Containers" below.
  --args        also record, for a few calls, their scalar register
                arguments: the family of socket and socketpair, the persona
                of personality, clone's CLONE_NEW* flags, unshare's and
                setns's flags, prctl's option (at most 8 values each, else
                the call by name only). Never what an argument points to.

Warnings go to standard error: when this process already runs under a
seccomp filter (a call that filter denies never reaches ours, so it cannot
be recorded: /proc/self/status, Seccomp_filters), and when a call number
has no name here (no profile can allow it by name).

Containers: a runtime (runc, crun) installs the container's filter and
then makes calls of its own before it executes the container's program;
a profile for a container must allow them too. --base adds the ones this
command knows for runc and crun. To record a container as it runs, with the
runtime's calls and everything else, record it through the agent:
"seccomp-stream agent --socket PATH --record DIR" with a config.json that
notifies the calls to record (docs/profiles.md shows one).

If this process already has a seccomp listener above it (inside a container
whose calls go to a seccomp agent, or under another seccomp-stream), the
kernel refuses a second one (EBUSY) and nothing can be recorded: record
outside it.

Exit status: PROGRAM's, or 128+N if signal N killed it; 126 if PROGRAM
cannot be executed, 127 if it does not exist; 2 for bad usage or bad input
(a missing or malformed --merge profile, an unknown errno or base), before
anything runs; 1 if recording or writing the profile failed.

Examples:
  seccomp-stream record -o ls.json -- ls /
  seccomp-stream record --merge ls.json -o tools.json -- mkdir /tmp/x
  seccomp-stream record --base runc -o app.json -- ./app --serve
  seccomp-stream run --profile app.json -- ./app --serve     # enforce it
`

// runRecord is the "record" subcommand.
func runRecord(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("record", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	var merges stringFlag
	flags.Var(&merges, "merge", "")
	outFile := flags.String("o", "", "")
	errnoName := flags.String("errno", "ENOSYS", "")
	baseName := flags.String("base", "none", "")
	withArgs := flags.Bool("args", false, "")
	if code, done := flagsDone(flags.Parse(args), "record", recordUsage, stdout, stderr); done {
		return code
	}
	prog := flags.Args()
	if len(prog) == 0 {
		fmt.Fprintf(stderr, "seccomp-stream record: no program given\n\n%s", recordUsage)
		return exitUsage
	}

	// Everything the flags name is checked before the program runs.
	errno, err := errnames.Parse(*errnoName)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream record: --errno: %v\n", err)
		return exitUsage
	}
	base, err := profile.Base(*baseName)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream record: --base: %s\n", trimProfilePrefix(err))
		return exitUsage
	}
	var earlier []*profile.Profile
	for _, name := range merges {
		p, _, err := readProfile(name, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "seccomp-stream record: --merge %s\n", trimProfilePrefix(err))
			return exitUsage
		}
		earlier = append(earlier, p)
	}
	seed := profile.Merge(earlier...)
	f, err := recordFilter(seed)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream record: %v\n", err)
		return exitFailure
	}
	if *outFile != "" {
		if err := checkWritable(*outFile); err != nil {
			fmt.Fprintf(stderr, "seccomp-stream record: -o: %v\n", err)
			return exitFailure
		}
	}
	errOut := &lineWriter{w: stderr}
	warnOuterFilters(errOut)

	var recOpts []profile.RecorderOption
	if *withArgs {
		recOpts = append(recOpts, profile.WithArgRules(0))
	}
	rec := profile.NewRecorder(recOpts...)
	ps, code, serr := superviseProgram(ctx, "record", prog, f, rec, stdin, stdout, stderr, errOut, recordStreamOptions()...)
	if serr != nil {
		return exitFailure // the recording is incomplete: nothing to write
	}
	if ps == nil {
		return code // it never ran: nothing to write
	}

	p := profile.Merge(rec.Profile(), seed, base)
	// The program's own exec was made under the filter and answered by
	// Start (its launcher's last call): it is not in the recording, and a
	// runtime that starts the program under the profile makes it.
	if native, err := profile.NativeArch(); err == nil {
		_ = p.Add(native, "execve", 0)
	}
	for _, u := range rec.Unknown() {
		fmt.Fprintf(errOut, "seccomp-stream record: warning: call %d of %s (seen %d times) has no name here: a profile cannot allow it\n",
			u.Syscall, sysnames.ArchName(u.Arch), u.Count)
	}
	if err := writeProfile(p, *outFile, stdout, profile.WithDefaultErrno(errno)); err != nil {
		fmt.Fprintf(errOut, "seccomp-stream record: %s\n", trimProfilePrefix(err))
		return exitFailure
	}
	if *baseName == "none" && len(merges) == 0 {
		io.WriteString(errOut, "seccomp-stream record: note: a container runtime makes calls of its own before the program starts, which this recording cannot see: for a container profile add --base runc or --base crun, or record the container through the agent (seccomp-stream help record)\n")
	}
	return code
}

// recordStreamOptions are the Stream options of a recording, where every
// call of the program is a round trip to one listener: a receiver on a
// thread of its own (no wake-up through the runtime's poller), and the
// kernel's synchronous wake-up where it has it (Linux 6.6). scripts/
// record-bench measures the result.
func recordStreamOptions() []seccompstream.Option {
	opts := []seccompstream.Option{seccompstream.WithDedicatedThread()}
	if feat, err := seccompstream.KernelFeatures(); err == nil && feat.SyncWakeup {
		opts = append(opts, seccompstream.WithSyncWakeup())
	}
	return opts
}

// recordFilter is the filter of a recording: every call notifies, of
// every ABI (the mismatch action notifies too: i386 and x32 calls on
// x86_64), except the calls seed allows on the native ABI with any
// arguments, which run unseen. They are not added for the other ABIs (the
// filter knows only the native one), so an i386 call is recorded even if
// seed has its name.
func recordFilter(seed *profile.Profile) (*filter.Filter, error) {
	f := filter.New(filter.Notify)
	if err := f.SetMismatchAction(filter.Notify); err != nil {
		return nil, err
	}
	native, err := profile.NativeArch()
	if err != nil {
		return f, nil
	}
	var allow []string
	for _, c := range seed.Calls() {
		if c.Arch == native && len(c.Rules) == 0 {
			allow = append(allow, c.Name)
		}
	}
	if err := f.Add(filter.Allow, allow...); err != nil {
		return nil, fmt.Errorf("seeding the filter: %w", err)
	}
	return f, nil
}

// writeProfile writes p to the file name, or to w when name is "".
func writeProfile(p *profile.Profile, name string, w io.Writer, opts ...profile.WriteOption) error {
	if name != "" {
		return p.WriteFile(name, opts...)
	}
	b, err := p.Marshal(opts...)
	if err == nil {
		_, err = w.Write(b)
	}
	return err
}

// checkWritable checks, before anything runs, that a file can be written
// where name is (as WriteFile will: a new file in its directory).
func checkWritable(name string) error {
	if fi, err := os.Stat(name); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", name)
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// warnOuterFilters warns when this process already runs under seccomp
// filters: a call that an outer filter fails or kills never reaches the
// recording's listener (the kernel takes the strongest action of all the
// filters, and errors and kills rank above notify).
func warnOuterFilters(w io.Writer) {
	mode, n, err := seccompStatus("/proc/self/status")
	if err != nil || mode == 0 {
		return
	}
	what := "a seccomp filter"
	switch {
	case mode == 1:
		what = "seccomp strict mode"
	case n == 1:
		what = "1 seccomp filter"
	case n > 1:
		what = strconv.Itoa(n) + " seccomp filters"
	}
	fmt.Fprintf(w, "seccomp-stream record: warning: this process already runs under %s (/proc/self/status): the calls an outer filter fails or kills never reach the recording, and cannot be in the profile\n", what)
}

// seccompStatus reads the Seccomp mode (0 none, 1 strict, 2 filter) and
// the Seccomp_filters count (-1 when the kernel does not report it) from a
// /proc/PID/status file.
func seccompStatus(path string) (mode, filters int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	mode, _ = procstatus.Int(data, "Seccomp")
	if filters, ok := procstatus.Int(data, "Seccomp_filters"); ok {
		return mode, filters, nil
	}
	return mode, -1, nil
}
