package profile_test

import "github.com/seccompstream/seccompstream/internal/sectest"

var scenarios = map[string]sectest.Scenario{}
