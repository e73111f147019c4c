package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/errnames"
	"github.com/seccompstream/seccompstream/profile"
)

func init() {
	subcommands["profile"] = subcommand{
		summary: "merge or compare OCI seccomp profiles",
		run:     runProfile,
	}
}

const profileUsage = `Usage: seccomp-stream profile merge [-o FILE] [--errno NAME] PROFILE...
       seccomp-stream profile diff PROFILE_A PROFILE_B

Work with OCI seccomp profiles: the linux.seccomp object of an OCI
config.json, which runc, crun, Docker, Podman, containerd, CRI-O and
Kubernetes ("Localhost" profiles) load.

merge writes the union of the profiles: every architecture and every
system call any of them allows (a call one profile allows whatever its
arguments stays so; argument conditions are united otherwise). One
PROFILE rewrites it in the canonical form. The output allows the calls in
one SCMP_ACT_ALLOW rule with the names sorted, lists the architectures,
and fails every other call with ENOSYS (defaultAction SCMP_ACT_ERRNO,
defaultErrnoRet 38). ENOSYS, not EPERM: C libraries and runtimes that try
a newer call first (clone3, faccessat2, openat2, statx, close_range) fall
back to the older one on ENOSYS but give up on EPERM (runc #2151,
containers/common #573). The counts of how often each call was seen are
added up and kept in a "seccompstream" field that runtimes ignore. The
same input always gives the same bytes.

  -o FILE       write the merged profile to FILE (replaced whole) instead
                of standard output
  --errno NAME  the errno of the default action (EPERM, 1, ...); default
                ENOSYS. An input whose default action differs is named in
                a warning.

diff shows what each profile allows that the other does not, per
architecture: "-" lines for PROFILE_A only, "+" lines for PROFILE_B only,
sorted, e.g.

  --- ls.json
  +++ mkdir.json
  -SCMP_ARCH_X86_64 getdents64
  +SCMP_ARCH_X86_64 mkdir
  +SCMP_ARCH_X86_64 socket if arg0 == 0x1

Counts and default actions are not compared. Exit status: 0 when the
profiles allow the same calls, 1 when they differ (as diff(1) does), 2
for bad input or trouble.

Accepted input: OCI profiles (with or without the seccompstream field),
whole config.json files, and Docker's and containers-common's profile
templates (archMap, includes/excludes, decided for this machine and a
container without capabilities). Only allowlists can be read: a profile
whose default action lets calls run (SCMP_ACT_ALLOW, SCMP_ACT_LOG,
SCMP_ACT_NOTIFY) is refused. A system call name that no architecture has
is skipped with a warning on standard error, as runc and crun skip it.
Errors name the file and the item, and give exit status 2 (merge writes
nothing then); merge exits 1 if it cannot write its output.

Examples:
  seccomp-stream profile merge ls.json mkdir.json -o tools.json
  seccomp-stream profile diff docker-default.json tools.json
`

// runProfile is the "profile" subcommand.
func runProfile(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "seccomp-stream profile: merge or diff?\n\n%s", profileUsage)
		return exitUsage
	}
	switch args[0] {
	case "merge":
		return profileMerge(args[1:], stdout, stderr)
	case "diff":
		return profileDiff(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		io.WriteString(stdout, profileUsage)
		return 0
	}
	fmt.Fprintf(stderr, "seccomp-stream profile: unknown command %q (merge or diff)\n\n%s", args[0], profileUsage)
	return exitUsage
}

