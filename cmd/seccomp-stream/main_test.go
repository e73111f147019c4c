package main

import (
	"os"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// TestMain fails the run if the tests leaked a file descriptor or left a
// goroutine of the command or the library running (run() and its Serve,
// signal forwarding and reaping must all be gone when it returns).
func TestMain(m *testing.M) {
	if code, ok := testHelper(); ok { // record_test.go
		os.Exit(code)
	}
	os.Exit(sectest.RunMain(m.Run, "github.com/seccompstream/seccompstream", "main.run"))
}
