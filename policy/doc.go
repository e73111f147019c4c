// Package policy is seccompstream's rule vocabulary: what a supervisor does
// with each notified system call, decided by the call's name on every ABI
// the kernel runs. The seccomp-stream command's run and agent subcommands
// read it from their flags and from policy files, and package agent serves
// containers by it. This is the one place its syntax is written down.
//
// A rule set (Rules) gives each named system call an Action and the other
// calls a default. Filter is the seccomp filter that notifies what the
// rules need to see; Handler is a seccompstream.Mux that answers by the
// rules and, through a middleware, shows the calls they show:
//
//	rules, err := policy.ParseLists([]string{"openat"}, []string{"mkdir,mkdirat:EACCES"})
//	f, err := rules.Filter()
//	s, err := seccompstream.Start(cmd, f)
//	h, err := rules.Handler(func(ctx context.Context, n *seccompstream.Notification, r seccompstream.Response) {
//		log.Printf("%s = %v", n.SyscallName(), r)
//	})
//	err = s.Serve(ctx, h)
//
// # Actions
//
//	allow        let the call run; do not show it
//	trace        show the call and let it run
//	deny         show the call and fail it with EPERM
//	deny:ERRNO   show the call and fail it with ERRNO: a name ("EACCES",
//	             any case) or a number in 1..4095
//
// "Shown" means handed to the ShowFunc given to Handler: the command
// prints one line per shown call.
//
// # Lists: the --trace and --deny flags
//
// A trace list is system call names separated by commas: "openat,execve".
// The item "all" shows every call (it makes trace the default action).
//
// A deny list is system call names separated by commas, where a name may
// carry an errno: "NAME:ERRNO". An errno applies to its name and to every
// name before it back to the previous errno in the same list; names after
// the last errno get EPERM:
//
//	mkdir:EACCES                  mkdir EACCES
//	mkdir,mkdirat:EACCES          mkdir and mkdirat EACCES (strace's
//	                              -e inject=mkdir,mkdirat:error=EACCES)
//	mkdir:EACCES,unlink           mkdir EACCES, unlink EPERM
//	a,b:EACCES,c,d:ENOENT,e       a and b EACCES, c and d ENOENT, e EPERM
//
// So NAME:ERRNO for every item always means what it says. Each flag's
// value is a list of its own, and the flags may be repeated; their rules add
// up. A call named in both a trace and a deny list is denied; one name
// denied with two different errnos is an error that names both. Spaces
// around items are ignored, and so are empty items.
//
// # Names and ABIs
//
// Names are the kernel's, as libseccomp, strace and x/sys spell them
// ("openat", "newfstatat", "socketcall"). A name applies on every ABI of
// ABIs that has a call of that name, each in its own numbering: on x86_64,
// a rule for getpid decides getpid from x86_64 code, from i386 code
// (int $0x80, call 20) and from x32 code (39 with the x32 bit). A name that
// none of those ABIs has is an error, with a suggestion where one is close
// ("fstatat": did you mean "newfstatat"?).
//
// Filter lets every ABI of ABIs reach the rules instead of killing the
// program: an i386 call made by a 64-bit program is shown and decided like
// the native one. x32 calls are notified whatever their name (a filter
// cannot match them by name) and routed by Handler. The x32 tables are
// derived from x86_64's, so the x32-only call numbers (512 and up) have no
// name: such a call gets the default action, or ENOSYS when the rule set
// denies something (it could be a denied call under its x32 number).
//
// # Policy files
//
// A policy file is a JSON object. The fields of a rule set, "default" and
// "syscalls", may appear at the top level (for every container) and in each
// entry of "containers" (for the containers it matches):
//
//	{
//	  "default": "trace",
//	  "syscalls": {"mkdir": "deny:EACCES", "mkdirat": "deny:EACCES", "unlink": "trace"},
//	  "containers": [
//	    {
//	      "match": {"annotations": {"org.example/sandbox": "strict"}},
//	      "default": "deny",
//	      "syscalls": {"unlink": "deny:EROFS"}
//	    },
//	    {
//	      "match": {"id": "debug-*", "metadata": "trusted"},
//	      "syscalls": {"mkdir": "allow", "mkdirat": "allow"}
//	    }
//	  ]
//	}
//
//	default                     action for calls no rule names; "trace" when absent
//	syscalls                    system call name -> action
//	containers                  rules for some containers: the first whose
//	                            match holds applies, on top of the top level
//	containers[].match.id       pattern for the container id ("web-*", path.Match)
//	containers[].match.annotations
//	                            annotations that must all be present with
//	                            these values ("*": any value)
//	containers[].match.metadata must equal the container's listenerMetadata
//	containers[].default        replaces the default for those containers
//	containers[].syscalls       added to the top level's, winning over them
//
// Every field is optional. Unknown fields are errors, and so are unknown
// names, bad actions and bad patterns; the message says where
// ("containers[1].syscalls.mkdir"). The format grows by new fields, never
// by new meanings of old ones: new kinds of rules become fields of a rule
// set, usable at the top level and per container, and new ways to select
// containers become fields of "match". A file written for a later version
// is refused by an earlier one rather than half understood.
//
// # What a rule set decides
//
// Rules decide by system call name alone, which the caller cannot change
// between the decision and the call. Trace and allow answer Continue: the
// kernel runs the call after the supervisor looked at it, and pointed-to
// data (a path shown in a trace line) may have changed meanwhile. So the
// trace is a record of what was asked, not a proof of what was done; the
// denials are exact.
package policy
