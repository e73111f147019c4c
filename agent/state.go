package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// Errors that name what was wrong with a runtime's message. The errors the
// Server logs, and the errors ParseState returns, match one of them
// (errors.Is) and add the details.
var (
	// ErrMalformedState: the message is not a JSON container process state
	// (syntax error, wrong field types, trailing data, no state.id).
	ErrMalformedState = errors.New("agent: malformed container process state")
	// ErrNoSeccompFD: no file descriptor was received, or none is named
	// "seccompFd".
	ErrNoSeccompFD = errors.New(`agent: no "seccompFd" file descriptor`)
	// ErrFDMismatch: the fds names and the file descriptors received do not
	// match one to one (more fds than names or the reverse, an empty name,
	// "seccompFd" named twice, or fds outside the first message).
	ErrFDMismatch = errors.New("agent: file descriptors do not match the state's fds names")
	// ErrMessageTooLarge: the message exceeds Server.MaxMessageBytes, or
	// carries more file descriptors than Server.MaxFDs.
	ErrMessageTooLarge = errors.New("agent: message too large")
	// ErrStalled: the runtime neither finished its message nor closed the
	// connection within Server.ReadTimeout.
	ErrStalled = errors.New("agent: connection stalled")
)

// ParseState decodes a container process state, the JSON document that a
// runtime (runc, crun) sends to the seccomp agent at linux.seccomp.listenerPath
// (runtime-spec, "seccomp" in config-linux.md), and checks it against nfds,
// the number of file descriptors that came with it. It returns the state
// and the index of the "seccompFd" descriptor among them.
//
// The state must name every descriptor received, in order (fds[i] names
// descriptor i), with non-empty names, and exactly one of them
// "seccompFd"; state.id must be set. Unknown fields are ignored, and
// ociVersion is not checked: runc sends "1.0.2-dev", crun "0.2.0".
//
// Errors match ErrMalformedState, ErrNoSeccompFD or ErrFDMismatch.
func ParseState(data []byte, nfds int) (*specs.ContainerProcessState, int, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		if nfds == 0 {
			return nil, -1, fmt.Errorf("%w: empty message and no file descriptor", ErrMalformedState)
		}
		return nil, -1, fmt.Errorf("%w: empty message with %d file descriptors", ErrMalformedState, nfds)
	}
	var st specs.ContainerProcessState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, -1, fmt.Errorf("%w: %v (message starts %q)", ErrMalformedState, err, excerpt(data))
	}
	if data := bytes.TrimSpace(data); data[0] != '{' {
		// "null" decodes without an error; anything else non-object fails above.
		return nil, -1, fmt.Errorf("%w: not a JSON object (message starts %q)", ErrMalformedState, excerpt(data))
	}
	if st.State.ID == "" {
		return nil, -1, fmt.Errorf("%w: state.id is missing", ErrMalformedState)
	}
	if nfds == 0 {
		return nil, -1, fmt.Errorf("%w: container %q sent no file descriptor (fds: %q)", ErrNoSeccompFD, st.State.ID, st.Fds)
	}
	if len(st.Fds) != nfds {
		return nil, -1, fmt.Errorf("%w: container %q: fds names %d descriptors (%q) but %d were received",
			ErrFDMismatch, st.State.ID, len(st.Fds), st.Fds, nfds)
	}
	idx := -1
	for i, name := range st.Fds {
		switch name {
		case "":
			return nil, -1, fmt.Errorf("%w: container %q: fds[%d] has no name", ErrFDMismatch, st.State.ID, i)
		case specs.SeccompFdName:
			if idx >= 0 {
				return nil, -1, fmt.Errorf("%w: container %q: %q named twice (fds[%d] and fds[%d])",
					ErrFDMismatch, st.State.ID, name, idx, i)
			}
			idx = i
		}
	}
	if idx < 0 {
		return nil, -1, fmt.Errorf("%w: container %q: fds is %q", ErrNoSeccompFD, st.State.ID, st.Fds)
	}
	return &st, idx, nil
}

// excerpt returns the start of a message for an error text.
func excerpt(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
