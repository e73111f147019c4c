package emulate

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// idMaps translate user and group ids between the supervisor's user
// namespace and the caller's, as the kernel does for the caller: stat
// results show ids as the caller's namespace maps them, and ids the caller
// passes (chown) mean what its namespace maps them to. A caller in the
// supervisor's user namespace needs none (nil).
type idMaps struct {
	uid, gid []idRange
}

// idRange is one line of /proc/<pid>/uid_map as the supervisor reads it:
// ids inside..inside+count-1 of the caller are outside.. of the
// supervisor.
type idRange struct{ inside, outside, count uint32 }

// overflowID is what an id with no mapping reads as (overflowuid and
// overflowgid).
const overflowID = 65534

// ids returns the caller's id maps, nil for a caller in the supervisor's
// user namespace.
func (c *call) ids() (*idMaps, error) {
	t, err := c.target()
	if err != nil {
		return nil, err
	}
	cr, err := t.Creds()
	if err != nil {
		return nil, err
	}
	if cr.SameUserNS {
		return nil, nil
	}
	m := new(idMaps)
	for _, f := range []struct {
		name string
		dst  *[]idRange
	}{{"uid_map", &m.uid}, {"gid_map", &m.gid}} {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(c.n.PID) + "/" + f.name)
		if err != nil {
			return nil, fmt.Errorf("emulate: reading the id map of %d: %w", c.n.PID, err)
		}
		if *f.dst, err = parseIDMap(b); err != nil {
			return nil, fmt.Errorf("emulate: /proc/%d/%s: %w", c.n.PID, f.name, err)
		}
	}
	// The file belonged to the caller only if the call is still pending.
	if !c.n.Valid() {
		return nil, unix.ENOENT
	}
	return m, nil
}

func parseIDMap(b []byte) ([]idRange, error) {
	var out []idRange
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("bad line %q", line)
		}
		var v [3]uint32
		for i, s := range f {
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("bad line %q: %w", line, err)
			}
			v[i] = uint32(n)
		}
		out = append(out, idRange{inside: v[0], outside: v[1], count: v[2]})
	}
	return out, nil
}

// toCaller maps an id of the supervisor's namespace into the caller's.
func toCaller(m []idRange, id uint32) uint32 {
	for _, r := range m {
		if id >= r.outside && id-r.outside < r.count {
			return r.inside + (id - r.outside)
		}
	}
	return overflowID
}

// fromCaller maps an id of the caller's namespace into the supervisor's.
func fromCaller(m []idRange, id uint32) (uint32, bool) {
	for _, r := range m {
		if id >= r.inside && id-r.inside < r.count {
			return r.outside + (id - r.inside), true
		}
	}
	return 0, false
}

// uidOut and gidOut map ids the kernel reports to the supervisor into the
// caller's namespace.
func (m *idMaps) uidOut(id uint32) uint32 {
	if m == nil {
		return id
	}
	return toCaller(m.uid, id)
}

func (m *idMaps) gidOut(id uint32) uint32 {
	if m == nil {
		return id
	}
	return toCaller(m.gid, id)
}

// chownIDs maps the ids a caller passes to chown into the supervisor's
// namespace; -1 (unchanged) stays -1, an id with no mapping is EINVAL.
func (m *idMaps) chownIDs(uid, gid int) (int, int, error) {
	if m == nil {
		return uid, gid, nil
	}
	mapOne := func(r []idRange, id int) (int, error) {
		if id == -1 {
			return -1, nil
		}
		out, ok := fromCaller(r, uint32(id))
		if !ok {
			return 0, unix.EINVAL
		}
		return int(out), nil
	}
	u, err := mapOne(m.uid, uid)
	if err != nil {
		return 0, 0, err
	}
	g, err := mapOne(m.gid, gid)
	return u, g, err
}
