package emulate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/internal/procstatus"
	"github.com/seccompstream/seccompstream/internal/sysnames"
)

// Sysinfo returns a Handler for sysinfo(2) that answers from the caller's
// cgroup instead of the host: total and free memory from the cgroup's
// memory limit (the smallest of it and its ancestors') and usage, swap
// from its swap limit and usage, the process count from its pids
// controller, and the uptime since the oldest process in the cgroup
// started (the container's start). Load averages are the host's; where the
// cgroup sets no limit, the host's figures stand. The uptime of a cgroup
// is computed at most once a second (it reads the start of every process
// in it), so a container calling sysinfo in a loop does not make the
// supervisor read its processes at that rate.
//
// Both cgroup v2 (the unified hierarchy at /sys/fs/cgroup, or at
// /sys/fs/cgroup/unified on a hybrid machine) and v1 (the memory and pids
// hierarchies) are read; a v1 memory controller the caller is in wins, as
// runtimes put limits there on hybrid machines. The supervisor must see the
// host's cgroup tree (the initial cgroup namespace, or the host's
// /sys/fs/cgroup): it reads the caller's cgroup from /proc/<tid>/cgroup.
//
// The answer is written into the caller's buffer in the caller's ABI: the
// 64-bit struct sysinfo (112 bytes) for callers of a 64-bit ABI (x86_64,
// x32, aarch64), the 32-bit one (64 bytes, 32-bit fields, with mem_unit
// scaled as the kernel does) for callers of a 32-bit ABI (i386, arm). Writing the caller's memory is what the call itself does;
// the buffer is the caller's to race on (see Memory.UnsafeWriteAt).
func Sysinfo() seccompstream.Handler { return newSysinfo("/sys/fs/cgroup") }

func newSysinfo(cgroupRoot string) *sysinfo {
	return &sysinfo{cgroupRoot: cgroupRoot, scan: oldestStart, now: time.Now, starts: make(map[string]cgroupStart)}
}

type sysinfo struct {
	cgroupRoot string

	// The uptime needs the start of every process in the cgroup (up to
	// 4096 files read): a container calling sysinfo in a loop would make
	// the agent, which serves every container of the node, do that at the
	// rate of its calls. Each cgroup's answer is kept for startTTL.
	scan   func(dir string) (int64, bool)
	now    func() time.Time
	mu     sync.Mutex
	starts map[string]cgroupStart // by cgroup directory
}

// cgroupStart is a cgroup's oldest process start, as scanned at "at".
type cgroupStart struct {
	start int64
	ok    bool
	at    time.Time
}

// Bounds of the cache of cgroup start times.
const (
	startTTL       = time.Second
	maxStartsCache = 4096
)

// startOf returns the start of the oldest process in the cgroup directory
// dir (see oldestStart), scanning it at most once per startTTL.
func (s *sysinfo) startOf(dir string) (int64, bool) {
	if dir == "" {
		return 0, false
	}
	now := s.now()
	s.mu.Lock()
	c, hit := s.starts[dir]
	s.mu.Unlock()
	if hit && now.Sub(c.at) < startTTL {
		return c.start, c.ok
	}
	start, ok := s.scan(dir)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.starts) >= maxStartsCache {
		for k, v := range s.starts {
			if now.Sub(v.at) >= startTTL {
				delete(s.starts, k)
			}
		}
		if len(s.starts) >= maxStartsCache {
			clear(s.starts)
		}
	}
	s.starts[dir] = cgroupStart{start: start, ok: ok, at: now}
	return start, ok
}

// sysinfoValues are the fields of struct sysinfo, in bytes.
type sysinfoValues struct {
	uptime                       int64
	loads                        [3]uint64
	totalram, freeram            uint64
	sharedram, bufferram         uint64
	totalswap, freeswap          uint64
	procs                        uint16
	totalhigh, freehigh, memUnit uint64
}

func (s *sysinfo) ServeNotification(ctx context.Context, n *seccompstream.Notification) seccompstream.Response {
	if n.SyscallName() != "sysinfo" {
		return seccompstream.Errno(unix.ENOSYS)
	}
	v, err := s.values(n)
	if err != nil {
		return seccompstream.Error(err)
	}
	buf := v.encode(n.Arch)
	m, err := n.OpenMemory()
	if err != nil {
		return seccompstream.Error(err)
	}
	defer m.Close()
	if _, err := m.UnsafeWriteAt(buf, n.Args[0]); err != nil {
		return seccompstream.Errno(unix.EFAULT)
	}
	return seccompstream.Return(0)
}

