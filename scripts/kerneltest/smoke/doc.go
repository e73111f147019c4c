// Package smoke holds a small test of seccomp user notification made with raw
// system calls only. scripts/kernel-test runs it to prove that its pipeline
// (static test binary, initramfs, qemu guest) works, independent of the
// library; its tests also pin down the kernel behaviour the library's
// fallbacks rely on (see shared KERNEL.md), on whichever kernel runs them.
package smoke
