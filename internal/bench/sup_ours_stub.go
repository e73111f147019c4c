//go:build noours

package main

func oursSupervisors() []goSupervisor { return nil }