// values computes the answer for the caller of n.
func (s *sysinfo) values(n *seccompstream.Notification) (*sysinfoValues, error) {
	var host unix.Sysinfo_t
	if err := unix.Sysinfo(&host); err != nil {
		return nil, err
	}
	unit := uint64(max(host.Unit, 1))
	v := &sysinfoValues{
		uptime:    host.Uptime,
		loads:     [3]uint64{host.Loads[0], host.Loads[1], host.Loads[2]},
		totalram:  host.Totalram * unit,
		freeram:   host.Freeram * unit,
		sharedram: host.Sharedram * unit,
		bufferram: host.Bufferram * unit,
		totalswap: host.Totalswap * unit,
		freeswap:  host.Freeswap * unit,
		procs:     host.Procs,
		memUnit:   1,
	}
	if n.PID == 0 {
		return v, nil // the caller is not visible: the host's figures
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", n.PID))
	if err != nil {
		return nil, err
	}
	if !n.Valid() {
		return nil, seccompstream.ErrGone // the pid may be another process's now
	}
	cg := locateCgroups(s.cgroupRoot, data)
	mem := cg.memory()
	if mem.limit > 0 && mem.limit < v.totalram {
		v.totalram = mem.limit
		v.freeram = mem.limit - min(mem.usage, mem.limit)
		v.sharedram, v.bufferram = 0, 0
	}
	if mem.swapLimit >= 0 && uint64(mem.swapLimit) < v.totalswap {
		v.totalswap = uint64(mem.swapLimit)
		v.freeswap = v.totalswap - min(mem.swapUsage, v.totalswap)
	}
	if pids, ok := readUint(cg.pidsDir, "pids.current"); ok {
		v.procs = uint16(min(pids, math.MaxUint16))
	}
	if start, ok := s.startOf(cg.procsDir); ok {
		v.uptime = max(host.Uptime-start, 0)
	}
	return v, nil
}

// cgroups are the directories of a process's cgroups.
type cgroups struct {
	memDir   string // a v1 memory or v2 directory, "" if unknown
	v1Memory bool
	memTop   string // the hierarchy's root directory
	pidsDir  string
	procsDir string
}

// locateCgroups finds the directories under root of the cgroups listed in
// a /proc/<pid>/cgroup file.
func locateCgroups(root string, procCgroup []byte) cgroups {
	var c cgroups
	v2 := filepath.Join(root, "unified")
	if isCgroup2(root) {
		v2 = root
	}
	var v2Path string
	sc := bufio.NewScanner(bytes.NewReader(procCgroup))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") || slices.Contains(strings.Split(parts[2], "/"), "..") {
			// A cgroup outside the reader's cgroup namespace is shown
			// as "/../..": its directory is not under root (an agent in
			// a private cgroup namespace), so its files are unknown.
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2Path = parts[2]
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			switch ctrl {
			case "memory":
				c.memTop = filepath.Join(root, "memory")
				c.memDir, c.v1Memory = filepath.Join(c.memTop, parts[2]), true
			case "pids":
				c.pidsDir = filepath.Join(root, "pids", parts[2])
			}
		}
	}
	if v2Path != "" {
		dir := filepath.Join(v2, v2Path)
		if c.memDir == "" {
			c.memTop, c.memDir = v2, dir
		}
		if c.pidsDir == "" {
			c.pidsDir = dir
		}
		c.procsDir = dir
	}
	if c.v1Memory {
		c.procsDir = c.memDir
	}
	return c
}

func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// memoryFigures are a cgroup's memory limit and usage; 0 limit means none.
type memoryFigures struct {
	limit, usage uint64
	swapLimit    int64 // -1: none
	swapUsage    uint64
}

