package seccompstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

func init() {
	// drip: for each line read from stdin (a number i), call getppid(i)
	// and expect 3*i.
	scenarios["drip"] = func([]string) int {
		for {
			var i uint64
			if _, err := fmt.Scanln(&i); err != nil {
				return 0
			}
			r, e := sectestGetppid(uintptr(i))
			if e != 0 || uint64(r) != 3*i {
				fmt.Printf("call %d: got %d, errno %v\n", i, r, e)
				return 1
			}
		}
	}
}

// TestRespondWrongStream: answering a notification on a Stream that did not
// receive it is refused with ErrWrongStream, never ErrGone, and sends
// nothing: the call still waits for its own Stream's answer.
func TestRespondWrongStream(t *testing.T) {
	c1, s1 := start(t, "once", nil)
	_, s2 := start(t, "idle", nil)
	ctx := testCtx(t)
	n, err := s1.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Stream() != s1 {
		t.Fatalf("Stream() = %p, want %p", n.Stream(), s1)
	}
	err = s2.Respond(n, seccompstream.Return(1))
	if !errors.Is(err, seccompstream.ErrWrongStream) || errors.Is(err, seccompstream.ErrGone) {
		t.Fatalf("Respond on the wrong Stream = %v, want ErrWrongStream", err)
	}
	if _, err := s2.RespondFD(n, 0); !errors.Is(err, seccompstream.ErrWrongStream) {
		t.Fatalf("RespondFD on the wrong Stream = %v, want ErrWrongStream", err)
	}
	if err := s2.Respond(&seccompstream.Notification{ID: n.ID}, seccompstream.Return(1)); !errors.Is(err, seccompstream.ErrWrongStream) {
		t.Fatalf("Respond with a Notification not received = %v, want ErrWrongStream", err)
	}
	if !n.Valid() {
		t.Fatal("the notification is no longer pending")
	}
	if err := s1.Respond(n, seccompstream.Return(3)); err != nil {
		t.Fatal(err)
	}
	wantExit0(t, c1)
	if out := c1.Output(); out != "result 3 errno 0\n" {
		t.Fatalf("child output %q", out)
	}
}

// TestRespondTwice: a second answer is ErrAlreadyAnswered, also once the
// target has moved on (the kernel then says ENOENT, which would read as
// ErrGone), and also when the two answers race.
func TestRespondTwice(t *testing.T) {
	calls := sectest.Scale(600)
	c, s := start(t, "spin", []string{strconv.Itoa(calls)})
	ctx := testCtx(t)
	memfd := newMemfd(t)
	for i := 0; ; i++ {
		n, err := s.Receive(ctx)
		if err != nil {
			if err == io.EOF {
				break
			}
			t.Fatal(err)
		}
		var errs [2]error
		switch i % 3 {
		case 0: // one after the other
			errs[0] = s.Respond(n, seccompstream.Return(1))
			runtime.Gosched() // let the target move on, often
			errs[1] = s.Respond(n, seccompstream.Return(2))
		case 1: // at once
			var wg sync.WaitGroup
			for k := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[k] = s.Respond(n, seccompstream.Return(int64(k)))
				}()
			}
			wg.Wait()
		case 2: // RespondFD, then both kinds again
			_, errs[0] = s.RespondFD(n, memfd)
			if errs[0] != nil {
				break // gone: covered by the other tests
			}
			if _, err := s.RespondFD(n, memfd); !errors.Is(err, seccompstream.ErrAlreadyAnswered) {
				t.Fatalf("second RespondFD = %v, want ErrAlreadyAnswered", err)
			}
			if _, err := n.AddFD(memfd); !errors.Is(err, seccompstream.ErrGone) {
				t.Fatalf("AddFD after RespondFD = %v, want ErrGone (no longer pending)", err)
			}
			errs[1] = s.Respond(n, seccompstream.Return(2))
		}
		ok, already := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, seccompstream.ErrAlreadyAnswered):
				already++
			case errors.Is(err, seccompstream.ErrGone):
				// The Go target was interrupted (preempted) before the
				// first answer: both fail alike.
			default:
				t.Fatalf("answer %d: %v", i, err)
			}
		}
		if ok == 1 && already != 1 {
			t.Fatalf("answer %d: %v, want one nil and one ErrAlreadyAnswered", i, errs)
		}
		if ok > 1 {
			t.Fatalf("answer %d: answered twice: %v", i, errs)
		}
		if n.Valid() && ok == 1 {
			t.Fatalf("answer %d: answered notification is still valid", i)
		}
	}
	wantExit0(t, c)
}

