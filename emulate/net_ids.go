package emulate

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/nsthread"
)

// Unix sockets carry the credentials of the thread that makes the call:
// connect records them for the server's SO_PEERCRED (the effective uid and
// gid, the groups for SO_PEERGROUPS, the thread group for SO_PEERPIDFD),
// and every message a SO_PASSCRED receiver reads is stamped with the
// sender's pid and real uid and gid. A connect or send done on a thread
// with only the caller's file-system ids would show the supervisor's
// (root's) ids to the server: a program could then pass for root to any
// daemon the policy lets it reach. So those calls run on a thread with
// all of the caller's ids (asCaller). The process id cannot be lent: the
// server sees the supervisor's pid (documented).

// asCaller runs fn with all of the caller's user and group ids (real,
// effective, saved and file-system), its supplementary groups and the
// capabilities it holds in the supervisor's user namespace, and, with
// umask set, its umask: on the calling thread when that has them already
// (a root caller of a root supervisor; the goroutine is locked to the
// thread meanwhile), else on a throwaway thread that takes them. The
// notification is checked after fn: ErrGone when it is no longer pending.
func (c *netCall) asCaller(umask bool, fn func() error) error {
	t, err := c.target()
	if err != nil {
		return err
	}
	cr, err := t.Creds()
	if err != nil {
		return err
	}
	if !umask && threadHasIDs(&cr) {
		if err := locked(fn); err != nil {
			return err
		}
	} else {
		var ferr error
		nsthread.Run(func() {
			if ferr = takeIDs(&cr, umask); ferr == nil {
				ferr = fn()
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	if !c.n.Valid() {
		return seccompstream.ErrGone
	}
	return nil
}

// threadHasIDs reports whether the calling thread has all of cr's ids,
// groups and capabilities already.
func threadHasIDs(cr *seccompstream.Creds) bool {
	r, e, s := unix.Getresuid()
	if uint32(r) != cr.UID || uint32(e) != cr.EUID || uint32(s) != cr.SUID {
		return false
	}
	r, e, s = unix.Getresgid()
	if uint32(r) != cr.GID || uint32(e) != cr.EGID || uint32(s) != cr.SGID {
		return false
	}
	have, err := nsthread.ThreadCreds()
	return err == nil && have.FSUID == cr.FSUID && have.FSGID == cr.FSGID &&
		nsthread.SameGroups(have.Groups, cr.Groups) && have.Caps == uint64(cr.CapsInSupervisorNS())
}

// takeIDs gives the calling throwaway thread cr's ids: groups and group
// ids first (setting them needs CAP_SETGID, which a uid change away from
// 0 drops), then the user ids, then file-system ids, umask and
// capabilities (nsthread.SetCreds, which reads everything back).
func takeIDs(cr *seccompstream.Creds, umask bool) error {
	if err := nsthread.UnshareFS(); err != nil {
		return err
	}
	gs := make([]int, len(cr.Groups))
	for i, g := range cr.Groups {
		gs[i] = int(g)
	}
	// unix.Setgroups is the raw call: this thread only.
	if err := unix.Setgroups(gs); err != nil {
		return fmt.Errorf("emulate: setgroups: %w", err)
	}
	if _, _, e := unix.RawSyscall(sysSetresgid, uintptr(cr.GID), uintptr(cr.EGID), uintptr(cr.SGID)); e != 0 {
		return fmt.Errorf("emulate: setresgid(%d, %d, %d): %w", cr.GID, cr.EGID, cr.SGID, e)
	}
	if _, _, e := unix.RawSyscall(sysSetresuid, uintptr(cr.UID), uintptr(cr.EUID), uintptr(cr.SUID)); e != 0 {
		return fmt.Errorf("emulate: setresuid(%d, %d, %d): %w", cr.UID, cr.EUID, cr.SUID, e)
	}
	m := -1
	if umask {
		m = int(cr.Umask)
	}
	want := nsthread.Creds{FSUID: cr.FSUID, FSGID: cr.FSGID, Groups: cr.Groups, Caps: uint64(cr.CapsInSupervisorNS())}
	if err := nsthread.SetCreds(want, m, false); err != nil {
		return fmt.Errorf("emulate: %w", err)
	}
	r, e, s := unix.Getresuid()
	rg, eg, sg := unix.Getresgid()
	if uint32(r) != cr.UID || uint32(e) != cr.EUID || uint32(s) != cr.SUID || uint32(rg) != cr.GID || uint32(eg) != cr.EGID || uint32(sg) != cr.SGID {
		return fmt.Errorf("emulate: thread ids are %d/%d/%d %d/%d/%d after setting %d/%d/%d %d/%d/%d: %w",
			r, e, s, rg, eg, sg, cr.UID, cr.EUID, cr.SUID, cr.GID, cr.EGID, cr.SGID, unix.EPERM)
	}
	return nil
}
