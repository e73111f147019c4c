// Package launcher is the child side of seccompstream.Start, and the wire
// format between it and the parent: a re-executed copy of the program that
// installs a seccomp filter on itself and executes the real program, with
// nothing but that execve under the filter.
//
// # How Start works
//
// Go has no hook between fork and exec, so Start re-executes the running
// binary (/proc/self/exe) as a launcher, marked by the environment variable
// Env, through cmd.Start itself: cmd.Process, cmd.Wait, Stdin, Stdout,
// Stderr, Dir, ExtraFiles, SysProcAttr and Cancel all behave as usual. The
// root package's init function sees Env and calls Run, which never returns
// to the program's main:
//
//  1. Run reads its Config (program path, environment, BPF program, flags)
//     from a SOCK_SEQPACKET socket it inherits right after cmd.ExtraFiles,
//     checks that the program can be executed, builds argv and envp, turns
//     garbage collection off, makes sure GOMAXPROCS >= 2 and starts a
//     helper goroutine locked to its own, unfiltered, thread. The launcher
//     runs with GODEBUG=asyncpreemptoff=1 (the program gets its own
//     environment back).
//  2. On the main thread it sets no_new_privs and installs the filter with
//     a raw seccomp(2) call (NEW_LISTENER, and WAIT_KILLABLE_RECV when the
//     Config asks; no TSYNC: only this thread is filtered). The listener is
//     close-on-exec.
//  3. The thread publishes the listener number in memory (no system call)
//     and makes a raw execveat(2) call with a random marker in the upper
//     half of the dirfd argument. The kernel reads dirfd as an int, so the
//     marker changes nothing for the call, but the filter Start installs
//     begins with Prefix, which notifies exactly this call: it is the
//     boundary between launcher and program.
//  4. The helper sends the listener to the parent with SCM_RIGHTS (a
//     MsgListener message; so neither pidfd_getfd, Linux 5.6, nor ptrace
//     permission is needed) and closes its copy. It then polls, with raw
//     nanosleep calls, for a failed execveat, which it reports (MsgError)
//     before ending the process.
//  5. The parent answers every notification from the launcher with
//     Continue (whatever the filter notifies), answers the marked execveat
//     (IsRelease) with Continue, and waits for the socket to close, which
//     happens when the exec succeeds (close-on-exec) before the program
//     runs. Only then does Start return the Stream, so the user sees
//     nothing from the launcher.
//
// # No system call after the install
//
// Once the filter is on, the filtered thread makes no system call but the
// marked execveat, and no signal reaches it. This is what lets a filter
// that denies or notifies any call at all (a default action of Notify
// included) start a program without trapping the launcher: nobody could
// answer a notified futex of the launcher's own runtime, and a denied one
// would break it. The rules that keep it so, in this package and in
// internal/unotify/launch.go:
//
//   - The install and the execveat are one raw sequence
//     (unotify.InstallAndExecveat): no runtime bookkeeping runs around
//     either call, since that can block in a futex.
//   - The thread only stores to memory afterwards (the listener number, a
//     failed execveat's errno), with plain stores the race detector does
//     not see (unotify.RacyInt32): under -race, sync/atomic goes through
//     the race runtime, whose locks can wait on a futex. The unfiltered
//     helper thread does every system call: sendmsg, close, nanosleep, the
//     report of a failure. It waits with raw nanosleep, not with the
//     runtime's timers, which could need the filtered thread's P.
//   - Everything after the install runs in one function
//     (unotify.InstallAndExecveat) that the race detector does not
//     instrument (go:norace) and whose calls have no stack-check prologue
//     (go:nosplit): no race-runtime code runs on the filtered thread, and
//     the goroutine cannot be preempted there, which would take it
//     through the scheduler and its futex calls before the listener is
//     published.
//   - The goroutine's stack is grown before the install, so no call after
//     it needs stack growth (which can allocate and make system calls).
//   - Nothing signals the thread: the launcher runs with asynchronous
//     preemption off and garbage collection off, so the runtime's monitor
//     sends it no preemption signal. So the notification of the execveat is
//     never interrupted, and the parent's Continue cannot be lost to a
//     restarted call, even on kernels without WAIT_KILLABLE_RECV.
//   - A failed execveat leaves the thread spinning in that same function,
//     without a preemption point; the helper reports the errno and ends
//     the process.
//
// Raw system calls and unsafe code stay in internal/unotify; this package
// only decides their order.
package launcher
