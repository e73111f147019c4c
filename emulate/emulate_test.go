package emulate_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream/emulate"
)

func TestParseDevice(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want emulate.Device
		ok   bool
	}{
		{"c 1:3", emulate.Device{Major: 1, Minor: 3}, true},
		{"b 7:0", emulate.Device{Block: true, Major: 7}, true},
		{" c 10:229 ", emulate.Device{Major: 10, Minor: 229}, true},
		{"c 4096:0", emulate.Device{}, false},
		{"c 1:1048576", emulate.Device{}, false},
		{"p 1:3", emulate.Device{}, false},
		{"c1:3", emulate.Device{}, false},
		{"c 1", emulate.Device{}, false},
	} {
		d, err := emulate.ParseDevice(tc.s)
		if (err == nil) != tc.ok || d != tc.want {
			t.Errorf("ParseDevice(%q) = %v, %v", tc.s, d, err)
		}
		if tc.ok && d.String() != emulate.Device(d).String() {
			t.Errorf("String %q", d)
		}
	}
	if len(emulate.DefaultDevices) != 9 || emulate.DefaultDevices[8].String() != "c 10:229" {
		t.Errorf("DefaultDevices %v", emulate.DefaultDevices)
	}
}

// writeTree writes files (path -> content) under root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCgroupMemory reads a fake hybrid tree (v1 memory, as runc sets it
// there) and a fake unified one: the limit is the smallest on the way to
// the root, swap comes from memsw (v1) or memory.swap.max (v2).
func TestCgroupMemory(t *testing.T) {
	hybrid := t.TempDir()
	writeTree(t, hybrid, map[string]string{
		"memory/memory.limit_in_bytes":              "9223372036854771712\n",
		"memory/pod/memory.limit_in_bytes":          "134217728\n",
		"memory/pod/c1/memory.limit_in_bytes":       "9223372036854771712\n",
		"memory/pod/c1/memory.usage_in_bytes":       "1048576\n",
		"memory/pod/c1/memory.memsw.limit_in_bytes": "9223372036854771712\n",
		"pids/pod/c1/pids.current":                  "3\n",
		"unified/pod/c1/cgroup.procs":               "",
	})
	c := emulate.LocateCgroups(hybrid, []byte("12:pids:/pod/c1\n4:memory:/pod/c1\n1:name=systemd:/pod/c1\n0::/pod/c1\n"))
	limit, usage, swapLimit, _ := emulate.ReadMemory(c)
	if limit != 128<<20 || usage != 1<<20 || swapLimit != -1 {
		t.Errorf("hybrid: limit %d usage %d swap %d; want 128 MiB, 1 MiB, none", limit, usage, swapLimit)
	}

	// A unified tree is recognised by its file system; in a temporary
	// directory the hybrid layout's "unified" is used, so lay it out so.
	unified := t.TempDir()
	writeTree(t, unified, map[string]string{
		"unified/kubepods/memory.max":                "max\n",
		"unified/kubepods/pod/memory.max":            "67108864\n",
		"unified/kubepods/pod/c/memory.max":          "100000000\n",
		"unified/kubepods/pod/c/memory.current":      "4096\n",
		"unified/kubepods/pod/c/memory.swap.max":     "0\n",
		"unified/kubepods/pod/c/memory.swap.current": "0\n",
	})
	c = emulate.LocateCgroups(unified, []byte("0::/kubepods/pod/c\n"))
	limit, usage, swapLimit, _ = emulate.ReadMemory(c)
	if limit != 64<<20 || usage != 4096 || swapLimit != 0 {
		t.Errorf("unified: limit %d usage %d swap %d; want 64 MiB, 4096, 0", limit, usage, swapLimit)
	}
}

// TestSysinfoEncoding: the 64-bit struct is 112 bytes, the i386 one 64,
// with mem_unit raised until the byte counts fit 32 bits.
func TestSysinfoEncoding(t *testing.T) {
	v := emulate.NewSysinfoValues(64<<20, 60<<20, 0, 7, 42)
	b := v.Encode(unix.AUDIT_ARCH_X86_64)
	le := binary.LittleEndian
	if len(b) != 112 || le.Uint64(b[32:]) != 64<<20 || le.Uint64(b[40:]) != 60<<20 || le.Uint16(b[80:]) != 7 ||
		le.Uint64(b[0:]) != 42 || le.Uint32(b[104:]) != 1 {
		t.Errorf("native struct %x", b)
	}
	b = v.Encode(unix.AUDIT_ARCH_I386)
	if len(b) != 64 || le.Uint32(b[16:]) != 64<<20 || le.Uint32(b[52:]) != 1 || le.Uint16(b[40:]) != 7 {
		t.Errorf("i386 struct %x", b)
	}
	big := emulate.NewSysinfoValues(16<<30, 8<<30, 0, 1, 1)
	b = big.Encode(unix.AUDIT_ARCH_I386)
	unit := uint64(le.Uint32(b[52:]))
	if unit < 4 || uint64(le.Uint32(b[16:]))*unit != 16<<30 {
		t.Errorf("16 GiB for i386: totalram %d x mem_unit %d", le.Uint32(b[16:]), unit)
	}
}

