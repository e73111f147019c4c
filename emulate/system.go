package emulate

import "slices"

// systemPaths are the paths of SystemPaths, in the order they are
// documented there.
var systemPaths = []string{
	// The dynamic loader's libraries and its configuration.
	"/lib", "/lib32", "/lib64", "/libx32",
	"/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libx32", "/usr/local/lib",
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ld.so.preload",
	// Locales, character sets and time zones.
	"/usr/share/locale", "/usr/share/i18n", "/etc/locale.alias",
	"/usr/share/zoneinfo", "/etc/localtime", "/etc/timezone",
	// User and group names, as ls -l and id look them up.
	"/etc/nsswitch.conf", "/etc/passwd", "/etc/group",
	// Terminal descriptions.
	"/usr/share/terminfo", "/etc/terminfo",
	// What the C library and libselinux read about the machine: the
	// file systems the kernel knows and the CPUs online.
	"/proc/filesystems", "/sys/devices/system/cpu",
	// The devices that anybody may use.
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
}

// SystemPaths returns the read paths that the "@system" shorthand of the
// seccomp-stream command (and of policy files) stands for: what a
// dynamically linked program reads before its own work, so that nobody
// has to list it by hand. Paths that do not exist on a machine grant
// nothing there.
//
//	/lib /lib32 /lib64 /libx32 /usr/lib /usr/lib32 /usr/lib64
//	/usr/libx32 /usr/local/lib      the loader's libraries (also gconv
//	                                modules, /usr/lib/locale)
//	/etc/ld.so.cache /etc/ld.so.conf /etc/ld.so.conf.d /etc/ld.so.preload
//	                                the loader's configuration
//	/usr/share/locale /usr/share/i18n /etc/locale.alias
//	                                locales and character sets
//	/usr/share/zoneinfo /etc/localtime /etc/timezone
//	                                time zones
//	/etc/nsswitch.conf /etc/passwd /etc/group
//	                                user and group names
//	/usr/share/terminfo /etc/terminfo
//	                                terminal descriptions
//	/proc/filesystems /sys/devices/system/cpu
//	                                the file systems the kernel knows,
//	                                the CPUs online (libselinux, get_nprocs)
//	/dev/null /dev/zero /dev/full /dev/random /dev/urandom
//	                                devices anybody may use
//
// The devices may be opened for writing too: a device node at a readable
// location may always be (see the package documentation), and writing to
// these changes no file. Nothing else below /dev, /proc or /sys is
// included (and nothing of /proc/self: see the package documentation),
// nor the program's own files.
func SystemPaths() []string { return slices.Clone(systemPaths) }
