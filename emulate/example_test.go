package emulate_test

import (
	"context"
	"log"
	"os/exec"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/filter"
)

// Run a command that may read the system's libraries and /srv/data, and
// write only /tmp/out; every other path gets EACCES, and each refusal is
// logged.
func Example() {
	fs, err := emulate.NewFiles(emulate.FilePolicy{
		Read:  append(emulate.SystemPaths(), "/srv/data"),
		Write: []string{"/tmp/out"},
	}, emulate.OnDeny(func(_ context.Context, n *seccompstream.Notification, r seccompstream.Response) {
		log.Printf("refused %s: %v", n.SyscallName(), r)
	}))
	if err != nil {
		log.Fatal(err)
	}
	f := filter.New(filter.Allow)
	if err := fs.AddRules(f); err != nil { // notify the file calls, nothing else
		log.Fatal(err)
	}
	cmd := exec.Command("sort", "-o", "/tmp/out/sorted", "/srv/data/list")
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	// Files is a Handler of its own; Register puts its routes in a Mux
	// with others.
	if err := s.Serve(context.Background(), fs); err != nil {
		log.Fatal(err)
	}
	if err := <-waited; err != nil {
		log.Fatal(err)
	}
}

// The calls a file policy routes: a container runtime's seccomp profile
// must notify them for an agent to carry them out.
func ExampleFiles_Syscalls() {
	fs, err := emulate.NewFiles(emulate.FilePolicy{Read: []string{"/"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range fs.Syscalls() {
		_ = name // e.g. add to the profile's SCMP_ACT_NOTIFY rule
	}
}
