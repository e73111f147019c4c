package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// Concurrent shows give whole lines, never interleaved, and the program's
// writes through the same writer stay whole too.
func TestTracerWholeLines(t *testing.T) {
	var buf bytes.Buffer
	out := &lineWriter{w: &buf}
	tr := &tracer{out: out}
	nr, _ := sysnames.Number(sysnames.Native(), "getpid")
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range lines {
				n := &seccompstream.Notification{PID: 1000 + i, Arch: sysnames.Native(), Syscall: nr}
				tr.show(fmt.Sprintf("box%d", i), n, seccompstream.Errno(unix.EXDEV))
			}
		}()
		go func() {
			defer wg.Done()
			for range lines {
				fmt.Fprintf(out, "program %d says hello\n", i)
			}
		}()
	}
	wg.Wait()
	got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(got) != 2*writers*lines {
		t.Fatalf("%d lines, want %d", len(got), 2*writers*lines)
	}
	for _, line := range got {
		var i, pid int
		if _, err := fmt.Sscanf(line, "box%d %d getpid() = EXDEV", &i, &pid); err == nil && pid == 1000+i {
			continue
		}
		if _, err := fmt.Sscanf(line, "program %d says hello", &i); err == nil {
			continue
		}
		t.Fatalf("mixed line %q", line)
	}
}

func TestTracerJSONContainer(t *testing.T) {
	var buf bytes.Buffer
	tr := &tracer{out: &lineWriter{w: &buf}, json: true}
	nr, _ := sysnames.Number(sysnames.Native(), "getpid")
	tr.show("box", &seccompstream.Notification{PID: 7, Arch: sysnames.Native(), Syscall: nr}, seccompstream.Continue())
	tr.show("", &seccompstream.Notification{PID: 8, Arch: sysnames.Native(), Syscall: nr}, seccompstream.Continue())
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `{"container":"box","pid":7,"syscall":"getpid"`) ||
		!strings.HasPrefix(lines[1], `{"pid":8,"syscall":"getpid"`) {
		t.Errorf("JSON lines:\n%s", &buf)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, unix.ENOSPC }

func TestLineWriterKeepsError(t *testing.T) {
	out := &lineWriter{w: failingWriter{}}
	out.Write([]byte("x\n"))
	out.Write([]byte("y\n"))
	if err := out.Flush(); err != unix.ENOSPC {
		t.Errorf("Flush = %v, want ENOSPC", err)
	}
}

func TestSigsysNote(t *testing.T) {
	f := filter.New(filter.Allow) // kills other ABIs
	if got := sigsysNote("prog", f); !strings.Contains(got, "the filter kills calls through an ABI other than "+sysnames.ArchName(sysnames.Native())) ||
		strings.Count(got, "\n") != 1 {
		t.Errorf("kill note: %q", got)
	}
	f.SetMismatchAction(filter.Notify)
	if got := sigsysNote("prog", f); !strings.Contains(got, "not by this filter") || strings.Count(got, "\n") != 1 {
		t.Errorf("notify note: %q", got)
	}
}
