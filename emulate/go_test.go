package emulate_test

// goPrograms are the Go programs the tests run under a policy (the test
// binary, through goProgram).
var goPrograms = map[string]func(args []string) int{}
