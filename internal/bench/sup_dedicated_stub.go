//go:build noours || nodedicated

package main

func dedicatedSupervisors() []goSupervisor { return nil }
