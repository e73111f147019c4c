package seccompstream

// SetStartWaitKillable turns Start's use of
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV on (the default, where the kernel
// has it) or off, and returns a function that restores the previous
// setting. Tests use it to exercise the fallback on new kernels.
func SetStartWaitKillable(on bool) (restore func()) {
	old := noWaitKillable.Swap(!on)
	return func() { noWaitKillable.Store(old) }
}
