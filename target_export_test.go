package seccompstream

// TargetPidfdNamesThread reports whether t's pidfd names the target thread
// itself (and not its thread-group leader).
// It opens the pidfd (on first use, as GetFD and Do do).
func TargetPidfdNamesThread(t *Target) bool {
	_, thread, _ := t.pidfdFD()
	return thread
}

// TargetUseNSFiles makes Do join t's namespaces one at a time through
// /proc/<tid>/ns, as it does when the pidfd names the leader.
func TargetUseNSFiles(t *Target) {
	t.pidfdFD()
	t.lazyMu.Lock()
	t.pidfdThread = false
	t.lazyMu.Unlock()
}

// TargetOpened reports which of the descriptors a Target opens on first
// use it has open: its working directory and its pidfd.
func TargetOpened(t *Target) (cwd, pidfd bool) {
	t.lazyMu.Lock()
	defer t.lazyMu.Unlock()
	return t.cwd >= 0, t.pidfdOpened
}

// ParseStatus is parseStatus, for tests.
func ParseStatus(b []byte) (*Creds, error) { return parseStatus(b) }

// SetTestHookCreate makes Open call hook between the lookup that found no
// file and the creation (nil: no hook).
func SetTestHookCreate(hook func()) { testHookCreate = hook }

// TargetActing returns how many threads are marked as acting for t.
func TargetActing(t *Target) int {
	t.actMu.Lock()
	defer t.actMu.Unlock()
	return len(t.acting)
}
