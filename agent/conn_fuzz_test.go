package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParseRights checks that the control-message parser never panics on
// what a peer can send, and returns no descriptors with an error. (The
// numbers it returns are only parsed, never real: nothing is closed.)
func FuzzParseRights(f *testing.F) {
	f.Add(unix.UnixRights(3, 4))
	f.Add(append(unix.UnixRights(5), unix.UnixCredentials(&unix.Ucred{Pid: 1})...))
	f.Add([]byte{})
	f.Add(make([]byte, unix.CmsgSpace(4)-1))
	f.Fuzz(func(t *testing.T, oob []byte) {
		fds, err := parseRights(oob)
		if err != nil && fds != nil {
			t.Fatalf("descriptors %v returned with error %v", fds, err)
		}
	})
}

// FuzzComplete checks the end-of-message test against encoding/json: data
// is complete exactly when it is one JSON object followed by white space.
func FuzzComplete(f *testing.F) {
	for _, s := range []string{`{}`, "{\"a\":1}\n", `{"a":"}"`, `{"a":{}`, `[{}]`, ` {} `, `{}{}`, `"}"`, `}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]any
		want := json.Unmarshal(data, &obj) == nil && obj != nil &&
			len(bytes.TrimRight(data, " \t\r\n")) > 0 && bytes.TrimRight(data, " \t\r\n")[len(bytes.TrimRight(data, " \t\r\n"))-1] == '}'
		if got := complete(data); got != want {
			t.Fatalf("complete(%q) = %v, want %v", data, got, want)
		}
	})
}

// FuzzReadMessage sends data over a stream socket in two writes and checks
// what readMessage makes of it: a prefix of data that is either all of it
// (the peer closed) or a complete JSON object, or ErrMessageTooLarge past
// the limit.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte(`{"fds":["seccompFd"],"state":{"id":"c"}}`), uint16(5))
	f.Add([]byte(`{"a":1}{"b":2}`), uint16(7))
	f.Add([]byte("{\n"), uint16(1))
	f.Add(bytes.Repeat([]byte("x"), 300), uint16(100))
	const maxBytes = 256
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		if len(data) > 4*maxBytes {
			data = data[:4*maxBytes] // more only fills the socket buffer
		}
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		file := os.NewFile(uintptr(fds[0]), "agent end")
		c, err := net.FileConn(file)
		file.Close()
		if err != nil {
			unix.Close(fds[1])
			t.Fatal(err)
		}
		defer c.Close()
		i := min(int(cut), len(data))
		for _, part := range [][]byte{data[:i], data[i:]} {
			if len(part) > 0 {
				if _, err := unix.Write(fds[1], part); err != nil {
					t.Fatal(err)
				}
			}
		}
		unix.Close(fds[1])
		m, err := readMessage(c.(*net.UnixConn), maxBytes, 4)
		if err != nil {
			if !errors.Is(err, ErrMessageTooLarge) || len(data) <= maxBytes {
				t.Fatalf("%q: %v", data, err)
			}
			return
		}
		if len(m.fds) != 0 || !bytes.HasPrefix(data, m.data) || len(m.data) > maxBytes {
			t.Fatalf("%q read as %q with fds %v", data, m.data, m.fds)
		}
		if len(m.data) < len(data) && !complete(m.data) {
			t.Fatalf("%q: stopped at %q, which is not a complete object", data, m.data)
		}
	})
}
