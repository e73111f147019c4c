package ocitest_test

import (
	"os"
	"testing"

	"github.com/seccompstream/seccompstream/internal/sectest"
)

func TestMain(m *testing.M) {
	os.Exit(sectest.RunMain(m.Run, "seccompstream/internal/ocitest", "seccompstream/internal/sectest"))
}
