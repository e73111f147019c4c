package emulate_test

import (
	"context"
	"fmt"
	"log"
	"os/exec"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
	"github.com/seccompstream/seccompstream/filter"
)

// Run curl under a network policy: it may reach the local API on port
// 8080 and the resolver, nothing else; refusals are logged.
func ExampleNewNetwork() {
	nw, err := emulate.NewNetwork(emulate.NetworkPolicy{
		Connect: []string{"127.0.0.1:8080", "[::1]:8080", "127.0.0.53:53"},
	}, emulate.OnDeny(func(_ context.Context, n *seccompstream.Notification, r seccompstream.Response) {
		log.Printf("refused %s: %v", n.SyscallName(), r)
	}))
	if err != nil {
		log.Fatal(err)
	}
	f := filter.New(filter.Allow)
	if err := f.SetMismatchAction(filter.Notify); err != nil { // x32 calls reach the policy too
		log.Fatal(err)
	}
	if err := nw.AddRules(f); err != nil {
		log.Fatal(err)
	}
	mux := seccompstream.NewMux()
	nw.Register(mux)
	mux.HandleDefault(seccompstream.Answer(seccompstream.Continue()))

	cmd := exec.Command("curl", "-s", "http://127.0.0.1:8080/")
	s, err := seccompstream.Start(cmd, f)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	go cmd.Wait()
	if err := s.Serve(context.Background(), mux); err != nil {
		log.Fatal(err)
	}
}

// The addresses a policy holds, cleaned: mapped IPv4 addresses are IPv4,
// paths are clean, duplicates go.
func ExampleNetwork_Policy() {
	nw, err := emulate.NewNetwork(emulate.NetworkPolicy{
		Connect: []string{"[::ffff:127.0.0.1]:80", "127.0.0.1:80", "/run//app.sock", "10.0.0.0/8:*"},
		Bind:    []string{"0.0.0.0:0"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(nw.Policy())
	_, err = emulate.NewNetwork(emulate.NetworkPolicy{Connect: []string{"localhost:80"}})
	fmt.Println(err)
	// Output:
	// {[127.0.0.1:80 /run/app.sock 10.0.0.0/8:*] [0.0.0.0:0]}
	// emulate: network policy: connect item "localhost:80": "localhost" is not an IP address (host names are not accepted: the policy checks addresses)
}

// A file policy and a network policy in one Mux and one filter.
func ExampleNetwork_Register() {
	fs, err := emulate.NewFiles(emulate.FilePolicy{Read: emulate.SystemPaths(), Write: []string{"/tmp/out"}})
	if err != nil {
		log.Fatal(err)
	}
	nw, err := emulate.NewNetwork(emulate.NetworkPolicy{Connect: []string{"/run/app.sock"}})
	if err != nil {
		log.Fatal(err)
	}
	f := filter.New(filter.Allow)
	if err := f.SetMismatchAction(filter.Notify); err != nil {
		log.Fatal(err)
	}
	mux := seccompstream.NewMux()
	for _, p := range []interface {
		AddRules(*filter.Filter) error
		Register(*seccompstream.Mux)
	}{fs, nw} {
		if err := p.AddRules(f); err != nil {
			log.Fatal(err)
		}
		p.Register(mux) // the calls both refuse (io_uring_setup, ...) are routed once
	}
}
