package agent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/agent"
)

// runcState is what runc 1.1.5 sends (compact, ociVersion 1.0.2-dev).
const runcState = `{"ociVersion":"1.0.2-dev","fds":["seccompFd"],"pid":4242,"metadata":"meta","state":{"ociVersion":"1.0.2-dev","id":"c1","status":"creating","pid":4242,"bundle":"/b","annotations":{"a":"b"}}}`

// crunState is what crun 1.8.1 sends (pretty-printed, ociVersion 0.2.0).
const crunState = `{
	"ociVersion": "0.2.0",
	"fds": [
		"seccompFd"
	],
	"pid": 77,
	"metadata": "",
	"state": {
		"ociVersion": "0.2.0",
		"id": "c2",
		"status": "creating",
		"pid": 77,
		"bundle": "/b2"
	}
}
`

func TestParseState(t *testing.T) {
	st, idx, err := agent.ParseState([]byte(runcState), 1)
	if err != nil || idx != 0 {
		t.Fatalf("runc state: idx %d, err %v", idx, err)
	}
	if st.State.ID != "c1" || st.Pid != 4242 || st.Metadata != "meta" || st.State.Annotations["a"] != "b" || st.State.Status != "creating" {
		t.Errorf("runc state parsed as %+v", st)
	}
	st, idx, err = agent.ParseState([]byte(crunState), 1)
	if err != nil || idx != 0 || st.State.ID != "c2" || st.Version != "0.2.0" || st.Pid != 77 {
		t.Fatalf("crun state: %+v, idx %d, err %v", st, idx, err)
	}
	two := `{"fds":["other","seccompFd","x"],"pid":1,"state":{"id":"c3","status":"running"},"future":{"x":[1,2]}}`
	st, idx, err = agent.ParseState([]byte(two), 3)
	if err != nil || idx != 1 || st.State.Status != "running" {
		t.Fatalf("three fds: idx %d, err %v", idx, err)
	}
}

// TestParseStateBad checks each bad input: the error matches the sentinel
// and names what was wrong.
func TestParseStateBad(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		nfds int
		want error
		text string
	}{
		{"empty", "", 1, agent.ErrMalformedState, "empty message"},
		{"blank no fd", " \n", 0, agent.ErrMalformedState, "no file descriptor"},
		{"syntax", `{"fds":["seccompFd"],`, 1, agent.ErrMalformedState, "unexpected end"},
		{"trailing", runcState + `x`, 1, agent.ErrMalformedState, "invalid character"},
		{"two documents", runcState + runcState, 1, agent.ErrMalformedState, "invalid character"},
		{"wrong type", `{"fds":["seccompFd"],"pid":"12","state":{"id":"c"}}`, 1, agent.ErrMalformedState, "pid"},
		{"null", `null`, 1, agent.ErrMalformedState, "not a JSON object"},
		{"array", `[]`, 1, agent.ErrMalformedState, "cannot unmarshal array"},
		{"no id", `{"fds":["seccompFd"],"state":{}}`, 1, agent.ErrMalformedState, "state.id"},
		{"no fd", runcState, 0, agent.ErrNoSeccompFD, "no file descriptor"},
		{"no names", `{"state":{"id":"c"}}`, 1, agent.ErrFDMismatch, "names 0 descriptors"},
		{"more fds than names", runcState, 2, agent.ErrFDMismatch, "but 2 were received"},
		{"more names than fds", `{"fds":["seccompFd","x"],"state":{"id":"c"}}`, 1, agent.ErrFDMismatch, "names 2"},
		{"empty name", `{"fds":["seccompFd",""],"state":{"id":"c"}}`, 2, agent.ErrFDMismatch, "fds[1] has no name"},
		{"two seccompFd", `{"fds":["seccompFd","seccompFd"],"state":{"id":"c"}}`, 2, agent.ErrFDMismatch, "named twice"},
		{"no seccompFd", `{"fds":["other"],"state":{"id":"c"}}`, 1, agent.ErrNoSeccompFD, `"other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, idx, err := agent.ParseState([]byte(tc.data), tc.nfds)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %q, want it to mention %q", err, tc.text)
			}
			if st != nil || idx != -1 {
				t.Errorf("got state %v, idx %d with an error", st, idx)
			}
		})
	}
}

// FuzzParseState checks that the parser never panics, and that what it
// accepts is consistent: one seccompFd, within range, every fd named.
func FuzzParseState(f *testing.F) {
	f.Add([]byte(runcState), 1)
	f.Add([]byte(crunState), 1)
	f.Add([]byte(`{"fds":["a","seccompFd"],"state":{"id":"x"}}`), 2)
	f.Fuzz(func(t *testing.T, data []byte, nfds int) {
		st, idx, err := agent.ParseState(data, nfds)
		if err != nil {
			if st != nil || idx != -1 {
				t.Fatalf("state %v, idx %d returned with error %v", st, idx, err)
			}
			if !errors.Is(err, agent.ErrMalformedState) && !errors.Is(err, agent.ErrNoSeccompFD) && !errors.Is(err, agent.ErrFDMismatch) {
				t.Fatalf("error %v matches no sentinel", err)
			}
			return
		}
		if idx < 0 || idx >= nfds || len(st.Fds) != nfds || st.Fds[idx] != "seccompFd" || st.State.ID == "" {
			t.Fatalf("accepted inconsistent state %+v (nfds %d, idx %d)", st, nfds, idx)
		}
		n := 0
		for _, name := range st.Fds {
			if name == "" {
				t.Fatalf("accepted an empty fd name: %+v", st)
			}
			if name == "seccompFd" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("accepted %d seccompFd names", n)
		}
	})
}
