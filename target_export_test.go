package seccompstream

// TargetPidfdNamesThread reports whether t's pidfd names the target thread
// itself (and not its thread-group leader).
func TargetPidfdNamesThread(t *Target) bool { return t.pidfdThread }