// TestNewOwnedFD: New on an fd that an open Stream owns fails with EBUSY
// and leaves the fd alone: the first Stream serves on.
func TestNewOwnedFD(t *testing.T) {
	c, s := start(t, "getppid", []string{"50"})
	if s2, err := seccompstream.New(s.FD()); !errors.Is(err, unix.EBUSY) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("New on an owned fd = %v, want EBUSY", err)
	}
	serveUntilEOF(t, testCtx(t), s, func(n *seccompstream.Notification) seccompstream.Response {
		return seccompstream.Return(int64(1000 + n.Args[0]))
	})
	wantExit0(t, c)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewNotListener(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := seccompstream.New(int(r.Fd())); !errors.Is(err, seccompstream.ErrNotListener) {
		t.Fatalf("New(pipe) = %v, want ErrNotListener", err)
	}
}

// TestDupStreams: two Streams over dups of one listener fd, a receiver
// each, both waiting when one notification comes. One gets it; the other
// must stay cancellable (a receiver that issued RECV after the other took
// the notification would block in the kernel, deaf to its context, until
// the next one). Many rounds, since the window is narrow.
func TestDupStreams(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	c := sectest.StartChild(t, sectest.Opts{Scenario: "drip", Notify: []string{"getppid"}, Stdin: pr})
	if !seccompstream.DupsRecognized(c.Listener) {
		// kcmp(2) needs CONFIG_KCMP (set in every kernel CI runs on).
		if sectest.InCI() {
			t.Fatal("kcmp(KCMP_FILE) does not work here")
		}
		unix.Close(c.Listener)
		t.Skip("kcmp(KCMP_FILE) does not work here: Streams over dups cannot be recognised")
	}
	dup, err := unix.FcntlInt(uintptr(c.Listener), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var streams []*seccompstream.Stream
	for _, fd := range []int{c.Listener, dup} {
		s, err := seccompstream.New(fd)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		streams = append(streams, s)
	}
	rounds := sectest.Scale(2000)
	for round := range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan *seccompstream.Notification, 2)
		errc := make(chan error, 2)
		for _, s := range streams {
			go func() {
				n, err := s.Receive(ctx)
				if err == nil {
					got <- n
					err = s.Respond(n, seccompstream.Return(int64(n.Args[0]*3)))
				}
				errc <- err
			}()
		}
		if round%2 == 0 {
			runtime.Gosched() // vary who waits where
		}
		fmt.Fprintf(pw, "%d\n", round)
		select {
		case n := <-got:
			if n.Args[0] != uint64(round) {
				t.Fatalf("round %d: got call %d", round, n.Args[0])
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: no notification", round)
		}
		if err := <-errc; err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		cancel()
		select {
		case err := <-errc:
			if err != context.Canceled {
				t.Fatalf("round %d: Receive = %v, want context.Canceled", round, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: a Receive ignored its context for 30s (blocked in RECV)", round)
		}
	}
	pw.Close()
	wantExit0(t, c)
}

// A call whose answer found it gone is settled: a second answer is
// refused without a system call, and Serve's stop does not claim it
// again. (Serve counted such a call twice, Gone at the handler's answer
// and again at the stop's fallback, when the stop came before the call
// left Serve's ring: 8 times in a one-hour soak of 12.5 million calls.)
func TestRespondAfterGone(t *testing.T) {
	c, s := start(t, "once", nil)
	n, err := s.Receive(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	c.Cmd.Process.Kill()
	c.Wait()
	if err := s.Respond(n, seccompstream.Return(1)); !errors.Is(err, seccompstream.ErrGone) {
		t.Fatalf("Respond to a dead target = %v, want ErrGone", err)
	}
	if seccompstream.Claimable(n) {
		t.Fatal("a call found gone is still pending: Serve's stop would answer it again")
	}
	for _, answer := range []func() error{
		func() error { return s.Respond(n, seccompstream.Return(2)) },
		func() error { _, err := s.RespondFD(n, 0); return err },
		func() error { _, err := n.AddFD(0); return err },
	} {
		if err := answer(); err != seccompstream.ErrGone {
			t.Fatalf("answer after ErrGone = %v, want ErrGone itself (no system call)", err)
		}
	}
}
