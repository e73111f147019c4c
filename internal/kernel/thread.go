package kernel

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// OnThrowawayThread runs fn on an OS thread that is locked to it, is not the
// process's main thread, and is destroyed when fn returns. Use it for
// anything that changes per-thread kernel state for good (a seccomp filter,
// no_new_privs): no other goroutine ever runs on that thread, and the
// runtime's main thread, which can never exit, is never the one changed.
// OnThrowawayThread returns when fn has returned.
func OnThrowawayThread(fn func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// This goroutine holds the main thread. Keep it locked here, so
			// the goroutine below cannot be scheduled onto it, and release
			// it once that one is done.
			inner := make(chan struct{})
			go func() {
				runtime.LockOSThread()
				// No UnlockOSThread: the thread exits with the goroutine.
				defer close(inner)
				fn()
			}()
			<-inner
			runtime.UnlockOSThread()
			close(done)
			return
		}
		// No UnlockOSThread: the thread exits with the goroutine.
		defer close(done)
		fn()
	}()
	<-done
}
