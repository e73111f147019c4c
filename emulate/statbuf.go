package emulate

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// The layouts of the structs that stat-like calls fill, per ABI. The
// kernel writes them field by field; these encoders write the same fields
// at the same offsets, with padding zeroed, in the machine's byte order
// (every ABI a kernel runs has the byte order of its native one).

var ne = binary.NativeEndian

// statLayout returns the size of the struct stat that the call name fills
// on abi, or 0 when Files does not encode it: x86_64 and x32 (struct stat,
// 144 bytes), the 64-bit ABIs with the generic layout (aarch64, riscv64,
// loongarch64: 128 bytes), and i386's struct stat64 (96 bytes, for stat64,
// lstat64 and fstatat64). i386's old stat and lstat (16-bit fields) are
// not encoded: glibc uses stat64 or statx there.
func statLayout(abi, name string) int {
	switch abi {
	case "x86_64", "x32":
		return 144
	case "aarch64", "riscv64", "loongarch64":
		return 128
	case "i386":
		switch name {
		case "stat64", "lstat64", "fstatat64":
			return 96
		}
	}
	return 0
}

// encodeStat returns st in the struct stat of abi (see statLayout), with
// the owner's ids mapped into the caller's user namespace.
func encodeStat(abi, name string, st *unix.Stat_t, ids *idMaps) []byte {
	uid, gid := ids.uidOut(st.Uid), ids.gidOut(st.Gid)
	switch statLayout(abi, name) {
	case 144:
		b := make([]byte, 144)
		ne.PutUint64(b[0:], st.Dev)
		ne.PutUint64(b[8:], st.Ino)
		ne.PutUint64(b[16:], uint64(st.Nlink))
		ne.PutUint32(b[24:], st.Mode)
		ne.PutUint32(b[28:], uid)
		ne.PutUint32(b[32:], gid)
		ne.PutUint64(b[40:], st.Rdev)
		ne.PutUint64(b[48:], uint64(st.Size))
		ne.PutUint64(b[56:], uint64(st.Blksize))
		ne.PutUint64(b[64:], uint64(st.Blocks))
		putTimes64(b[72:], st)
		return b
	case 128:
		b := make([]byte, 128)
		ne.PutUint64(b[0:], st.Dev)
		ne.PutUint64(b[8:], st.Ino)
		ne.PutUint32(b[16:], st.Mode)
		ne.PutUint32(b[20:], uint32(st.Nlink))
		ne.PutUint32(b[24:], uid)
		ne.PutUint32(b[28:], gid)
		ne.PutUint64(b[32:], st.Rdev)
		ne.PutUint64(b[48:], uint64(st.Size))
		ne.PutUint32(b[56:], uint32(st.Blksize))
		ne.PutUint64(b[64:], uint64(st.Blocks))
		putTimes64(b[72:], st)
		return b
	case 96:
		// arch/x86/include/asm/ia32.h, struct stat64 (packed).
		b := make([]byte, 96)
		ne.PutUint64(b[0:], st.Dev)
		ne.PutUint32(b[12:], uint32(st.Ino))
		ne.PutUint32(b[16:], st.Mode)
		ne.PutUint32(b[20:], uint32(st.Nlink))
		ne.PutUint32(b[24:], uid)
		ne.PutUint32(b[28:], gid)
		ne.PutUint64(b[32:], st.Rdev)
		ne.PutUint64(b[44:], uint64(st.Size))
		ne.PutUint32(b[52:], uint32(st.Blksize))
		ne.PutUint64(b[56:], uint64(st.Blocks))
		for i, ts := range []unix.Timespec{st.Atim, st.Mtim, st.Ctim} {
			ne.PutUint32(b[64+8*i:], uint32(ts.Sec))
			ne.PutUint32(b[68+8*i:], uint32(ts.Nsec))
		}
		ne.PutUint64(b[88:], st.Ino)
		return b
	}
	return nil
}

// putTimes64 writes atime, mtime and ctime as three pairs of 64-bit
// seconds and nanoseconds.
func putTimes64(b []byte, st *unix.Stat_t) {
	for i, ts := range []unix.Timespec{st.Atim, st.Mtim, st.Ctim} {
		ne.PutUint64(b[16*i:], uint64(ts.Sec))
		ne.PutUint64(b[16*i+8:], uint64(ts.Nsec))
	}
}

// statxSize is the size of struct statx, the same on every ABI.
const statxSize = 256

