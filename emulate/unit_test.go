package emulate_test

import (
	"testing"

	"github.com/seccompstream/seccompstream/emulate"
)

func TestCutSelf(t *testing.T) {
	for _, c := range []struct {
		in           string
		rest         string
		thread, self bool
	}{
		{"/proc/self/status", "/status", false, true},
		{"//proc//self//fd/3", "//fd/3", false, true},
		{"/proc/thread-self/comm", "/comm", true, true},
		{"/proc/self", "", false, true},
		{"/proc/self/", "/", false, true},
		{"/proc/selfish", "", false, false},
		{"/proc/1/status", "", false, false},
		{"proc/self/status", "", false, false},
		{"/usr/proc/self", "", false, false},
	} {
		rest, thread, ok := emulate.CutSelf(c.in)
		if ok != c.self || (ok && (rest != c.rest || thread != c.thread)) {
			t.Errorf("cutSelf(%q) = %q, %v, %v; want %q, %v, %v", c.in, rest, thread, ok, c.rest, c.thread, c.self)
		}
	}
}

func TestIDMap(t *testing.T) {
	const m = "         0     100000      65536\n     65536       1000          1\n"
	for _, c := range []struct {
		id       uint32
		to, from uint32
		ok       bool
	}{
		{100000, 0, 0, false}, // host 100000 is the caller's 0; the caller's 100000 has no mapping
		{100005, 5, 0, false},
		{1000, 65536, 101000, true},
		{5, 65534, 100005, true}, // host 5 has no mapping: overflow id
	} {
		to, from, ok, err := emulate.IDMap(m, c.id)
		if err != nil || to != c.to || ok != c.ok || (ok && from != c.from) {
			t.Errorf("id %d: toCaller %d, fromCaller %d %v (%v); want %d, %d %v", c.id, to, from, ok, err, c.to, c.from, c.ok)
		}
	}
	if _, _, _, err := emulate.IDMap("0 1\n", 0); err == nil {
		t.Error("a line with two fields parsed")
	}
}
