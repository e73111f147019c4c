// Package agent is an OCI seccomp agent: it receives the seccomp listeners
// that container runtimes hand over through linux.seccomp.listenerPath and
// serves each with a seccompstream.Handler.
//
// A container whose config.json marks some system calls SCMP_ACT_NOTIFY and
// names a listenerPath makes its runtime (runc 1.1 and later, crun 0.19 and
// later) connect to that unix socket once per container process (the init
// process, status "creating", and each "runc exec", status "running") and
// send the container process state as JSON with the listener as SCM_RIGHTS.
// A Server accepts those connections concurrently, reads each message to
// its end (it may come in several parts; runc 1.1 leaves the connection
// open, so a complete JSON object ends it too) within a size limit and a
// deadline, parses it into the runtime-spec's ContainerProcessState,
// closes every descriptor but "seccompFd", and hands the container to
// NewHandler, which picks a Handler from its annotations or metadata:
//
//	ln, err := agent.Listen("/run/seccomp-agent.sock")
//	if err != nil { ... }
//	err = agent.Serve(ctx, ln, func(c *agent.Container) seccompstream.Handler {
//		if c.Annotations()["org.example.sandbox"] == "off" {
//			return nil // refuse: its notified calls fail with ENOSYS
//		}
//		return seccompstream.HandlerFunc(func(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
//			return seccompstream.Errno(unix.EACCES)
//		})
//	})
//
// A bad message (no descriptor, "seccompFd" missing or named twice,
// descriptors without names, malformed JSON, too large, a runtime that
// stalls) is logged with the reason, its descriptors are closed, and the
// Server goes on serving. A container's work ends with its stream: when
// every process that used its filter has exited, the Stream reaches EOF,
// Container.Context is cancelled and the listener is closed. When the
// Server's context ends, every call in a handler is answered, every
// listener closed, and Serve returns; from then on the kernel fails the
// containers' notified calls with ENOSYS, as it does when the agent dies.
//
// Only trusted peers are served. Listen creates the socket file 0600
// (SocketMode and SocketGroup widen it on purpose), with no moment at which
// it is wider, and the Server checks each connection's SO_PEERCRED uid
// against AllowUIDs (default: its own) before it reads anything; a refused
// peer's connection is closed unread, which closes the descriptors it
// sent. MaxPending and MaxPendingPerPeer bound the connections being read,
// so that idle or slow connections cannot keep a runtime out.
//
// Each Container has an Identity: its Kubernetes pod, namespace and
// container name from the annotations containerd and CRI-O write, and the
// KEY=VALUE lines of its listenerMetadata. Log records about a container
// carry it; Hooks report connections, decisions and errors for metrics.
// InterceptRules gives the seccomp rules, with their register prefilter,
// for the calls container managers commonly intercept (mknod of devices,
// sysinfo).
//
// PolicyHandler serves containers by a policy file (package policy: rules
// by system call name, per container by id, annotations or metadata), as
// "seccomp-stream agent --policy FILE" does.
package agent
