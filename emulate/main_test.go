package emulate_test

import (
	"os"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

// TestMain fails the run if a test leaked a descriptor or a goroutine.
func TestMain(m *testing.M) {
	os.Exit(sectest.RunMain(m.Run, "github.com/seccompstream/seccompstream"))
}
