package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunBadUsage checks that bad flags are refused with status 2 before
// anything runs. (The soak itself is internal/soak's TestSoakShort.)
func TestRunBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-duration", "0s"},
		{"-hang", "-1s"},
		{"-calls", "0"},
		{"-nosuchflag"},
		{"extra"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 || out.Len() != 0 || errb.Len() == 0 {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want 2, nothing, a message", args, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "-duration") {
		t.Errorf("run(-h) = %d, %q", code, errb.String())
	}
}