// encodeStatx returns st as struct statx, with the owner's ids mapped into
// the caller's user namespace.
func encodeStatx(st *unix.Statx_t, ids *idMaps) []byte {
	b := make([]byte, statxSize)
	ne.PutUint32(b[0:], st.Mask)
	ne.PutUint32(b[4:], st.Blksize)
	ne.PutUint64(b[8:], st.Attributes)
	ne.PutUint32(b[16:], st.Nlink)
	ne.PutUint32(b[20:], ids.uidOut(st.Uid))
	ne.PutUint32(b[24:], ids.gidOut(st.Gid))
	ne.PutUint16(b[28:], st.Mode)
	ne.PutUint64(b[32:], st.Ino)
	ne.PutUint64(b[40:], st.Size)
	ne.PutUint64(b[48:], st.Blocks)
	ne.PutUint64(b[56:], st.Attributes_mask)
	for i, ts := range []unix.StatxTimestamp{st.Atime, st.Btime, st.Ctime, st.Mtime} {
		ne.PutUint64(b[64+16*i:], uint64(ts.Sec))
		ne.PutUint32(b[72+16*i:], ts.Nsec)
	}
	ne.PutUint32(b[128:], st.Rdev_major)
	ne.PutUint32(b[132:], st.Rdev_minor)
	ne.PutUint32(b[136:], st.Dev_major)
	ne.PutUint32(b[140:], st.Dev_minor)
	ne.PutUint64(b[144:], st.Mnt_id)
	ne.PutUint32(b[152:], st.Dio_mem_align)
	ne.PutUint32(b[156:], st.Dio_offset_align)
	ne.PutUint64(b[160:], st.Subvol)
	ne.PutUint32(b[168:], st.Atomic_write_unit_min)
	ne.PutUint32(b[172:], st.Atomic_write_unit_max)
	ne.PutUint32(b[176:], st.Atomic_write_segments_max)
	ne.PutUint32(b[180:], st.Dio_read_offset_align)
	ne.PutUint32(b[184:], st.Atomic_write_unit_max_opt)
	return b
}

// statfsLayout returns the size of the struct statfs that the call name
// fills on abi, or 0 when Files does not encode it: the 64-bit ABIs'
// struct statfs (120 bytes; x32 shares x86_64's) and i386's struct
// statfs64 (84 bytes, statfs64). i386's statfs (32-bit counts) is not
// encoded: glibc uses statfs64.
func statfsLayout(abi, name string) int {
	switch abi {
	case "x86_64", "x32", "aarch64", "riscv64", "loongarch64":
		return 120
	case "i386":
		if name == "statfs64" {
			return 84
		}
	}
	return 0
}

// encodeStatfs returns st in the struct statfs of abi (see statfsLayout).
func encodeStatfs(abi, name string, st *unix.Statfs_t) []byte {
	switch statfsLayout(abi, name) {
	case 120:
		b := make([]byte, 120)
		for i, v := range []uint64{uint64(st.Type), uint64(st.Bsize), st.Blocks, st.Bfree, st.Bavail, st.Files, st.Ffree} {
			ne.PutUint64(b[8*i:], v)
		}
		ne.PutUint32(b[56:], uint32(st.Fsid.Val[0]))
		ne.PutUint32(b[60:], uint32(st.Fsid.Val[1]))
		ne.PutUint64(b[64:], uint64(st.Namelen))
		ne.PutUint64(b[72:], uint64(st.Frsize))
		ne.PutUint64(b[80:], uint64(st.Flags))
		return b
	case 84:
		// arch/x86/include/uapi/asm/statfs.h: struct statfs64, packed and
		// 4-aligned.
		b := make([]byte, 84)
		ne.PutUint32(b[0:], uint32(st.Type))
		ne.PutUint32(b[4:], uint32(st.Bsize))
		for i, v := range []uint64{st.Blocks, st.Bfree, st.Bavail, st.Files, st.Ffree} {
			ne.PutUint64(b[8+8*i:], v)
		}
		ne.PutUint32(b[48:], uint32(st.Fsid.Val[0]))
		ne.PutUint32(b[52:], uint32(st.Fsid.Val[1]))
		ne.PutUint32(b[56:], uint32(st.Namelen))
		ne.PutUint32(b[60:], uint32(st.Frsize))
		ne.PutUint32(b[64:], uint32(st.Flags))
		return b
	}
	return nil
}
