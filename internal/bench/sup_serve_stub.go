//go:build noours || noserve

package main

func serveSupervisors() []goSupervisor { return nil }
