// Package seccompstream receives and answers the system calls that a
// seccomp filter hands to user space (SECCOMP_RET_USER_NOTIF).
//
// A process runs under a seccomp filter whose rules mark some calls
// "notify". Each such call stops and waits until a supervisor, holding the
// filter's listener file descriptor, receives it as a Notification, looks at
// it (arguments, the target's memory) and answers it exactly once: with a
// return value (Return), an error (Errno, Error), or by letting the kernel run
// the call (Continue).
//
// A Stream wraps a listener fd. An idle Stream's Receive waits in the Go
// runtime's network poller, holding no OS thread, and a busy one's in the
// kernel on its own thread for up to a millisecond after its last call
// (see Stream); either way it honours context.Context. The stream ends
// with io.EOF once no process can notify again. Respond answers; a target
// that died or was interrupted while its call waited makes Respond fail
// with ErrGone, which is normal and not a failure of the Stream.
//
//	s, err := seccompstream.New(listenerFD)
//	if err != nil { ... }
//	defer s.Close()
//	for n, err := range s.All(ctx) {
//		if err != nil { ... }
//		if n.SyscallName() == "mkdir" {
//			err = s.Respond(n, seccompstream.Errno(unix.EACCES))
//		} else {
//			err = s.Respond(n, seccompstream.Continue())
//		}
//		if err != nil && !errors.Is(err, seccompstream.ErrGone) { ... }
//	}
//
// Around the Stream:
//
//   - Start runs an exec.Cmd under a filter built with package filter and
//     returns the Stream for it and its descendants.
//   - Serve answers notifications with a Handler, concurrently, exactly once
//     each, whatever the handler does (panics, ignores cancellation); Mux
//     routes by system call name; Group serves many Streams at once; Stats
//     counts what happened.
//   - OpenMemory and ReadString read the target's memory, checking after
//     every read that the notification is still valid; ResolvePath,
//     ReadSockaddr and ReadValue decode common argument shapes.
//   - AddFD and RespondFD install a file descriptor in the target.
//
// # Safety
//
// Seccomp user notification is not a security boundary on its own. Between
// the moment a supervisor reads the target's memory and the moment the kernel
// runs a call answered with Continue, another thread of the target can change
// that memory (a time-of-check to time-of-use race). Decide from register
// arguments, or emulate the call yourself and answer with its result.
//
// # Kernel requirements
//
// Linux 5.0 for the basic Stream. Newer features are probed at run time (see
// KernelFeatures) and each option says what it needs and what happens
// without it.
package seccompstream
