// helper: the programs the emulate tests run under a file policy.
//
//   helper cat PATH...           print each file, or "PATH: ERRNO" (exit 1 if one failed)
//   helper fds PATH N            open PATH N times: each open must return the lowest
//                                free descriptor and add exactly one; print "ok"
//   helper flip A B N            thread 1 flips a path buffer between A and B (same
//                                length); thread 2 opens it and reads N times; print
//                                "a=.. b=.. failed=.." by content ("A" or "B" first byte)
//   helper relink DIR A B N      thread 1 points DIR/link at A or B in a loop
//                                (symlink + rename); thread 2 opens DIR/link and reads
//                                N times; print as flip
//   helper threads DIR N         4 threads each create, write, read, rename, stat and
//                                remove N files in DIR; print "ok"
//   helper fifo FIFO FILE        thread 1 opens FIFO for reading (which waits for a
//                                writer); meanwhile thread 2 opens FILE 10 times, then
//                                FIFO for writing, and writes; print "ok"
//   helper block FIFO            print "opening PID", then open FIFO for reading,
//                                waiting for a writer for ever
//   helper iouring               io_uring_setup; print its errno name
//   helper stat PATH             compare stat, lstat, newfstatat, statx of PATH with
//                                fstat of an open descriptor; print "ok"
//   helper bench open|stat PATH N  time N opens (and closes) or stats of PATH,
//                                one by one; print "median=NS p90=NS" (exit 1 if one failed)
//   helper i386 A B              i386 calls (int $0x80): open, stat64, fstatat64,
//                                statx of A must work (and match a native fstat);
//                                open of B must fail with EACCES; print "ok"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e) {
	switch (e) {
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ELOOP: return "ELOOP";
	case ENOSYS: return "ENOSYS";
	case EXDEV: return "EXDEV";
	case ENOTDIR: return "ENOTDIR";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case EEXIST: return "EEXIST";
	}
	static char buf[32];
	snprintf(buf, sizeof buf, "errno%d", e);
	return buf;
}

static int cat(int argc, char **argv) {
	int rc = 0;
	for (int i = 2; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			printf("%s: %s\n", argv[i], ename(errno));
			rc = 1;
			continue;
		}
		char buf[4096];
		ssize_t n;
		while ((n = read(fd, buf, sizeof buf)) > 0)
			fwrite(buf, 1, n, stdout);
		close(fd);
	}
	return rc;
}

// countFDs counts open descriptors without a file call (fcntl is not one).
static int countFDs(void) {
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static int lowestFree(void) {
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			return fd;
	return -1;
}

static int fds(char **argv) {
	int n = atoi(argv[3]);
	int before = countFDs();
	for (int i = 0; i < n; i++) {
		int want = lowestFree();
		int fd = open(argv[2], O_RDONLY);
		if (fd < 0) {
			printf("open %d: %s\n", i, ename(errno));
			return 1;
		}
		if (fd != want) {
			printf("open %d returned %d, want %d\n", i, fd, want);
			return 1;
		}
		if (countFDs() != before + i + 1) {
			printf("after open %d: %d descriptors, want %d\n", i, countFDs(), before + i + 1);
			return 1;
		}
		if (i % 2 == 1) {
			// close-on-exec only when asked
			if (fcntl(fd, F_GETFD) & FD_CLOEXEC) {
				printf("open %d without O_CLOEXEC got FD_CLOEXEC\n", i);
				return 1;
			}
		}
	}
	int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !(fcntl(fd, F_GETFD) & FD_CLOEXEC)) {
		printf("O_CLOEXEC open: fd %d flags %d\n", fd, fd < 0 ? -1 : fcntl(fd, F_GETFD));
		return 1;
	}
	printf("ok\n");
	return 0;
}

// The race programs.

static char path[4096];
static const char *pa, *pb, *linkdir;
static volatile int stop;

static void *flipper(void *arg) {
	size_t len = strlen(pa);
	// Flip the bytes that differ, one at a time: every mix of the two
	// strings appears.
	while (!stop) {
		for (size_t i = 0; i < len; i++)
			if (pa[i] != pb[i])
				((volatile char *)path)[i] = pb[i];
		for (size_t i = 0; i < len; i++)
			if (pa[i] != pb[i])
				((volatile char *)path)[i] = pa[i];
	}
	return NULL;
}

