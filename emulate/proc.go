package emulate

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/procstatus"
)

// /proc/self and /proc/thread-self
//
// The kernel resolves "self" in a procfs root to the pid of the task doing
// the lookup: when the supervisor resolves a path of the caller, that is
// the supervisor, whose own /proc files Target refuses to open for
// anybody. So a path of the caller that starts with /proc/self or
// /proc/thread-self is rewritten first to the caller's own directory, as
// the kernel would have resolved it for the caller: /proc/<tgid> and
// /proc/<tgid>/task/<tid>, with the ids the caller has in the pid
// namespace of the procfs mounted at its /proc. The rest of the path is
// then resolved and checked like any other (the policy must allow
// /proc, or the caller's directory there). Only that leading form is
// rewritten: "self" reached otherwise (a symbolic link on the way, such
// as /dev/fd) still leads to the supervisor and is refused.

// selfPath returns p with a leading /proc/self or /proc/thread-self
// replaced by the caller's own /proc directory, or p unchanged (and
// false) when it has no such prefix, when the caller's /proc is not the
// root of a procfs, or when the caller's ids there cannot be told.
func (c *call) selfPath(p string) (string, bool) {
	rest, thread, ok := cutSelf(p)
	if !ok {
		return p, false
	}
	dir, ok := c.ownProcDir(thread)
	if !ok {
		return p, false
	}
	return "/proc/" + dir + rest, true
}

// cutSelf splits "/proc/self/REST" and "/proc/thread-self/REST" (with any
// number of slashes between the parts) into "/REST" (or "" when nothing
// follows) and whether it was thread-self.
func cutSelf(p string) (rest string, thread, ok bool) {
	s, ok := strings.CutPrefix(p, "/")
	if !ok {
		return "", false, false
	}
	s = strings.TrimLeft(s, "/")
	s, ok = strings.CutPrefix(s, "proc/")
	if !ok {
		return "", false, false
	}
	s = strings.TrimLeft(s, "/")
	name, after, _ := strings.Cut(s, "/")
	switch name {
	case "self":
	case "thread-self":
		thread = true
	default:
		return "", false, false
	}
	if after != "" || strings.HasSuffix(s, "/") {
		rest = "/" + after
	}
	return rest, thread, true
}

// ownProcDir returns the name of the caller's directory below its /proc
// ("<tgid>", or "<tgid>/task/<tid>" with thread), in the pid namespace
// of that procfs: the supervisor's ids of the caller when the supervisor
// has a pid there, else its ids in its own (innermost) namespace, checked
// to name the same process by its start time.
func (c *call) ownProcDir(thread bool) (string, bool) {
	t, err := c.target()
	if err != nil {
		return "", false
	}
	procfs, err := t.Open(unix.AT_FDCWD, "/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", false
	}
	defer procfs.Close()
	var innermost bool
	err = withFD(procfs, func(fd int) error {
		var sf unix.Statfs_t
		var st unix.Stat_t
		if unix.Fstatfs(fd, &sf) != nil || sf.Type != unix.PROC_SUPER_MAGIC || unix.Fstat(fd, &st) != nil || st.Ino != 1 {
			return unix.ENOENT
		}
		// "self" there is the supervisor's pid in that procfs's pid
		// namespace, or missing if it has none (a namespace below ours).
		buf := make([]byte, 32)
		n, err := unix.Readlinkat(fd, "self", buf)
		switch {
		case err == unix.ENOENT:
			innermost = true
		case err != nil:
			return err
		case string(buf[:n]) != strconv.Itoa(os.Getpid()):
			return unix.ENOENT // a namespace above ours: not served
		}
		return nil
	})
	if err != nil {
		return "", false
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(c.n.PID) + "/status")
	if err != nil || !c.n.Valid() {
		return "", false
	}
	tgids, pids := statusIDs(status, "NStgid:"), statusIDs(status, "NSpid:")
	if len(tgids) == 0 || len(tgids) != len(pids) {
		// Before Linux 4.1 there are no NS lines: one namespace.
		tgids, pids = statusIDs(status, "Tgid:"), []string{strconv.Itoa(c.n.PID)}
		if innermost || len(tgids) != 1 {
			return "", false
		}
	}
	tgid, tid := tgids[0], pids[0]
	if innermost {
		tgid, tid = tgids[len(tgids)-1], pids[len(pids)-1]
		if !c.sameStart(t, tgid, tid) {
			return "", false
		}
	}
	if thread {
		return tgid + "/task/" + tid, true
	}
	return tgid, true
}

// sameStart reports whether /proc/<tgid>/task/<tid> of the caller's view
// is the caller: its start time is the one the supervisor's /proc gives.
func (c *call) sameStart(t *seccompstream.Target, tgid, tid string) bool {
	theirs, err := t.Open(unix.AT_FDCWD, "/proc/"+tgid+"/task/"+tid+"/stat", unix.O_RDONLY, 0)
	if err != nil {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(theirs, 4096))
	theirs.Close()
	if err != nil {
		return false
	}
	ours, err := os.ReadFile("/proc/" + strconv.Itoa(c.n.PID) + "/stat")
	if err != nil {
		return false
	}
	a, aok := procstatus.StartTime(b)
	o, ook := procstatus.StartTime(ours)
	return aok && ook && a == o && c.n.Valid()
}

// statusIDs returns the values of a /proc/<pid>/status line.
func statusIDs(status []byte, key string) []string {
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			return strings.Fields(string(v))
		}
	}
	return nil
}
