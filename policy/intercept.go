package policy

import (
	"fmt"
	"maps"
	"slices"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/emulate"
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

// An Intercept is the configuration of one ready intercept.
type Intercept struct {
	// Devices are the device nodes "mknod" may create; nil means
	// DefaultDevices. Unused by "sysinfo".
	Devices []Device
}

// A Device is a device node by type and number ("c 1:3"); the type is
// package emulate's, which creates them.
type Device = emulate.Device

// DefaultDevices are the nodes "mknod" creates when a policy names none
// (emulate.DefaultDevices: null, zero, full, random, urandom, tty,
// console, ptmx and fuse).
var DefaultDevices = emulate.DefaultDevices

// ParseDevice parses "c MAJOR:MINOR" or "b MAJOR:MINOR".
func ParseDevice(s string) (Device, error) { return emulate.ParseDevice(s) }

// interceptHandlers adds the handlers of r's intercepts to m:
// emulate.Mknod for mknod and mknodat, emulate.Sysinfo for sysinfo. A call
// that r.Syscalls names keeps its action: it is not intercepted.
func interceptHandlers(m *seccompstream.Mux, r *Rules) {
	handle := func(name string, h seccompstream.Handler) {
		if _, named := r.Syscalls[name]; !named && seccompstream.KnownSyscall(name) {
			m.Handle(name, h)
		}
	}
	if ic, ok := r.Intercepts[InterceptMknod]; ok {
		h := emulate.Mknod(ic.Devices)
		handle("mknod", h)
		handle("mknodat", h)
	}
	if _, ok := r.Intercepts[InterceptSysinfo]; ok {
		handle("sysinfo", emulate.Sysinfo())
	}
}

// interceptedNames are the system calls the intercepts take, for Filter.
func interceptedNames(intercepts map[string]Intercept) []string {
	var names []string
	if _, ok := intercepts[InterceptMknod]; ok {
		names = append(names, "mknod", "mknodat")
	}
	if _, ok := intercepts[InterceptSysinfo]; ok {
		names = append(names, "sysinfo")
	}
	return names
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
// sorted.
func (p *Policy) InterceptNames() []string {
	names := slices.Collect(maps.Keys(p.Rules.Intercepts))
	for _, cr := range p.Containers {
		names = append(names, slices.Collect(maps.Keys(cr.Intercepts))...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
