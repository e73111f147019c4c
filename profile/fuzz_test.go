package profile_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/profile"
)

// FuzzParse feeds the profile reader arbitrary files (seeds: the files in
// testdata/fuzz/FuzzParse and the tests' profiles). Whatever it reads, it
// must not panic, must fail only with a *profile.Error naming the file, and
// what it accepts must write out to a file that reads back to the same
// bytes.
func FuzzParse(f *testing.F) {
	for _, s := range []string{golden, containersStyle, `{"defaultAction": "SCMP_ACT_ERRNO"}`, `{"linux": {"seccomp": null}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := profile.ParseOCI("fuzz.json", data); err != nil {
			checkError(t, err)
		}
		p, err := profile.Parse("fuzz.json", data)
		if err != nil {
			checkError(t, err)
			return
		}
		b1, err := p.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		q, err := profile.Parse("written.json", b1)
		if err != nil {
			t.Fatalf("reading the written profile: %v\n%s", err, b1)
		}
		b2, err := q.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("written, read and written again, the profile changed:\n%s\n---\n%s", b1, b2)
		}
		if d := profile.Diff(p, q); d.Len() > 0 {
			t.Fatalf("lost in writing: %v", callStrings(d))
		}
	})
}

func checkError(t *testing.T, err error) {
	t.Helper()
	var perr *profile.Error
	if !errors.As(err, &perr) || !strings.HasPrefix(err.Error(), "profile: fuzz.json: ") {
		t.Fatalf("error %q is not a *profile.Error naming the file", err)
	}
}
