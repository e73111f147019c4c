package policy_test

import (
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/internal/sysnames"
	"github.com/seccompstream/seccompstream/policy"
)

func FuzzParseLists(f *testing.F) {
	f.Add("openat,execve", "mkdir:EACCES")
	f.Add("all", "unlink:1,rmdir")
	f.Add("", ":")
	f.Add("getpid", "a,b:EACCES,c,d:ENOENT,e")
	f.Fuzz(func(t *testing.T, trace, deny string) {
		r, err := policy.ParseListsFor(unix.AUDIT_ARCH_X86_64, []string{trace}, []string{deny})
		if err != nil {
			return
		}
		for name, a := range r.Syscalls {
			if e := a.Errno(); a != policy.Trace && (e <= 0 || e > 4095) {
				t.Fatalf("deny %s errno %d", name, a.Errno())
			}
			_, ok64 := sysnames.Number(unix.AUDIT_ARCH_X86_64, name)
			_, ok32 := sysnames.Number(unix.AUDIT_ARCH_I386, name)
			if !ok64 && !ok32 {
				t.Fatalf("unknown name %q accepted", name)
			}
		}
		if r.Default != policy.Allow && r.Default != policy.Trace {
			t.Fatalf("default %v", r.Default)
		}
		again, err := policy.ParseListsFor(unix.AUDIT_ARCH_X86_64, []string{trace}, []string{deny})
		if err != nil || !reflect.DeepEqual(r, again) {
			t.Fatalf("second parse: %v, %v", again, err)
		}
		if sysnames.Native() == unix.AUDIT_ARCH_X86_64 {
			if _, err := r.Handler(nil); err != nil {
				t.Fatalf("Handler: %v", err)
			}
			if _, err := r.Filter(); err != nil {
				t.Fatalf("Filter: %v", err)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(examplePolicy))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"containers":[{"match":{"annotations":{"k":"*"}},"default":"allow"}]}`))
	f.Add([]byte(`{"syscalls":{"mkdir":"deny:5000"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		checkRoundTrip(t, p)
		for i := -1; i < len(p.Containers); i++ {
			s := policy.Subject{ID: "x"}
			if i >= 0 {
				s.Metadata = "m"
			}
			if _, err := p.For(s).Handler(nil); err != nil {
				t.Fatalf("Handler: %v", err)
			}
		}
	})
}
