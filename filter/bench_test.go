package filter_test

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/filter/oci"
	"github.com/seccompstream/seccompstream/internal/nsthread"
	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// benchFilter returns a filter with n rules (n < 0: one for every call of
// the native arch), each an Errno rule conditional on an argument value no
// real call passes, so that the Go runtime's own calls on the filtered
// thread keep working. getppid, the measured call, has no rule: it goes
// through the whole lookup to the default, Allow.
func benchFilter(tb testing.TB, n int) *filter.Filter {
	tb.Helper()
	f := filter.New(filter.Allow)
	for _, name := range sysnames.Names(sysnames.Native()) {
		if n >= 0 && n == 0 {
			break
		}
		if name == "getppid" {
			continue
		}
		// A distinct value per call, so that no two calls share code.
		v := 0xdead_beef_0000_0000 + uint64(len(sysnames.Names(sysnames.Native()))-n)
		if err := f.AddIf(filter.Errno(unix.EPERM), name, filter.Arg(0).Eq(v)); err != nil {
			tb.Fatal(err)
		}
		n--
	}
	return f
}

var benchSets = []struct {
	name string
	make func(testing.TB) *filter.Filter
}{
	{"5rules", func(tb testing.TB) *filter.Filter { return benchFilter(tb, 5) }},
	{"100rules", func(tb testing.TB) *filter.Filter { return benchFilter(tb, 100) }},
	{"allsyscalls", func(tb testing.TB) *filter.Filter { return benchFilter(tb, -1) }},
	{"docker", func(tb testing.TB) *filter.Filter {
		f, err := oci.FromSpec(ocitest.Seccomp(tb, ocitest.DockerProfile(tb)))
		if err != nil {
			tb.Fatal(err)
		}
		return f
	}},
}

// BenchmarkAllowedSyscall measures one allowed system call (getppid) with
// no filter and under each filter. Each filtered run happens on a
// throwaway OS thread that carries the filter and exits afterwards.
func BenchmarkAllowedSyscall(b *testing.B) {
	requireSeccomp(b)
	run := func(b *testing.B, f *filter.Filter) {
		var err error
		nsthread.Run(func() {
			if f != nil {
				if _, err = f.Install(); err != nil {
					return
				}
			}
			b.ResetTimer()
			for range b.N {
				unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
			}
			b.StopTimer()
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("nofilter", func(b *testing.B) { run(b, nil) })
	for _, s := range benchSets {
		b.Run(s.name, func(b *testing.B) {
			f := s.make(b)
			prog := assemble(b, f)
			run(b, f)
			b.ReportMetric(float64(len(prog)), "insns")
		})
	}
}

// BenchmarkInstall measures Assemble and the seccomp(2) call of Install
// for each filter; ns/op also counts making a throwaway thread.
func BenchmarkInstall(b *testing.B) {
	requireSeccomp(b)
	for _, s := range benchSets {
		b.Run(s.name, func(b *testing.B) {
			f := s.make(b)
			var asmTime, installTime time.Duration
			var insns int
			for range b.N {
				var err error
				nsthread.Run(func() {
					t0 := time.Now()
					prog, aerr := f.Assemble()
					t1 := time.Now()
					if aerr != nil {
						err = aerr
						return
					}
					insns = len(prog)
					_, err = filter.InstallProgram(prog)
					installTime += time.Since(t1)
					asmTime += t1.Sub(t0)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(insns), "insns")
			b.ReportMetric(float64(asmTime.Nanoseconds())/float64(b.N), "assemble-ns/op")
			b.ReportMetric(float64(installTime.Nanoseconds())/float64(b.N), "install-ns/op")
		})
	}
}

// BenchmarkAssemble measures Assemble alone.
func BenchmarkAssemble(b *testing.B) {
	for _, s := range benchSets {
		b.Run(s.name, func(b *testing.B) {
			f := s.make(b)
			var insns int
			for b.Loop() {
				prog, err := f.Assemble()
				if err != nil {
					b.Fatal(err)
				}
				insns = len(prog)
			}
			b.ReportMetric(float64(insns), "insns")
		})
	}
}
