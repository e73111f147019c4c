package seccompstream

// TargetPidfdNamesThread reports whether t's pidfd names the target thread
// itself (and not its thread-group leader).
func TargetPidfdNamesThread(t *Target) bool { return t.pidfdThread }

// TargetUseNSFiles makes Do join t's namespaces one at a time through
// /proc/<tid>/ns, as it does when the pidfd names the leader.
func TargetUseNSFiles(t *Target) { t.pidfdThread = false }

// ParseStatus is parseStatus, for tests.
func ParseStatus(b []byte) (*Creds, error) { return parseStatus(b) }

// SetTestHookCreate makes Open call hook between the lookup that found no
// file and the creation (nil: no hook).
func SetTestHookCreate(hook func()) { testHookCreate = hook }
