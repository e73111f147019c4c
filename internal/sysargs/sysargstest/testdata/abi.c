/*
 * A 64-bit x86 program that makes native calls and i386 calls (int $0x80)
 * whose arguments the sysargs tests decode. Built non-PIE, so that its
 * static buffers sit below 4 GiB where 32-bit pointers reach them.
 *
 * Usage: abi [--native] PATH. Exits 0 when every call gave the expected
 * result. With --native it stops after the native calls.
 *
 * Also: "abi i386 NR" makes the one i386 call NR (int $0x80, no
 * arguments), "abi x32 NR" the one x32 call NR (the syscall instruction
 * with the x32 bit set), and print the raw result.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* i386 numbers (arch/x86/entry/syscalls/syscall_32.tbl). */
enum {
	NR32_write = 4, NR32_open = 5, NR32_close = 6, NR32_getpid = 20,
	NR32_mmap = 90, NR32_munmap = 91, NR32_socketcall = 102,
	NR32_rt_sigaction = 174, NR32_mmap2 = 192,
};

static char path32[4096];
static char msg32[] = "hello\n";
static unsigned int mmap_args32[6];
static unsigned int socket_args32[3];
static unsigned int connect_args32[3];
static unsigned char sin32[16];
static unsigned int sigaction32[5];

/* sys32 makes an i386 system call with up to six arguments. */
static long sys32(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	__asm__ volatile(
		"push %%rbp\n\t"
		"mov %[f], %%rbp\n\t"
		"int $0x80\n\t"
		"pop %%rbp"
		: "=a"(ret)
		: "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e), [f] "r"(f)
		: "memory", "cc");
	return (int)ret; /* the i386 result is 32 bits wide */
}

static int fail(const char *what, long got)
{
	fprintf(stderr, "abi: %s returned %ld\n", what, got);
	return 1;
}

int main(int argc, char **argv)
{
	long r;
	void *p;
	struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } sa64 = { SIG_IGN, 0, 0, 0 };

	if (argc == 3 && strcmp(argv[1], "i386") == 0) {
		printf("%ld\n", sys32(strtol(argv[2], 0, 0), 0, 0, 0, 0, 0, 0));
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "x32") == 0) {
		long nr = strtol(argv[2], 0, 0) | 0x40000000L;
		__asm__ volatile("syscall" : "=a"(r) : "a"(nr) : "rcx", "r11", "memory");
		printf("%ld\n", r);
		return 0;
	}
	int native = argc == 3 && strcmp(argv[1], "--native") == 0;
	const char *path = argv[argc - 1];

	if ((argc != 2 && !native) || strlen(path) >= sizeof(path32))
		return 2;
	strcpy(path32, path);

	/* Native calls. */
	p = (void *)syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return fail("mmap", -1);
	if ((r = syscall(SYS_mprotect, p, 4096, PROT_READ)) != 0)
		return fail("mprotect", r);
	if ((r = syscall(SYS_rt_sigaction, SIGINT, &sa64, 0, 8)) != 0)
		return fail("rt_sigaction", r);
	if ((r = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC)) < 0)
		return fail("openat", r);
	close(r);
	if (native)
		return 0;

	/* i386 calls. */
	if ((r = sys32(NR32_getpid, 0, 0, 0, 0, 0, 0)) != getpid())
		return fail("i386 getpid", r);
	if ((r = sys32(NR32_write, 1, (long)msg32, 6, 0, 0, 0)) != 6)
		return fail("i386 write", r);
	if ((r = sys32(NR32_open, (long)path32, O_RDONLY, 0, 0, 0, 0)) < 0)
		return fail("i386 open", r);
	sys32(NR32_close, r, 0, 0, 0, 0, 0);
	r = sys32(NR32_mmap2, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r < 0 && r > -4096)
		return fail("i386 mmap2", r);
	sys32(NR32_munmap, r, 4096, 0, 0, 0, 0);
	mmap_args32[0] = 0;
	mmap_args32[1] = 8192;
	mmap_args32[2] = PROT_READ;
	mmap_args32[3] = MAP_PRIVATE | MAP_ANONYMOUS;
	mmap_args32[4] = -1;
	mmap_args32[5] = 0;
	r = sys32(NR32_mmap, (long)mmap_args32, 0, 0, 0, 0, 0);
	if (r < 0 && r > -4096)
		return fail("i386 mmap", r);
	sigaction32[0] = 1; /* SIG_IGN */
	if ((r = sys32(NR32_rt_sigaction, SIGINT, (long)sigaction32, 0, 8, 0, 0)) != 0)
		return fail("i386 rt_sigaction", r);
	socket_args32[0] = 2; /* AF_INET */
	socket_args32[1] = 1; /* SOCK_STREAM */
	socket_args32[2] = 0;
	if ((r = sys32(NR32_socketcall, 1 /* SYS_SOCKET */, (long)socket_args32, 0, 0, 0, 0)) < 0)
		return fail("i386 socketcall(SYS_SOCKET)", r);
	sin32[0] = 2;                 /* sin_family AF_INET, little-endian */
	sin32[2] = 0, sin32[3] = 9;   /* port 9, big-endian */
	sin32[4] = 127, sin32[7] = 1; /* 127.0.0.1 */
	connect_args32[0] = r;
	connect_args32[1] = (unsigned int)(long)sin32;
	connect_args32[2] = sizeof(sin32);
	sys32(NR32_socketcall, 3 /* SYS_CONNECT */, (long)connect_args32, 0, 0, 0, 0); /* refused: fine */
	return 0;
}
