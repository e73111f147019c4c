package seccompstream

// Test seams, visible to the external test package only.

// ForceProcMem makes m read through /proc/<tid>/mem instead of
// process_vm_readv, as it does where process_vm_readv is unavailable.
func ForceProcMem(m *Memory) { m.procOnly.Store(true) }
