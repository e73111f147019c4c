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
//	containers[].match.namespace, .pod, .container
//	                            patterns (path.Match) for the container's
//	                            Kubernetes namespace, pod name and name in
//	                            the pod; a set pattern never matches a
//	                            container without that field, not even "*"
//	containers[].match.metadataValues
//	                            KEY=VALUE lines of listenerMetadata that
//	                            must all be present ("*": any value)
//	containers[].default        replaces the default for those containers
//	intercepts, containers[].intercepts
//	                            ready intercepts that carry out their calls
//	                            for the caller instead of an action:
//	                              "mknod": {"devices": ["c 1:3", "b 7:0"]}
//	                                mknod and mknodat of those device nodes
//	                                (without "devices": DefaultDevices, null
//	                                zero full random urandom tty console ptmx
//	                                fuse), as the caller would create them,
//	                                owned by its fsuid and fsgid
//	                              "sysinfo": {}
//	                                sysinfo from the caller's cgroup
//	                            a container rule's intercept replaces the
//	                            top level's of the same name; a call named in
//	                            syscalls (at either level) keeps its action
//	                            and is not intercepted. Their handlers
//	                            are package emulate's (Mknod, Sysinfo); the
//	                            seccomp rules
//	                            that send just these calls (mknod of devices
//	                            only) are agent.InterceptRules.
//	files, containers[].files   a file policy ("read", "write": paths; see
//	                            File policies below), a container's added
//	                            to the top level's
//	network, containers[].network
//	                            a network policy ("connect", "bind":
//	                            addresses; see Network policies below), a
//	                            container's added to the top level's
//	containers[].syscalls       added to the top level's, winning over them
//
// Precedence: the container rules are tried in the order of the file and
// the first whose match holds applies, alone; within a match every field
// that is set must hold. So put the narrowest rule first: a pod's own rule
// before its namespace's, a namespace's before a catch-all. The agent
// takes the namespace, pod and container from the annotations the
// container runtime wrote (containerd's io.kubernetes.cri.* keys, CRI-O's
// io.kubernetes.pod.* labels; see agent.Identity), which the pod cannot
// change; other annotations are whatever the pod's author wrote, so select
// by them only for what the author may choose. The same goes for metadata
// and metadataValues on Kubernetes: listenerMetadata comes with the
// seccomp profile, and which installed profile a pod uses is the pod's
// choice.
//
// Every field is optional. Unknown fields are errors, and so are unknown
// names, bad actions and bad patterns; the message says where
// ("containers[1].syscalls.mkdir"). So are two things encoding/json lets
// through and a reader of the file would not expect: a field name in
// another case ("Default", "SYSCALLS") and a key given twice in one
// object (two "default"s, "mkdir" twice in "syscalls"), of which the
// decoder would keep the last. The format grows by new fields, never
// by new meanings of old ones: new kinds of rules become fields of a rule
// set, usable at the top level and per container, and new ways to select
// containers become fields of "match". A file written for a later version
// is refused by an earlier one rather than half understood.
//
// # File policies: --allow-read, --allow-write and "files"
//
// A file policy says which paths a program may read and which it may
// write; package emulate carries the calls out for the program, and its
// documentation says what each call needs and what is refused. The
// seccomp-stream command's run takes it as two lists of absolute paths
// separated by commas, each path a directory (with everything below it)
// or a file:
//
//	--allow-read /srv/data,@system   read these
//	--allow-write /tmp/out           also write, create, remove, rename
//	                                 (what may be written may be read)
//
// "@system", in read lists only, stands for emulate.SystemPaths: the
// dynamic loader's libraries and configuration, locales, time zones,
// /etc/nsswitch.conf, /etc/passwd, /etc/group, terminfo,
// /proc/filesystems, /sys/devices/system/cpu and the devices anybody may
// use (go doc emulate.SystemPaths lists every path). Items are absolute paths (the program's, from its
// root) without "." or ".." components; spaces around them are ignored,
// and an empty item is an error, unlike in a deny list. Each flag may be
// repeated. Either list turns the policy on: every other path gets
// EACCES.
//
// A policy file has the same lists in "files", at the top level and in
// each entry of "containers" (a container's paths are added to the top
// level's). Each array item is one path, commas and all:
//
//	{"files": {"read": ["@system", "/srv"], "write": ["/var/cache/app"]},
//	 "containers": [{"match": {"id": "web-*"}, "files": {"write": ["/var/www"]}}]}
//
// Under a file policy the calls it carries out are never let run by a
// rule: "allow" for one of them is an error (the kernel would run it
// unchecked); "trace" shows it with the result of carrying it out;
// "deny" fails it by name, before anything is checked. What the policy
// refuses is shown as a denied call is. An agent decides only what the
// container's own filter notifies: a file policy there needs a seccomp
// profile that notifies the calls emulate.Files routes (Files.Syscalls).
//
// # Network policies: --allow-connect, --allow-bind and "network"
//
// A network policy says where a program may connect and send datagrams,
// and which local addresses it may bind; package emulate carries those
// calls out for the program on its own socket, with the address it
// checked, and its documentation says what each call gets and what is
// refused. The seccomp-stream command's run takes it as two lists of
// addresses separated by commas:
//
//	--allow-connect 127.0.0.1:8080,[::1]:443   connect and send to these
//	--allow-bind 127.0.0.1:*,/run/app.sock     bind these
//
// An item is IP:PORT (127.0.0.1:8080), [IPv6]:PORT ([::1]:443), either
// with * for any port (127.0.0.1:*), a CIDR prefix in place of the
// address (10.0.0.0/8:53, [fd00::/8]:*), an absolute unix socket path
// (/run/app.sock, checked where it leads in the program's view) or an
// abstract unix name (@name). Host names are not accepted: the policy
// checks addresses. Spaces around items are ignored, and an empty item is
// an error. Each flag may be repeated. Either list turns the policy on:
// every other address gets EACCES, and so do raw and packet sockets.
//
// A policy file has the same lists in "network", at the top level and in
// each entry of "containers" (a container's addresses are added to the
// top level's). Each array item is one address:
//
//	{"network": {"connect": ["127.0.0.53:53"]},
//	 "containers": [{"match": {"id": "web-*"},
//	                 "network": {"connect": ["10.0.0.0/8:443"], "bind": ["0.0.0.0:8080"]}}]}
//
// As under a file policy, the calls the network policy decides (connect,
// bind, sendto, sendmsg, sendmmsg, socket, socketcall) are never let run
// by a rule: "allow" for one of them is an error; "trace" shows it with
// its answer; "deny" fails it by name. An agent needs a seccomp profile
// that notifies them (emulate.Network.Syscalls; setsockopt only matters
// for the options the policy refuses).
//
// # What a rule set decides
//
// Rules decide by system call name alone, which the caller cannot change
// between the decision and the call. Trace and allow answer Continue: the
// kernel runs the call after the supervisor looked at it, and pointed-to
// data (a path shown in a trace line) may have changed meanwhile. So the
// trace is a record of what was asked, not a proof of what was done; the
// denials are exact. A file policy decides by where a path leads, and a
// network policy by a socket address, and therefore never answer Continue
// on that decision: they carry the call out on what they checked, or
// refuse it.
package policy
