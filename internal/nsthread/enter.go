package nsthread

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// UnshareFS gives the calling thread its own root, working directory and
// umask (unshare(CLONE_FS)). Without it, Chroot, a working directory change
// or a umask would change the whole process, and setns into a mount
// namespace fails with EINVAL.
func UnshareFS() error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare(CLONE_FS): %w", err)
	}
	return nil
}

// JoinPidfd moves the calling thread into the namespaces of the task that
// pidfd names, of the kinds in nstypes (CLONE_NEW* flags), all at once
// (setns(2) with a pidfd, Linux 5.8). The error is setns's errno, unwrapped
// (EINVAL before 5.8, ESRCH when the task is gone), so callers can fall
// back to Join.
func JoinPidfd(pidfd, nstypes int) error {
	return unix.Setns(pidfd, nstypes)
}

// Join moves the calling thread into the namespace nsfd names (a
// /proc/<tid>/ns/* file); nstype is its CLONE_NEW* kind. It returns setns's
// errno unwrapped.
func Join(nsfd, nstype int) error {
	return unix.Setns(nsfd, nstype)
}

// Chroot makes the directory root the calling thread's root directory and
// cwd its working directory (fchdir(root); chroot("."); fchdir(cwd)). Both
// are directory file descriptors opened before any setns: after a mount
// namespace change, paths such as /proc/<pid>/root resolve in the new
// namespace, which is why descriptors are used and not names. Call
// UnshareFS first, or the whole process changes root.
func Chroot(root, cwd int) error {
	if err := unix.Fchdir(root); err != nil {
		return fmt.Errorf("fchdir(root): %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Fchdir(cwd); err != nil {
		return fmt.Errorf("fchdir(cwd): %w", err)
	}
	return nil
}

// Creds are the credentials the kernel checks when a thread works with
// files: what SetCreds gives a thread and ThreadCreds reports.
type Creds struct {
	FSUID, FSGID uint32
	Groups       []uint32
	// Caps is the effective capability set (bit n: capability n).
	Caps uint64
}

// SetCreds gives the calling thread c's file-system uid and gid,
// supplementary groups and capabilities (effective and permitted; the
// inheritable set is cleared), in that order: a change of fsuid away from 0
// clears the file-system capabilities, so capset comes last. Capabilities
// the thread does not hold in its permitted set are left out: the result
// never has more than the thread had. umask, when not negative, becomes the
// thread's umask (it belongs to the thread only after UnshareFS). With
// noNewPrivs the thread gets no_new_privs, which matters only to programs
// it executes.
//
// Every change is read back and checked: a silent failure (setfsuid
// reports none) is an error, never a thread left with the supervisor's
// credentials. Any change of fsuid makes the whole process non-dumpable
// (the kernel's rule for credential changes; it stays so).
func SetCreds(c Creds, umask int, noNewPrivs bool) error {
	cur, err := ThreadCreds()
	if err != nil {
		return err
	}
	if umask >= 0 {
		unix.Umask(umask)
	}
	if !SameGroups(cur.Groups, c.Groups) {
		gs := make([]int, len(c.Groups))
		for i, g := range c.Groups {
			gs[i] = int(g)
		}
		// unix.Setgroups is the raw system call: it changes this thread
		// only (syscall.Setgroups changes every thread of the process).
		if err := unix.Setgroups(gs); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
	}
	if cur.FSGID != c.FSGID {
		if _, err := unix.SetfsgidRetGid(int(c.FSGID)); err != nil {
			return fmt.Errorf("setfsgid(%d): %w", c.FSGID, err)
		}
	}
	if cur.FSUID != c.FSUID {
		if _, err := unix.SetfsuidRetUid(int(c.FSUID)); err != nil {
			return fmt.Errorf("setfsuid(%d): %w", c.FSUID, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	permitted := uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	want := c.Caps & permitted
	data[0] = unix.CapUserData{Effective: uint32(want), Permitted: uint32(want)}
	data[1] = unix.CapUserData{Effective: uint32(want >> 32), Permitted: uint32(want >> 32)}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset(%#x): %w", want, err)
	}
	if noNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
		}
	}
	got, err := ThreadCreds()
	if err != nil {
		return err
	}
	if got.FSUID != c.FSUID || got.FSGID != c.FSGID || !SameGroups(got.Groups, c.Groups) || got.Caps != want {
		return fmt.Errorf("thread credentials are fsuid %d fsgid %d groups %v caps %#x after setting fsuid %d fsgid %d groups %v caps %#x: %w",
			got.FSUID, got.FSGID, got.Groups, got.Caps, c.FSUID, c.FSGID, c.Groups, want, unix.EPERM)
	}
	return nil
}

// ThreadCreds reads the calling thread's file-system uid and gid,
// supplementary groups and effective capabilities.
func ThreadCreds() (Creds, error) {
	var c Creds
	// setfsuid(-1) changes nothing and returns the current value.
	uid, _ := unix.SetfsuidRetUid(-1)
	gid, _ := unix.SetfsgidRetGid(-1)
	c.FSUID, c.FSGID = uint32(uid), uint32(gid)
	gs, err := unix.Getgroups()
	if err != nil {
		return c, fmt.Errorf("getgroups: %w", err)
	}
	c.Groups = make([]uint32, len(gs))
	for i, g := range gs {
		c.Groups[i] = uint32(g)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return c, fmt.Errorf("capget: %w", err)
	}
	c.Caps = uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	return c, nil
}

// SameGroups reports whether a and b hold the same groups, in any order.
func SameGroups(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