// parseInterspersed parses flags that may come before, between or after
// the arguments ("merge A B -o F"); everything after "--" is an argument.
func parseInterspersed(flags *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	var rest []string
	for {
		if err := flags.Parse(args); err != nil {
			return nil, err
		}
		args = flags.Args()
		if len(args) == 0 {
			return append(rest, tail...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// parseProfileFlags parses a profile command's flags and arguments. When
// the command should not go on (help asked for, a bad flag) it has said so
// and ok is false, with the exit status.
func parseProfileFlags(flags *flag.FlagSet, args []string, stdout, stderr io.Writer) (files []string, code int, ok bool) {
	files, err := parseInterspersed(flags, args)
	if code, done := flagsDone(err, flags.Name(), profileUsage, stdout, stderr); done {
		return nil, code, false
	}
	return files, 0, true
}

// profileWarner prints the readers' warnings.
func profileWarner(stderr io.Writer) profile.ReadOption { return commandWarner("profile", stderr) }

// commandWarner prints the profile readers' warnings as the subcommand
// name's.
func commandWarner(name string, stderr io.Writer) profile.ReadOption {
	return profile.WithWarnings(func(err error) {
		fmt.Fprintf(stderr, "seccomp-stream %s: warning: %s\n", name, trimProfilePrefix(err))
	})
}

func trimProfilePrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "profile: ")
}

func profileMerge(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("profile merge", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	outFile := flags.String("o", "", "")
	errnoName := flags.String("errno", "ENOSYS", "")
	files, code, ok := parseProfileFlags(flags, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "seccomp-stream profile merge: no profile given\n\n%s", profileUsage)
		return exitUsage
	}
	errno, err := errnames.Parse(*errnoName)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream profile merge: --errno: %v\n", err)
		return exitUsage
	}
	var ps []*profile.Profile
	for _, name := range files {
		p, def, err := readProfile(name, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "seccomp-stream profile merge: %s\n", trimProfilePrefix(err))
			return exitUsage
		}
		if want := defaultString(specs.ActErrno, uint(errno)); def != want {
			fmt.Fprintf(stderr, "seccomp-stream profile: warning: %s: default action %s becomes %s\n", name, def, want)
		}
		ps = append(ps, p)
	}
	merged := profile.Merge(ps...)
	if *outFile != "" {
		if err := merged.WriteFile(*outFile, profile.WithDefaultErrno(errno)); err != nil {
			fmt.Fprintf(stderr, "seccomp-stream profile merge: %s\n", trimProfilePrefix(err))
			return exitFailure
		}
		return 0
	}
	b, err := merged.Marshal(profile.WithDefaultErrno(errno))
	if err == nil {
		_, err = stdout.Write(b)
	}
	if err != nil {
		fmt.Fprintf(stderr, "seccomp-stream profile merge: %s\n", trimProfilePrefix(err))
		return exitFailure
	}
	return 0
}

// readProfile reads a profile file and describes its default action.
func readProfile(name string, stderr io.Writer) (*profile.Profile, string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	p, err := profile.Parse(name, data, profileWarner(stderr))
	if err != nil {
		return nil, "", err
	}
	s, err := profile.ParseOCI(name, data)
	if err != nil {
		return nil, "", err
	}
	ret := uint(unix.EPERM) // what runtimes use when defaultErrnoRet is absent
	if s.DefaultErrnoRet != nil {
		ret = *s.DefaultErrnoRet
	}
	return p, defaultString(s.DefaultAction, ret), nil
}

func defaultString(a specs.LinuxSeccompAction, errno uint) string {
	if a != specs.ActErrno {
		return string(a)
	}
	if name := unix.ErrnoName(syscall.Errno(errno)); name != "" {
		return fmt.Sprintf("%s (%s)", a, name)
	}
	return fmt.Sprintf("%s (%d)", a, errno)
}

// exitDiffer is profile diff's status for profiles that differ.
const exitDiffer = 1

func profileDiff(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("profile diff", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	files, code, ok := parseProfileFlags(flags, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(files) != 2 {
		fmt.Fprintf(stderr, "seccomp-stream profile diff: want two profiles, got %d\n\n%s", len(files), profileUsage)
		return exitUsage
	}
	var ps [2]*profile.Profile
	for i, name := range files {
		p, _, err := readProfile(name, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "seccomp-stream profile diff: %s\n", trimProfilePrefix(err))
			return exitUsage
		}
		ps[i] = p
	}
	lines := diffLines(ps[0], ps[1])
	if len(lines) == 0 {
		return 0
	}
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", files[0], files[1])
	for _, l := range lines {
		b.WriteString(l.text + "\n")
	}
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		fmt.Fprintf(stderr, "seccomp-stream profile diff: %v\n", err)
		return exitUsage
	}
	return exitDiffer
}

type diffLine struct {
	arch specs.Arch
	name string // "" for the architecture itself
	sign byte
	text string
}

// diffLines lists what only a has ("-") and what only b has ("+"), sorted
// by architecture, then name, "-" first. An architecture that only one of
// them lists gets a line of its own, before its calls.
func diffLines(a, b *profile.Profile) []diffLine {
	var lines []diffLine
	for _, side := range []struct {
		p, other *profile.Profile
		sign     byte
	}{{a, b, '-'}, {b, a, '+'}} {
		only := profile.Diff(side.p, side.other)
		for _, arch := range only.Arches() {
			if !slices.Contains(side.other.Arches(), arch) {
				lines = append(lines, diffLine{arch: arch, sign: side.sign, text: fmt.Sprintf("%c%s (architecture)", side.sign, arch)})
			}
			for _, c := range only.Calls() {
				if c.Arch == arch {
					lines = append(lines, diffLine{arch: arch, name: c.Name, sign: side.sign, text: string(side.sign) + c.String()})
				}
			}
		}
	}
	slices.SortStableFunc(lines, func(x, y diffLine) int {
		if c := strings.Compare(string(x.arch), string(y.arch)); c != 0 {
			return c
		}
		if c := strings.Compare(x.name, y.name); c != 0 {
			return c
		}
		return int(y.sign) - int(x.sign) // '-' (45) before '+' (43)
	})
	return lines
}
