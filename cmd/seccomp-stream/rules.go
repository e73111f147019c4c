package main

import (
	"strings"
	"syscall"

	"github.com/seccompstream/seccompstream/internal/errnames"
)

// The rules of run and agent (--trace, --deny, --policy) are package
// policy's: its documentation is the one description of their syntax, and
// the help texts point to it. This file holds what the flags need besides.

// policyDoc is where the help texts send readers for the full syntax.
const policyDoc = "go doc github.com/seccompstream/seccompstream/policy"

// stringFlag collects the values of a flag that may be repeated.
type stringFlag []string

func (s *stringFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringFlag) Set(v string) error { *s = append(*s, v); return nil }

// errnoString names an errno ("EACCES"), or gives its number.
func errnoString(e syscall.Errno) string { return errnames.Name(e) }
