package seccompstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/sectest"
)

// blockedInRecv makes s hot with a burst of calls, runs receive (which
// must call s.Receive, once or in a loop) and waits until its thread
// sleeps in the blocking RECV: the ioctl, seen in /proc. HoldHot(s) keeps
// the reaper from ending that wait.
func blockedInRecv(t *testing.T, s *seccompstream.Stream, burst func(int), receive func()) {
	t.Helper()
	burst(100)
	answerN(t, testCtx(t), s, 100)
	before, _ := seccompstream.BlockingStats(s)
	if before == 0 {
		t.Fatal("100 back-to-back calls and no blocking RECV")
	}
	go receive()
	inIoctl := fmt.Sprintf("%d ", unix.SYS_IOCTL)
	sectest.Eventually(t, "receiver asleep in the blocking RECV", func() bool {
		begun, tid := seccompstream.BlockingStats(s)
		if begun == before || tid == 0 {
			return false
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/syscall", tid))
		return err == nil && strings.HasPrefix(string(b), inIoctl)
	})
}

// receiveInto is a receive for blockedInRecv: one Receive, whose error
// goes to errc (the tests that use it expect no notification).
func receiveInto(ctx context.Context, s *seccompstream.Stream, errc chan<- error) func() {
	return func() {
		_, err := s.Receive(ctx)
		errc <- err
	}
}

// TestBlockingRecvEnds: a receiver asleep in the blocking RECV of a hot
// Stream (which RECV's restart after a signal would keep there) leaves it
// for its context, for Close, and for a Stream over a dup of the
// listener; and the listener works as before afterwards.
func TestBlockingRecvEnds(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		t.Run("cancel", func(t *testing.T) {
			_, s, burst := startBursts(t, opts...)
			seccompstream.HoldHot(s)
			for round := range sectest.Scale(20) {
				ctx, cancel := context.WithCancel(context.Background())
				errc := make(chan error, 1)
				blockedInRecv(t, s, burst, receiveInto(ctx, s, errc))
				cancel()
				if err := waitErr(t, errc); err != context.Canceled {
					t.Fatalf("round %d: Receive = %v, want context.Canceled", round, err)
				}
			}
			// The listener is back under the receiver's descriptor.
			burst(100)
			answerN(t, testCtx(t), s, 100)
		})
		t.Run("close", func(t *testing.T) {
			_, s, burst := startBursts(t, opts...)
			seccompstream.HoldHot(s)
			errc := make(chan error, 1)
			blockedInRecv(t, s, burst, receiveInto(context.Background(), s, errc))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := waitErr(t, errc); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("Receive = %v, want os.ErrClosed", err)
			}
		})
		t.Run("shared", func(t *testing.T) {
			c, s, burst := startBursts(t, opts...)
			if !seccompstream.DupsRecognized(c.Listener) {
				t.Skip("kcmp(2) unavailable: dups are not recognised")
			}
			seccompstream.HoldHot(s)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			counts := make(chan int, 2)
			loop := func(s *seccompstream.Stream) func() {
				return func() {
					n := 0
					for {
						m, err := s.Receive(ctx)
						if err != nil {
							counts <- n
							return
						}
						if err := s.Respond(m, seccompstream.Return(int64(m.Args[0]*3))); err != nil {
							t.Errorf("Respond: %v", err)
						}
						n++
					}
				}
			}
			blockedInRecv(t, s, burst, loop(s))
			dup, err := unix.FcntlInt(uintptr(c.Listener), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := seccompstream.New(dup, opts...)
			if err != nil {
				unix.Close(dup)
				t.Fatal(err)
			}
			defer s2.Close()
			// s's receiver leaves the blocking RECV, which could take a
			// notification that s2's receiver polled, for the shared wait.
			sectest.Eventually(t, "receiver out of the blocking RECV", func() bool {
				_, tid := seccompstream.BlockingStats(s)
				return tid == 0
			})
			go loop(s2)()
			// Both serve the next calls; none is lost or waits for ever.
			calls := sectest.Scale(400)
			burst(calls)
			sectest.Eventually(t, "second burst answered", func() bool {
				return strings.Count(c.Output(), "done ") == 2
			})
			cancel()
			if total := <-counts + <-counts; total != calls {
				t.Fatalf("%d calls answered, want %d", total, calls)
			}
			if out := c.Output(); strings.Contains(out, "call") {
				t.Fatalf("child: %s", out)
			}
		})
		t.Run("eof", func(t *testing.T) {
			c, s, burst := startBursts(t, opts...)
			errc := make(chan error, 1)
			if sectest.HaveKernel(t, sectest.HUPOnExit) {
				// RECV fails once the filter has no user: the held hot
				// wait sees it.
				seccompstream.HoldHot(s)
				blockedInRecv(t, s, burst, receiveInto(context.Background(), s, errc))
			} else {
				// RECV blocks then, and only the reaper's end of the hot
				// wait gets the receiver to the hang-up.
				burst(100)
				answerN(t, testCtx(t), s, 100)
				go receiveInto(context.Background(), s, errc)()
			}
			_ = c.Cmd.Process.Kill()
			if err := waitErr(t, errc); err != io.EOF {
				t.Fatalf("Receive = %v, want io.EOF", err)
			}
		})
	})
}

// TestBlockingRecvSIGURGIgnored: with SIGURG ignored (signal.Ignore), no
// signal could get a receiver out of a blocking RECV, so a hot Stream
// waits in ppoll instead, and its receiver still ends with its context.
func TestBlockingRecvSIGURGIgnored(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...seccompstream.Option) {
		_, s, burst := startBursts(t, opts...)
		seccompstream.HoldHot(s)
		signal.Ignore(unix.SIGURG)
		defer func() {
			// Notify puts the runtime's handler back (and Reset, which
			// does not reinstall an ignored handler, keeps it).
			c := make(chan os.Signal, 1)
			signal.Notify(c, unix.SIGURG)
			signal.Reset(unix.SIGURG)
		}()
		burst(100)
		answerN(t, testCtx(t), s, 100)
		hotBefore, _, _ := seccompstream.WaitStats(s)
		blockingBefore, _ := seccompstream.BlockingStats(s)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go receiveInto(ctx, s, errc)()
		sectest.Eventually(t, "hot wait", func() bool {
			h, _, _ := seccompstream.WaitStats(s)
			return h > hotBefore
		})
		cancel()
		if err := waitErr(t, errc); err != context.Canceled {
			t.Fatalf("Receive = %v, want context.Canceled", err)
		}
		if b, _ := seccompstream.BlockingStats(s); b != blockingBefore {
			t.Fatalf("%d blocking RECVs with SIGURG ignored", b-blockingBefore)
		}
	})
}
