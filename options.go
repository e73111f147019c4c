package seccompstream

import "github.com/seccompstream/seccompstream/internal/kernel"

// Features lists the optional kernel features; see KernelFeatures.
type Features = kernel.Features

// Option configures a Stream; pass options to New. Options only record
// choices: New validates them together and acts on them.
type Option func(*streamConfig)

type streamConfig struct {
	syncWakeup   bool
	dedicated    bool
	waitKillable waitKillable // Start only: WithWaitKillableRecv
}

// WithSyncWakeup asks the kernel to wake the target on the CPU that answered
// it (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6), which shortens a round
// trip when supervisor and target alternate (BENCHMARKS.md). It does not
// fall back: on older kernels New fails with an error matching
// ErrNotSupported that names the flag and Linux 6.6. Check KernelFeatures
// first to make it conditional. Default: off.
func WithSyncWakeup() Option { return func(c *streamConfig) { c.syncWakeup = true } }

// WithDedicatedThread makes Receive always wait on the calling
// goroutine's OS thread, never in the runtime's network poller, however
// long it waits: while notifications come in quick succession in RECV
// itself, as a hot Stream does (see Stream), and after a millisecond
// without one in a blocking ppoll(2) on the listener and on an eventfd
// that cancellation and Close write to. That costs one OS thread per
// waiting Receive, and none of the limits of the hot wait apply: use it
// for a few busy listeners, not for thousands of idle ones. The Stream
// holds two more file descriptors (the eventfd, and once busy a second
// descriptor of the listener).
// Default: off (hot when busy, the network poller when idle).
func WithDedicatedThread() Option { return func(c *streamConfig) { c.dedicated = true } }

// KernelFeatures reports the optional seccomp user-notification features of
// the running kernel, found by trying each one (the result is cached). It
// creates a listener on a short-lived thread for that and leaves no filter
// behind.
func KernelFeatures() (Features, error) { return kernel.Probe() }
