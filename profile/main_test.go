package profile_test

import (
	"os"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

func TestMain(m *testing.M) {
	sectest.Main(scenarios)
	os.Exit(sectest.RunMain(m.Run, "seccompstream/profile."))
}
