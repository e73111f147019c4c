//go:build race

package sectest

const raceEnabled = true
