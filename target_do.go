package seccompstream

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/nsthread"
)

// The namespaces Do joins, in the order it joins them one by one when it
// cannot join them all at once. The mount namespace comes last: the
// others are reached through the supervisor's /proc.
var doNamespaces = []struct {
	name string
	kind int
}{
	{"net", unix.CLONE_NEWNET},
	{"uts", unix.CLONE_NEWUTS},
	{"ipc", unix.CLONE_NEWIPC},
	{"cgroup", unix.CLONE_NEWCGROUP},
	{"mnt", unix.CLONE_NEWNS},
}

const doNamespaceFlags = unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP | unix.CLONE_NEWNS

// Do runs fn on a fresh OS thread inside the target thread's mount, net,
// uts, ipc and cgroup namespaces, with its root and working directory, and
// with its file-system uid and gid, supplementary groups, umask,
// capabilities (those it holds in the supervisor's user namespace, see
// Target) and no_new_privs. The thread is never the process's main thread
// and is discarded when fn returns: nothing fn changes on it reaches any
// other goroutine. Do returns when fn has returned.
//
// Do joins the namespaces with one setns(2) on the Target's pidfd where
// that names the thread (Linux 5.8, and 6.9 for a thread that does not lead
// its process), else one setns per namespace through /proc/<tid>/ns: it
// always joins the thread's own namespaces, also when the thread unshared
// some. On the project's (busy, 2-CPU) test machine a Do costs a median of
// 40-65 µs with the pidfd and about 100 µs one namespace at a time, most of
// it making and ending the thread; Open costs 8-10 µs (no thread) to
// 40-90 µs (a thread for other credentials): prefer it for opening files.
//
// Only fn's goroutine is in the target's view: goroutines it starts run on
// other threads, in the supervisor's. fn must not unlock its thread
// (runtime.UnlockOSThread without a LockOSThread of its own). What fn
// changes in the target's namespaces (mounts, files, the hostname) the
// target sees. The thread keeps the supervisor's real and effective uid
// and gid: what the kernel checks against those (signals fn sends, ...)
// sees the supervisor. Name lookups of the net package use the
// supervisor's resolver configuration, read once per process.
//
// Programs fn starts (os/exec) run in the thread's namespaces and root,
// but not with the target's credentials: execve sets the file-system ids
// to the effective ones, the supervisor's, and gives a program run by
// root the capabilities of the bounding set (only those the thread holds,
// none for an unprivileged target, when the target has no_new_privs; its
// uid 0 still owns root's files). A program started from fn acts as the
// supervisor inside the target's view: never run one of the target's
// files that way, and drop privileges explicitly (SysProcAttr.Credential)
// for a program that acts on the target's behalf. Children started with
// SysProcAttr.Pdeathsig get that signal as soon as fn returns and the
// thread exits (golang/go#27505).
//
// Inside fn, "/" and /proc are the target's: call the Notification
// methods that open the supervisor's /proc by path (Target, OpenMemory,
// ReadString, ResolvePath, OpenDir, OpenRoot, GetFD, OpenPidfd) before Do,
// not inside fn, where they would find a process of the target's pid
// namespace; the Target's own methods work there.
//
// The user namespace is never joined: a multithreaded process cannot. For
// a target in a child user namespace (a rootless container) fn therefore
// runs in the container's namespaces with the target's ids as the
// supervisor's user namespace sees them and with no capability: it can
// read and write what those ids may, but cannot mount, create device nodes
// or override permissions, even where the target, root in its namespace,
// could.
//
// Opening paths inside fn resolves them as the kernel does for a chrooted
// process: a rename racing the lookup can lead out of a chroot, and magic
// links lead anywhere. Use (*Target).Open to open the target's files; it is
// safe under those races, and called inside fn it opens on fn's thread.
//
// When ctx is done before fn starts, Do returns ctx.Err() and fn never
// runs; ctx does not stop fn (pass it in fn's closure for that). fn does
// not run either when the notification is no longer pending by then
// (ErrGone). Do returns fn's error; when fn succeeded it checks the
// notification once more and returns ErrGone if the target is gone (fn's
// effects stay). A panic in fn is raised again in the caller of Do.
func (t *Target) Do(ctx context.Context, fn func() error) error {
	return t.do(ctx, true, fn)
}