static void *relinker(void *arg) {
	char tmp[4096], lnk[4096];
	snprintf(tmp, sizeof tmp, "%s/link.tmp", linkdir);
	snprintf(lnk, sizeof lnk, "%s/link", linkdir);
	for (int i = 0; !stop; i++) {
		unlink(tmp);
		if (symlink(i % 2 ? pb : pa, tmp) == 0)
			rename(tmp, lnk);
	}
	return NULL;
}

static int race(void *(*fn)(void *), const char *target, int n) {
	pthread_t th;
	pthread_create(&th, NULL, fn, NULL);
	int a = 0, b = 0, failed = 0;
	for (int i = 0; i < n; i++) {
		int fd = open(target, O_RDONLY);
		if (fd < 0) {
			failed++;
			continue;
		}
		char c = 0;
		if (read(fd, &c, 1) == 1) {
			if (c == 'A')
				a++;
			else if (c == 'B')
				b++;
		}
		close(fd);
	}
	stop = 1;
	pthread_join(th, NULL);
	printf("a=%d b=%d failed=%d\n", a, b, failed);
	return 0;
}

static int flip(char **argv) {
	pa = argv[2], pb = argv[3];
	if (strlen(pa) != strlen(pb) || strlen(pa) >= sizeof path) {
		printf("paths must have the same length\n");
		return 2;
	}
	strcpy(path, pa);
	return race(flipper, path, atoi(argv[4]));
}

static int relink(char **argv) {
	linkdir = argv[2], pa = argv[3], pb = argv[4];
	char lnk[4096];
	snprintf(lnk, sizeof lnk, "%s/link", linkdir);
	unlink(lnk);
	if (symlink(pa, lnk) != 0) {
		printf("symlink: %s\n", ename(errno));
		return 1;
	}
	return race(relinker, lnk, atoi(argv[5]));
}

static const char *tdir;
static int tn;
static volatile int tfail;

static void *worker(void *arg) {
	long id = (long)arg;
	char a[4096], b[4096], buf[64], want[64];
	for (int i = 0; i < tn && !tfail; i++) {
		snprintf(a, sizeof a, "%s/t%ld-%d", tdir, id, i);
		snprintf(b, sizeof b, "%s/t%ld-%d.renamed", tdir, id, i);
		snprintf(want, sizeof want, "thread %ld file %d", id, i);
		int fd = open(a, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, want, strlen(want)) != (ssize_t)strlen(want) || close(fd) != 0) {
			printf("create %s: %s\n", a, ename(errno));
			tfail = 1;
			break;
		}
		if (rename(a, b) != 0) {
			printf("rename %s: %s\n", a, ename(errno));
			tfail = 1;
			break;
		}
		struct stat st;
		if (stat(b, &st) != 0 || st.st_size != (off_t)strlen(want)) {
			printf("stat %s: %s size %lld\n", b, ename(errno), (long long)st.st_size);
			tfail = 1;
			break;
		}
		fd = open(b, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
		if (n < 0 || (buf[n] = 0, strcmp(buf, want) != 0)) {
			printf("read %s: %s\n", b, ename(errno));
			tfail = 1;
			break;
		}
		close(fd);
		if (unlink(b) != 0) {
			printf("unlink %s: %s\n", b, ename(errno));
			tfail = 1;
			break;
		}
	}
	return NULL;
}

