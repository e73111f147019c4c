//go:build noours || nodedicated

package main

import "errors"

func runFairSup([]string) error {
	return errors.New("fairsup is not compiled in (build tags noours or nodedicated)")
}

func fairBench(*benchConfig) error {
	println("note: the fairness benchmark is not compiled in")
	return nil
}