// DoWithCreds runs fn on a fresh OS thread with the target thread's
// file-system uid and gid, supplementary groups, umask, capabilities (those
// it holds in the supervisor's user namespace) and no_new_privs, as Do
// does, but joins no namespace: fn runs in the supervisor's namespaces,
// with the supervisor's root and working directory. It is the cheap way to
// make calls that the kernel checks against the caller's credentials on
// descriptors that already lead into the target's view (the Dir of a
// Parent from OpenParent, a file from Open or GetFD), for example mkdirat,
// unlinkat or fchownat on a checked parent directory. Open and OpenParent
// called inside fn run on fn's thread. ctx, errors, panics and the thread
// are as for Do.
func (t *Target) DoWithCreds(ctx context.Context, fn func() error) error {
	return t.do(ctx, false, fn)
}

func (t *Target) do(ctx context.Context, enter bool, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.acquire(); err != nil {
		return err
	}
	defer t.release()
	c, err := t.credentials()
	if err != nil {
		return err
	}
	want := nsthread.Creds{FSUID: c.FSUID, FSGID: c.FSGID, Groups: c.Groups, Caps: uint64(c.CapsInSupervisorNS())}
	var setupErr, fnErr error
	ran := false
	nsthread.Run(func() {
		setupErr = t.enter(enter, want, c)
		if setupErr != nil {
			return
		}
		if setupErr = ctx.Err(); setupErr != nil {
			return
		}
		if setupErr = t.valid(); setupErr != nil {
			return
		}
		ran = true
		fnErr = fn()
	})
	if !ran {
		if setupErr == ctx.Err() {
			return setupErr
		}
		if verr := t.valid(); verr != nil {
			return verr
		}
		return setupErr
	}
	if fnErr != nil {
		return fnErr
	}
	return t.valid()
}

// enter gives the calling (throwaway) thread the target's view: its
// namespaces, root and working directory when ns is set, and its
// credentials.
func (t *Target) enter(ns bool, want nsthread.Creds, c *Creds) error {
	if err := nsthread.UnshareFS(); err != nil {
		return fmt.Errorf("seccompstream: Do as target %d: %w", t.tid, err)
	}
	if ns {
		if err := t.join(); err != nil {
			return err
		}
		if err := nsthread.Chroot(t.root, t.cwd); err != nil {
			return fmt.Errorf("seccompstream: Do as target %d: %w", t.tid, err)
		}
	}
	if err := nsthread.SetCreds(want, int(c.Umask), c.NoNewPrivs); err != nil {
		return fmt.Errorf("seccompstream: Do as target %d: %w", t.tid, err)
	}
	return nil
}

// join moves the calling thread into the target thread's namespaces.
func (t *Target) join() error {
	if t.pidfd >= 0 && t.pidfdThread {
		err := nsthread.JoinPidfd(t.pidfd, doNamespaceFlags)
		switch err {
		case nil:
			return nil
		case unix.ESRCH:
			return ErrGone
		case unix.EINVAL:
			// Before Linux 5.8 setns takes no pidfd: one at a time.
		default:
			return fmt.Errorf("seccompstream: Do as target %d: setns(pidfd): %w", t.tid, err)
		}
	}
	for _, ns := range doNamespaces {
		fd, err := openRetry(t.procDir, "ns/"+ns.name, unix.O_RDONLY|unix.O_CLOEXEC)
		if err != nil {
			if err == unix.ENOENT && t.valid() == nil {
				continue // a kernel without this kind of namespace
			}
			return fmt.Errorf("seccompstream: Do as target %d: open /proc/%d/ns/%s: %w", t.tid, t.tid, ns.name, err)
		}
		err = nsthread.Join(fd, ns.kind)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("seccompstream: Do as target %d: setns(%s): %w", t.tid, ns.name, err)
		}
	}
	return nil
}
