package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Intercepts: ready handlers that carry out a call for the caller instead
// of answering it by an Action, by the names a policy file gives them.
const (
	// InterceptMknod: mknod and mknodat of the allowed device nodes
	// (Intercept.Devices), created as the caller would in its mount
	// namespace and owned by its fsuid and fsgid, only where the caller
	// could create a regular file; everything else keeps its EPERM.
	InterceptMknod = "mknod"
	// InterceptSysinfo: sysinfo answered from the caller's cgroup (memory
	// limit and usage, swap, process count, uptime of the container) in
	// the caller's ABI.
	InterceptSysinfo = "sysinfo"
)

// ErrNoInterceptHandlers: a rule set has intercepts and the program has no
// handlers for them. The policy file syntax is complete; the handlers
// (package emulate, built on seccompstream.Target) are not part of this
// version, so a supervisor refuses such a policy instead of serving it
// half.
var ErrNoInterceptHandlers = errors.New("policy: intercepts need the emulation handlers, which this version does not have")

// An Intercept is the configuration of one ready intercept.
type Intercept struct {
	// Devices are the device nodes "mknod" may create; nil means
	// DefaultDevices. Unused by "sysinfo".
	Devices []Device
}

// A Device is a device node by type and number, written "c 1:3" (a
// character device) or "b 7:0" (a block device).
type Device struct {
	Block        bool
	Major, Minor uint32
}

// DefaultDevices are the nodes "mknod" creates when a policy names none:
// null, zero, full, random, urandom, tty, console, ptmx and fuse.
var DefaultDevices = []Device{
	{Major: 1, Minor: 3}, {Major: 1, Minor: 5}, {Major: 1, Minor: 7}, {Major: 1, Minor: 8}, {Major: 1, Minor: 9},
	{Major: 5, Minor: 0}, {Major: 5, Minor: 1}, {Major: 5, Minor: 2}, {Major: 10, Minor: 229},
}

// String returns the device as ParseDevice reads it.
func (d Device) String() string {
	t := "c"
	if d.Block {
		t = "b"
	}
	return fmt.Sprintf("%s %d:%d", t, d.Major, d.Minor)
}

// ParseDevice parses "c MAJOR:MINOR" or "b MAJOR:MINOR" (decimal numbers
// below 2^32; Linux's majors have 12 bits and minors 20).
func ParseDevice(s string) (Device, error) {
	t, num, ok := strings.Cut(strings.TrimSpace(s), " ")
	maj, min, ok2 := strings.Cut(strings.TrimSpace(num), ":")
	if !ok || !ok2 || (t != "c" && t != "b") {
		return Device{}, fmt.Errorf("device %q: want \"c MAJOR:MINOR\" or \"b MAJOR:MINOR\"", s)
	}
	ma, err1 := strconv.ParseUint(maj, 10, 12)
	mi, err2 := strconv.ParseUint(min, 10, 20)
	if err1 != nil || err2 != nil {
		return Device{}, fmt.Errorf("device %q: major must be 0..4095 and minor 0..1048575", s)
	}
	return Device{Block: t == "b", Major: uint32(ma), Minor: uint32(mi)}, nil
}

// interceptJSON is one entry of "intercepts".
type interceptJSON struct {
	Devices []string `json:"devices,omitempty"`
}

// parseIntercepts reads a rule set's "intercepts" at where.
func parseIntercepts(where string, m map[string]interceptJSON) (map[string]Intercept, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]Intercept, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		var ic Intercept
		switch name {
		case InterceptMknod:
			for i, d := range m[name].Devices {
				dev, err := ParseDevice(d)
				if err != nil {
					return nil, fmt.Errorf("%s.mknod.devices[%d]: %w", where, i, err)
				}
				ic.Devices = append(ic.Devices, dev)
			}
		case InterceptSysinfo:
			if len(m[name].Devices) > 0 {
				return nil, fmt.Errorf("%s.sysinfo: takes no devices", where)
			}
		default:
			return nil, fmt.Errorf("%s: unknown intercept %q (want %q or %q)", where, name, InterceptMknod, InterceptSysinfo)
		}
		out[name] = ic
	}
	return out, nil
}

// interceptsJSON is the inverse of parseIntercepts.
func interceptsJSON(m map[string]Intercept) map[string]interceptJSON {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]interceptJSON, len(m))
	for name, ic := range m {
		var j interceptJSON
		for _, d := range ic.Devices {
			j.Devices = append(j.Devices, d.String())
		}
		out[name] = j
	}
	return out
}

// InterceptNames returns the names of the intercepts p uses anywhere,
// sorted: a supervisor without their handlers refuses p
// (ErrNoInterceptHandlers).
func (p *Policy) InterceptNames() []string {
	names := slices.Collect(maps.Keys(p.Rules.Intercepts))
	for _, cr := range p.Containers {
		names = append(names, slices.Collect(maps.Keys(cr.Intercepts))...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
