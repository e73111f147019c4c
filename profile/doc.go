// Package profile records, reads, combines and writes OCI seccomp profiles:
// the linux.seccomp object of an OCI config.json, which runc, crun,
// containerd, CRI-O, Podman, Docker and Kubernetes (Localhost profiles)
// load.
//
// A Profile is a set of system calls per architecture, each with a count
// of how often it was seen and, optionally, argument rules on its register
// arguments. A Recorder builds one from live notifications: serve a
// program's stream with it over a filter that notifies every call, and
// every call of every thread, child and ABI is in the result, since a
// notified call waits until it is answered and each one carries its
// architecture. No root and no eBPF are needed: no_new_privs is enough
// for a program to install the filter.
//
//	f := filter.New(filter.Notify)       // every call of the native ABI
//	s, err := seccompstream.Start(cmd, f) // ...
//	rec := profile.NewRecorder()
//	go cmd.Wait()
//	err = s.Serve(ctx, rec)               // answers Continue to everything
//	err = rec.Profile().WriteFile("ls.json")
//
// The written file denies everything it does not list with ENOSYS (see
// DefaultErrno for why not EPERM), lists the architectures that were
// seen, and allows the seen calls in one SCMP_ACT_ALLOW rule with the
// names sorted; the counts go in a side field ("seccompstream") that the
// runtimes ignore. The output is deterministic: the same calls and counts
// give the same bytes.
//
// A recording holds what the filter showed. Calls made before the filter
// was installed are not in it, and neither is the exec that starts the
// program under seccompstream.Start (Start answers it itself). A container
// runtime makes calls of its own between installing a container's filter
// and exec'ing its workload (execve, write, close, and for runc, a Go
// program, futex and rt_sigreturn at times): a profile for a container
// must allow those too. Base gives them for runc and crun, to merge into a
// recording of the bare program; recording through the agent shows them
// too, except write, which runc refuses to notify.
//
// WithArgRules makes a Recorder keep the values of a few scalar register
// arguments (socket families, personality, clone's namespace flags), so
// that the profile allows those calls with those values only; never what
// an argument points to.
//
// ReadFile and Parse read profiles back, and real-world ones too: OCI
// profiles, whole config.json files, and Docker's and containers-common's
// profile templates (archMap, includes/excludes). Errors name the file
// and the item; names that no architecture has are skipped with a warning,
// as runtimes skip them. Merge, Intersect and Diff combine profiles.
// ReadOCIFile gives a profile file as the runtime reads it, with all its
// actions, for code that enforces it.
package profile
