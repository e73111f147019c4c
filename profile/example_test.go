package profile_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/filter"
	"github.com/seccompstream/seccompstream/profile"
)

// Record the system calls of a command and write them as an OCI seccomp
// profile.
func ExampleRecorder() {
	cmd := exec.Command("sh", "-c", "echo hello > /dev/null")
	s, err := seccompstream.Start(cmd, filter.New(filter.Notify)) // notify every call
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	go cmd.Wait() // reap the command: before Linux 6.11 the stream ends only then

	rec := profile.NewRecorder()
	if err := s.Serve(context.Background(), rec); err != nil { // answers Continue to every call
		log.Fatal(err)
	}
	p := rec.Profile()
	arches := p.Arches() // the native one, e.g. SCMP_ARCH_X86_64
	c, _ := p.Lookup(arches[0], "exit_group")
	fmt.Println("architectures:", len(arches), "exit_group seen:", c.Count)

	f, err := os.CreateTemp("", "sh-profile-*.json")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	f.Close()
	if err := p.WriteFile(f.Name()); err != nil { // ready for runc, crun, Kubernetes...
		log.Fatal(err)
	}
	// Output: architectures: 1 exit_group seen: 1
}

func ExampleProfile_Marshal() {
	p := profile.New()
	for _, name := range []string{"read", "exit_group", "write"} {
		if err := p.Add(specs.ArchX86_64, name, 1); err != nil {
			log.Fatal(err)
		}
	}
	b, err := p.Marshal(profile.WithoutCoverage())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(b))
	// Output:
	// {
	// 	"defaultAction": "SCMP_ACT_ERRNO",
	// 	"defaultErrnoRet": 38,
	// 	"architectures": [
	// 		"SCMP_ARCH_X86_64"
	// 	],
	// 	"syscalls": [
	// 		{
	// 			"names": [
	// 				"exit_group",
	// 				"read",
	// 				"write"
	// 			],
	// 			"action": "SCMP_ACT_ALLOW"
	// 		}
	// 	]
	// }
}

// Compare two profiles: what each allows that the other does not.
func ExampleDiff() {
	ls, _ := profile.Parse("ls.json", []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
		"syscalls": [{"names": ["read", "getdents64", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}`))
	mkdir, _ := profile.Parse("mkdir.json", []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
		"syscalls": [{"names": ["read", "mkdir", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}`))
	for _, c := range profile.Diff(ls, mkdir).Calls() {
		fmt.Println("only ls:", c)
	}
	for _, c := range profile.Diff(mkdir, ls).Calls() {
		fmt.Println("only mkdir:", c)
	}
	fmt.Println("both:", profile.Intersect(ls, mkdir).Names(specs.ArchX86_64))
	fmt.Println("either:", profile.Merge(ls, mkdir).Names(specs.ArchX86_64))
	// Output:
	// only ls: SCMP_ARCH_X86_64 getdents64
	// only mkdir: SCMP_ARCH_X86_64 mkdir
	// both: [exit_group read]
	// either: [exit_group getdents64 mkdir read]
}

// A profile recorded from a bare program, made ready for runc: the calls
// runc makes itself under the container's filter, before it executes the
// program, are added.
func ExampleBase() {
	recorded := profile.New()
	native, err := profile.NativeArch()
	if err != nil {
		log.Fatal(err)
	}
	_ = recorded.Add(native, "exit_group", 1)
	base, err := profile.Base("runc")
	if err != nil {
		log.Fatal(err)
	}
	p := profile.Merge(recorded, base)
	fmt.Println(p.Has(native, "exit_group"), p.Has(native, "execve"), p.Has(native, "write"))
	// Output: true true true
}

// Argument rules: socket is allowed with the address families seen.
func ExampleWithArgRules() {
	rec := profile.NewRecorder(profile.WithArgRules(0))
	for _, family := range []uint64{1, 2, 1} { // AF_UNIX, AF_INET, AF_UNIX
		rec.Record(&seccompstream.Notification{Arch: 0xc000003e, Syscall: 41, Args: [6]uint64{family}}) // x86_64 socket
	}
	c, _ := rec.Profile().Lookup(specs.ArchX86_64, "socket")
	fmt.Println(c)
	// Output: SCMP_ARCH_X86_64 socket if arg0 == 0x1 | arg0 == 0x2
}