// TestSysinfoEncodingABIs: each ABI gets its own struct: the 64-bit one
// for every 64-bit ABI, the 32-bit one for every 32-bit ABI (arm as well
// as i386: 112 bytes written into an arm caller's 64-byte struct would
// overrun it), in the ABI's byte order.
func TestSysinfoEncodingABIs(t *testing.T) {
	v := emulate.NewSysinfoValues(64<<20, 60<<20, 0, 7, 42)
	for _, tc := range []struct {
		name  string
		arch  uint32
		size  int
		order binary.ByteOrder
	}{
		{"x86_64", unix.AUDIT_ARCH_X86_64, 112, binary.LittleEndian},
		{"aarch64", unix.AUDIT_ARCH_AARCH64, 112, binary.LittleEndian},
		{"i386", unix.AUDIT_ARCH_I386, 64, binary.LittleEndian},
		{"arm", unix.AUDIT_ARCH_ARM, 64, binary.LittleEndian},
		{"s390x", unix.AUDIT_ARCH_S390X, 112, binary.BigEndian},
		{"ppc", unix.AUDIT_ARCH_PPC, 64, binary.BigEndian},
	} {
		b := v.Encode(tc.arch)
		if len(b) != tc.size {
			t.Errorf("%s: %d bytes, want %d", tc.name, len(b), tc.size)
			continue
		}
		total := uint64(tc.order.Uint32(b[16:]))
		procs := tc.order.Uint16(b[40:])
		if tc.size == 112 {
			total, procs = tc.order.Uint64(b[32:]), tc.order.Uint16(b[80:])
		}
		if total != 64<<20 || procs != 7 {
			t.Errorf("%s: totalram %d procs %d, want %d and 7", tc.name, total, procs, 64<<20)
		}
	}
}

// TestCgroupOutsideNamespace: a cgroup that /proc/<pid>/cgroup shows
// relative to a cgroup namespace it is outside of ("/../../x", as for an
// agent in a private cgroup namespace) is not read at all: joined to the
// cgroup root it would name a directory outside it.
func TestCgroupOutsideNamespace(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"kubepods/pod/c/memory.max":     "1048576\n",
		"kubepods/pod/c/memory.current": "4096\n",
		"root/unified/memory.max":       "max\n",
	})
	c := emulate.LocateCgroups(filepath.Join(dir, "root"), []byte("0::/../../kubepods/pod/c\n"))
	if limit, usage, _, _ := emulate.ReadMemory(c); limit != 0 || usage != 0 {
		t.Errorf("a cgroup outside the namespace: limit %d usage %d read from outside the cgroup root; want none", limit, usage)
	}
}

// TestSysinfoStartCache: a cgroup's processes are scanned for the uptime
// at most once a second, however often its processes call sysinfo.
func TestSysinfoStartCache(t *testing.T) {
	scans := map[string]int{}
	now := time.Unix(1000, 0)
	startOf := emulate.StartCache(func(dir string) (int64, bool) {
		scans[dir]++
		return int64(len(dir)), true
	}, func() time.Time { return now })
	for range 1000 {
		if start, ok := startOf("/sys/fs/cgroup/pod/c"); !ok || start != 20 {
			t.Fatalf("start %d %v", start, ok)
		}
	}
	startOf("/sys/fs/cgroup/pod/d")
	now = now.Add(1100 * time.Millisecond)
	startOf("/sys/fs/cgroup/pod/c")
	if scans["/sys/fs/cgroup/pod/c"] != 2 || scans["/sys/fs/cgroup/pod/d"] != 1 {
		t.Errorf("scans %v: want one per cgroup per second", scans)
	}
	if _, ok := startOf(""); ok {
		t.Error("a cgroup without a directory has a start")
	}
}
