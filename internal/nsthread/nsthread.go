// Package nsthread runs functions on throwaway OS threads: threads locked to
// one goroutine that change their own kernel state for good (namespaces,
// root and working directory, credentials, a seccomp filter) and exit when
// the function returns, so that nothing they changed ever runs another
// goroutine.
//
// Run is the executor. The other functions each change the calling thread,
// and only it: call them only from a function that Run runs. They are thin
// wrappers around one system call each, with the checks that make the
// change safe to rely on.
package nsthread

import (
	"errors"
	"runtime"

	"golang.org/x/sys/unix"
)

// Run runs fn on an OS thread that is locked to it, is not the process's
// main thread, and exits when fn returns: the runtime never schedules
// another goroutine on it, and never reuses it. Run returns when fn has
// returned. A panic in fn is recovered on the thread and raised again in
// the caller's goroutine, so deferred recovery in the caller sees it.
//
// Why the main thread is special: a goroutine that locks its thread and
// starts from the main goroutine lands on the main thread (the runtime's
// M0) nearly every time, and when a locked goroutine exits on M0 the
// runtime cannot end that thread: it wedges it instead, keeping whatever
// state fn gave it (the process's /proc/<pid>/ns links and mountinfo then
// show the target's). Run detects M0 and moves fn to a nested goroutine,
// keeping M0 busy meanwhile so that goroutine gets a thread of its own.
//
// fn must not unlock its thread with more runtime.UnlockOSThread calls
// than it made runtime.LockOSThread calls. Run locks the thread again when
// fn returns, so that it still exits; if the goroutine ran on another
// thread in between, the changed thread may already have run other
// goroutines, and Run panics.
//
// Children that fn (or anything running on its thread) starts with
// SysProcAttr.Pdeathsig get that signal when the thread exits, which is
// right after fn returns (golang/go#27505).
func Run(fn func()) {
	done := make(chan any, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// This goroutine holds the main thread. Keep it locked here, so
			// the goroutine below cannot be scheduled onto it, and release
			// it once that one is done.
			inner := make(chan any, 1)
			go func() {
				runtime.LockOSThread()
				// No UnlockOSThread: the thread exits with the goroutine.
				run(fn, inner)
			}()
			v := <-inner
			runtime.UnlockOSThread()
			done <- v
			return
		}
		// No UnlockOSThread: the thread exits with the goroutine.
		run(fn, done)
	}()
	if v := <-done; v != nil {
		panic(v)
	}
}

// run calls fn and sends nil, or what fn panicked with, on c; also when fn
// ends its goroutine with runtime.Goexit. The caller has locked the
// goroutine to its thread.
func run(fn func(), c chan<- any) {
	tid := unix.Gettid()
	var v any
	defer func() { c <- v }()
	defer func() {
		// fn may have unlocked the thread (runtime.UnlockOSThread with no
		// LockOSThread of its own): lock it again, so that it still ends
		// with this goroutine. If the goroutine moved meanwhile, the
		// thread fn changed is back in the runtime's pool, beyond repair:
		// say so loudly.
		runtime.LockOSThread()
		if unix.Gettid() != tid && v == nil {
			v = errUnlocked
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			v = r
		}
	}()
	fn()
}

// errUnlocked is what Run panics with when fn unlocked its thread and then
// ran on another one.
var errUnlocked = errors.New("nsthread: fn unlocked its OS thread (runtime.UnlockOSThread) and moved off it: the thread it changed may run other goroutines")
