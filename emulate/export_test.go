package emulate

import "time"

// Exported for the tests of package emulate_test.
var (
	LetThrough = letThrough
	CutSelf    = cutSelf
)

// IDMap exposes the id map parser and its two directions.
func IDMap(text string, id uint32) (to, from uint32, ok bool, err error) {
	m, err := parseIDMap([]byte(text))
	if err != nil {
		return 0, 0, false, err
	}
	from, ok = fromCaller(m, id)
	return toCaller(m, id), from, ok, nil
}

// Test access to the cgroup reading and the struct encodings.
var (
	LocateCgroups = locateCgroups
	ReadMemory    = func(c cgroups) (limit, usage uint64, swapLimit int64, swapUsage uint64) {
		f := c.memory()
		return f.limit, f.usage, f.swapLimit, f.swapUsage
	}
)

type SysinfoValues = sysinfoValues

func NewSysinfoValues(total, free, swap uint64, procs uint16, uptime int64) *SysinfoValues {
	return &sysinfoValues{totalram: total, freeram: free, totalswap: swap, freeswap: swap, procs: procs, uptime: uptime, memUnit: 1}
}

func (v *SysinfoValues) Encode(arch uint32) []byte { return v.encode(arch) }

// StartCache runs sysinfo's cached cgroup start lookup with scan and the
// clock now.
func StartCache(scan func(string) (int64, bool), now func() time.Time) func(dir string) (int64, bool) {
	s := newSysinfo("")
	s.scan, s.now = scan, now
	return s.startOf
}
