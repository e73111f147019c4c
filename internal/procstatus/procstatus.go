// Package procstatus reads the "Key:\tvalue" lines of /proc/<pid>/status
// files (proc_pid_status(5)): the one reader the root package (Tgid,
// credentials) and the CLI (Seccomp, Seccomp_filters) share. It also
// splits the one line of /proc/<pid>/stat (proc_pid_stat(5)), whose start
// time emulate compares and sums up.
package procstatus

import (
	"bytes"
	"iter"
	"strconv"
	"strings"
)

// Lines yields the key (the text before the first colon) and the value,
// without surrounding blanks, of each line of b that has a colon. It does
// not allocate.
func Lines(b []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		for rest := b; len(rest) > 0; {
			line := rest
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				line, rest = rest[:i], rest[i+1:]
			} else {
				rest = nil
			}
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && !yield(k, bytes.TrimSpace(v)) {
				return
			}
		}
	}
}

// Field returns the value of the first line of b whose key is key,
// without surrounding blanks.
func Field(b []byte, key string) ([]byte, bool) {
	for k, v := range Lines(b) {
		if string(k) == key {
			return v, true
		}
	}
	return nil, false
}

// Int returns the value of the line whose key is key as a decimal
// number ("Tgid", "Threads", "Seccomp"), and false when there is no such
// line or its value is not a number.
func Int(b []byte, key string) (int, bool) {
	v, ok := Field(b, key)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(string(v))
	return n, err == nil
}

// StatFields returns the fields of a /proc/<pid>/stat line that follow
// the command name: StatFields(b)[0] is the state (field 3 of
// proc_pid_stat(5)), [19] the start time (field 22). The command, in
// parentheses, may hold blanks and parentheses itself, so the fields
// start after the line's last ')'. It returns nil when there is none.
func StatFields(b []byte) []string {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// StartTime returns the start time of a /proc/<pid>/stat line (field 22),
// in clock ticks (USER_HZ) after boot, and false when the line is too
// short or the field is not a number.
func StartTime(b []byte) (int64, bool) {
	f := StatFields(b)
	if len(f) < 20 {
		return 0, false
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	return ticks, err == nil
}