static int threads(char **argv) {
	tdir = argv[2], tn = atoi(argv[3]);
	pthread_t th[4];
	for (long i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	if (tfail)
		return 1;
	printf("ok\n");
	return 0;
}

static const char *fifoPath;
static char fifoGot;

static void *fifoReader(void *arg) {
	int fd = open(fifoPath, O_RDONLY);
	if (fd >= 0 && read(fd, &fifoGot, 1) == 1)
		close(fd);
	return NULL;
}

static int fifo(char **argv) {
	fifoPath = argv[2];
	pthread_t th;
	pthread_create(&th, NULL, fifoReader, NULL);
	for (int i = 0; i < 10; i++) {
		int fd = open(argv[3], O_RDONLY);
		if (fd < 0) {
			printf("open %s while the FIFO open waits: %s\n", argv[3], ename(errno));
			return 1;
		}
		close(fd);
	}
	int fd = open(fifoPath, O_WRONLY);
	if (fd < 0 || write(fd, "x", 1) != 1) {
		printf("FIFO for writing: %s\n", ename(errno));
		return 1;
	}
	close(fd);
	pthread_join(th, NULL);
	if (fifoGot != 'x') {
		printf("the reader got %d\n", fifoGot);
		return 1;
	}
	printf("ok\n");
	return 0;
}

static int block(char **argv) {
	printf("opening %d\n", getpid());
	open(argv[2], O_RDONLY);
	printf("open returned: %s\n", ename(errno));
	return 1;
}

static int iouring(void) {
	char params[120] = {0};
	long r = syscall(425 /* __NR_io_uring_setup */, 1, params);
	printf("%s\n", r < 0 ? ename(errno) : "created");
	return 0;
}

static int same(const char *what, struct stat *a, struct stat *b) {
	if (a->st_dev != b->st_dev || a->st_ino != b->st_ino || a->st_mode != b->st_mode ||
	    a->st_nlink != b->st_nlink || a->st_uid != b->st_uid || a->st_gid != b->st_gid ||
	    a->st_size != b->st_size || a->st_blocks != b->st_blocks || a->st_blksize != b->st_blksize ||
	    a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	    a->st_ctim.tv_sec != b->st_ctim.tv_sec || a->st_rdev != b->st_rdev) {
		printf("%s differs from fstat: ino %llu/%llu mode %o/%o size %lld/%lld\n", what,
		       (unsigned long long)a->st_ino, (unsigned long long)b->st_ino, a->st_mode, b->st_mode,
		       (long long)a->st_size, (long long)b->st_size);
		return 0;
	}
	return 1;
}

static int statcmp(char **argv) {
	const char *p = argv[2];
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("open: %s\n", ename(errno));
		return 1;
	}
	struct stat want, got;
	// fstat on a descriptor is not notified: the kernel's own answer. (glibc
	// makes fstat a newfstatat(fd, "", AT_EMPTY_PATH): use the raw call.)
	if (syscall(SYS_fstat, fd, &want) != 0) {
		printf("fstat: %s\n", ename(errno));
		return 1;
	}
	memset(&got, 0xa5, sizeof got);
	if (syscall(SYS_stat, p, &got) != 0 || !same("stat", &got, &want))
		return 1;
	memset(&got, 0xa5, sizeof got);
	if (syscall(SYS_lstat, p, &got) != 0 || !same("lstat", &got, &want))
		return 1;
	memset(&got, 0xa5, sizeof got);
	if (syscall(SYS_newfstatat, AT_FDCWD, p, &got, 0) != 0 || !same("newfstatat", &got, &want))
		return 1;
	memset(&got, 0xa5, sizeof got);
	if (syscall(SYS_newfstatat, fd, "", &got, AT_EMPTY_PATH) != 0 || !same("newfstatat(fd, \"\", AT_EMPTY_PATH)", &got, &want))
		return 1;
	struct statx sx;
	memset(&sx, 0xa5, sizeof sx);
	if (syscall(SYS_statx, AT_FDCWD, p, 0, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0) {
		printf("statx: %s\n", ename(errno));
		return 1;
	}
	if (sx.stx_ino != want.st_ino || sx.stx_size != (uint64_t)want.st_size || sx.stx_mode != want.st_mode ||
	    sx.stx_uid != want.st_uid || sx.stx_nlink != want.st_nlink || sx.stx_mtime.tv_sec != want.st_mtim.tv_sec ||
	    sx.stx_mtime.tv_nsec != (uint32_t)want.st_mtim.tv_nsec || makedev(sx.stx_dev_major, sx.stx_dev_minor) != want.st_dev ||
	    (sx.stx_mask & STATX_BASIC_STATS) != STATX_BASIC_STATS) {
		printf("statx differs from fstat: ino %llu/%llu mask %x\n", (unsigned long long)sx.stx_ino,
		       (unsigned long long)want.st_ino, sx.stx_mask);
		return 1;
	}
	printf("ok\n");
	return 0;
}

static int cmpll(const void *a, const void *b) {
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static int bench(char **argv) {
	int isopen = !strcmp(argv[2], "open");
	const char *p = argv[3];
	int n = atoi(argv[4]);
	if (n < 1)
		n = 1;
	long long *t = calloc(n, sizeof *t);
	struct stat st;
	for (int i = 0; i < n; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (isopen) {
			int fd = open(p, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				printf("open: %s\n", ename(errno));
				return 1;
			}
			close(fd);
		} else if (stat(p, &st) != 0) {
			printf("stat: %s\n", ename(errno));
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[i] = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	}
	qsort(t, n, sizeof *t, cmpll);
	printf("median=%lld p90=%lld\n", t[n / 2], t[n * 9 / 10]);
	return 0;
}

#if defined(__x86_64__)
// i386 calls through int $0x80, with their arguments in static (below 4 GiB:
// the helper is built -no-pie) memory.
static long sys32(long nr, long a, long b, long c, long d, long e) {
	long r;
	__asm__ volatile("push %%rbp\n\tint $0x80\n\tpop %%rbp"
	                 : "=a"(r)
	                 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
	                 : "memory", "r8", "r9", "r10", "r11");
	return r;
}

static char path32a[4096], path32b[4096], empty32[1];
static unsigned char st32[96], stx32[256];

static int i386calls(char **argv) {
	strcpy(path32a, argv[2]);
	strcpy(path32b, argv[3]);
	struct stat want;
	int nfd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (nfd < 0 || syscall(SYS_fstat, nfd, &want) != 0) {
		printf("native open: %s\n", ename(errno));
		return 1;
	}
	long fd = sys32(5 /* open */, (long)path32a, O_RDONLY, 0, 0, 0);
	if (fd < 0) {
		printf("i386 open %s: %s\n", path32a, ename(-fd));
		return 1;
	}
	char c;
	if (read(fd, &c, 1) != 1) {
		printf("read of the i386 open's descriptor: %s\n", ename(errno));
		return 1;
	}
	long r = sys32(5, (long)path32b, O_RDONLY, 0, 0, 0);
	if (r != -EACCES) {
		printf("i386 open %s = %ld, want -EACCES\n", path32b, r);
		return 1;
	}
	for (int call = 0; call < 2; call++) {
		memset(st32, 0xa5, sizeof st32);
		r = call == 0 ? sys32(195 /* stat64 */, (long)path32a, (long)st32, 0, 0, 0)
		              : sys32(300 /* fstatat64 */, AT_FDCWD, (long)path32a, (long)st32, 0, 0);
		uint64_t dev, ino;
		uint32_t mode;
		int64_t size;
		memcpy(&dev, st32 + 0, 8);
		memcpy(&mode, st32 + 16, 4);
		memcpy(&size, st32 + 44, 8);
		memcpy(&ino, st32 + 88, 8);
		if (r != 0 || dev != want.st_dev || ino != want.st_ino || mode != want.st_mode || size != want.st_size) {
			printf("i386 %s = %ld: dev %llx ino %llu mode %o size %lld\n", call == 0 ? "stat64" : "fstatat64", r,
			       (unsigned long long)dev, (unsigned long long)ino, mode, (long long)size);
			return 1;
		}
	}
	memset(stx32, 0xa5, sizeof stx32);
	r = sys32(383 /* statx */, AT_FDCWD, (long)path32a, 0, STATX_BASIC_STATS, (long)stx32);
	uint64_t ino, size;
	memcpy(&ino, stx32 + 32, 8);
	memcpy(&size, stx32 + 40, 8);
	if (r != 0 || ino != want.st_ino || size != (uint64_t)want.st_size) {
		printf("i386 statx = %ld: ino %llu size %llu\n", r, (unsigned long long)ino, (unsigned long long)size);
		return 1;
	}
	r = sys32(195, (long)path32b, (long)st32, 0, 0, 0);
	if (r != -EACCES) {
		printf("i386 stat64 %s = %ld, want -EACCES\n", path32b, r);
		return 1;
	}
	(void)empty32;
	printf("ok\n");
	return 0;
}
#else
static int i386calls(char **argv) {
	printf("not x86_64\n");
	return 2;
}
#endif

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2)
		return 2;
	const char *m = argv[1];
	if (!strcmp(m, "cat"))
		return cat(argc, argv);
	if (!strcmp(m, "fds") && argc == 4)
		return fds(argv);
	if (!strcmp(m, "flip") && argc == 5)
		return flip(argv);
	if (!strcmp(m, "relink") && argc == 6)
		return relink(argv);
	if (!strcmp(m, "threads") && argc == 4)
		return threads(argv);
	if (!strcmp(m, "fifo") && argc == 4)
		return fifo(argv);
	if (!strcmp(m, "block") && argc == 3)
		return block(argv);
	if (!strcmp(m, "iouring"))
		return iouring();
	if (!strcmp(m, "stat") && argc == 3)
		return statcmp(argv);
	if (!strcmp(m, "bench") && argc == 5)
		return bench(argv);
	if (!strcmp(m, "i386") && argc == 4)
		return i386calls(argv);
	fprintf(stderr, "helper: bad arguments\n");
	return 2;
}