// memory reads the memory figures of c, the limit being the smallest of
// the cgroup's and its ancestors'.
func (c cgroups) memory() memoryFigures {
	f := memoryFigures{swapLimit: -1}
	if c.memDir == "" {
		return f
	}
	limitFile, usageFile := "memory.max", "memory.current"
	if c.v1Memory {
		limitFile, usageFile = "memory.limit_in_bytes", "memory.usage_in_bytes"
	}
	for dir := c.memDir; ; dir = filepath.Dir(dir) {
		if l, ok := readUint(dir, limitFile); ok && l > 0 && l < 1<<62 && (f.limit == 0 || l < f.limit) {
			f.limit = l
		}
		if dir == c.memTop || len(dir) <= len(c.memTop) || dir == "/" {
			break
		}
	}
	f.usage, _ = readUint(c.memDir, usageFile)
	if c.v1Memory {
		// memsw is memory plus swap.
		if sw, ok := readUint(c.memDir, "memory.memsw.limit_in_bytes"); ok && sw < 1<<62 && f.limit > 0 && sw >= f.limit {
			f.swapLimit = int64(sw - f.limit)
			if u, ok := readUint(c.memDir, "memory.memsw.usage_in_bytes"); ok {
				f.swapUsage = u - min(u, f.usage)
			}
		}
	} else if sw, ok := readUint(c.memDir, "memory.swap.max"); ok && sw < 1<<62 {
		f.swapLimit = int64(sw)
		f.swapUsage, _ = readUint(c.memDir, "memory.swap.current")
	}
	return f
}

// readUint reads a cgroup file holding one number; "max" is not one.
func readUint(dir, name string) (uint64, bool) {
	if dir == "" {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

// userHZ is the unit of /proc/<pid>/stat's start time (USER_HZ, 100 on
// every architecture Linux runs Go on).
const userHZ = 100

// oldestStart returns the start time, in seconds since boot, of the oldest
// process in the cgroup directory dir.
func oldestStart(dir string) (int64, bool) {
	if dir == "" {
		return 0, false
	}
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return 0, false
	}
	oldest, found := int64(math.MaxInt64), false
	for i, f := range strings.Fields(string(procs)) {
		if i >= 4096 {
			break
		}
		stat, err := os.ReadFile("/proc/" + f + "/stat")
		if err != nil {
			continue
		}
		ticks, ok := procstatus.StartTime(stat)
		if ok && ticks/userHZ < oldest {
			oldest, found = ticks/userHZ, true
		}
	}
	return oldest, found
}

// encode encodes v as struct sysinfo of a caller of the audit
// architecture arch: the 64-bit layout for a 64-bit ABI (x32 included,
// whose calls carry x86_64's arch), the 32-bit one for a 32-bit ABI (i386,
// arm), in the ABI's byte order.
func (v *sysinfoValues) encode(arch uint32) []byte {
	var order binary.ByteOrder = binary.BigEndian
	if sysnames.IsLE(arch) {
		order = binary.LittleEndian
	}
	if sysnames.Is64(arch) {
		return v.native(order)
	}
	return v.compat(order)
}

// native encodes v as the 64-bit struct sysinfo (112 bytes), which every
// 64-bit ABI shares.
func (v *sysinfoValues) native(le binary.ByteOrder) []byte {
	b := make([]byte, 112)
	le.PutUint64(b[0:], uint64(v.uptime))
	for i, l := range v.loads {
		le.PutUint64(b[8+8*i:], l)
	}
	for i, x := range []uint64{v.totalram, v.freeram, v.sharedram, v.bufferram, v.totalswap, v.freeswap} {
		le.PutUint64(b[32+8*i:], x)
	}
	le.PutUint16(b[80:], v.procs)
	le.PutUint64(b[88:], v.totalhigh)
	le.PutUint64(b[96:], v.freehigh)
	le.PutUint32(b[104:], uint32(v.memUnit))
	return b
}

// compat encodes v as the 32-bit struct sysinfo (64 bytes; i386's, arm's,
// the kernel's compat_sysinfo): 32-bit fields, the byte counts in units
// of mem_unit, which is raised as the kernel's compat sysinfo does until
// every count fits.
func (v *sysinfoValues) compat(le binary.ByteOrder) []byte {
	counts := []uint64{v.totalram, v.freeram, v.sharedram, v.bufferram, v.totalswap, v.freeswap, v.totalhigh, v.freehigh}
	unit := uint64(1)
	for {
		fits := true
		for _, c := range counts {
			if c/unit > math.MaxUint32 {
				fits = false
			}
		}
		if fits {
			break
		}
		unit <<= 1
	}
	b := make([]byte, 64)
	le.PutUint32(b[0:], uint32(min(v.uptime, math.MaxInt32)))
	for i, l := range v.loads {
		le.PutUint32(b[4+4*i:], uint32(l))
	}
	for i, c := range counts[:6] {
		le.PutUint32(b[16+4*i:], uint32(c/unit))
	}
	le.PutUint16(b[40:], v.procs)
	le.PutUint32(b[44:], uint32(counts[6]/unit))
	le.PutUint32(b[48:], uint32(counts[7]/unit))
	le.PutUint32(b[52:], uint32(unit))
	return b
}
