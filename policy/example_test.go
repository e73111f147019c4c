package policy_test

import (
	"context"
	"fmt"
	"log"
	"maps"
	"os/exec"
	"slices"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/policy"
)

// The lists of --trace and --deny: an :ERRNO applies to its name and the
// names before it, back to the previous :ERRNO.
func ExampleParseLists() {
	rules, err := policy.ParseLists(
		[]string{"openat,execve"},
		[]string{"mkdir,mkdirat:EACCES,unlink"},
	)
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(rules.Syscalls)) {
		fmt.Println(name, rules.Syscalls[name])
	}
	fmt.Println("default", rules.Default)

	_, err = policy.ParseLists(nil, []string{"mkdir:EACCES,mkdir"})
	fmt.Println(err)
	// Output:
	// execve trace
	// mkdir deny:EACCES
	// mkdirat deny:EACCES
	// openat trace
	// unlink deny:EPERM
	// default allow
	// --deny: mkdir denied with both EACCES and EPERM
}

// A policy file gives each container its rule set.
func ExampleParse() {
	p, err := policy.Parse([]byte(`{
		"syscalls": {"mkdir": "deny:EACCES"},
		"containers": [{"match": {"id": "debug-*"}, "syscalls": {"mkdir": "trace"}}]
	}`))
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{"web", "debug-1"} {
		r := p.For(policy.Subject{ID: id})
		fmt.Println(id, "mkdir:", r.Action("mkdir"), "read:", r.Action("read"))
	}
	// Output:
	// web mkdir: deny:EACCES read: trace
	// debug-1 mkdir: trace read: trace
}

// A supervisor from a rule set: the filter notifies what the rules need,
// the Mux answers and shows it.
func ExampleRules_Handler() {
	rules, err := policy.ParseLists([]string{"openat"}, []string{"mkdir,mkdirat:EACCES"})
	if err != nil {
		log.Fatal(err)
	}
	f, err := rules.Filter()
	if err != nil {
		log.Fatal(err)
	}
	h, err := rules.Handler(func(_ context.Context, n *seccompstream.Notification, r seccompstream.Response) {
		log.Printf("%d %s = %v", n.PID, n.SyscallName(), r)
	})
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "cat /etc/hostname; mkdir /tmp/x")
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	go cmd.Wait() // reap: before Linux 6.11 the stream ends only then
	if err := s.Serve(context.Background(), h); err != nil {
		log.Fatal(err)
	}
}
