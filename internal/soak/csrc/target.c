// The C target of the soak harness (target.go has the Go one; both follow
// the same rules) and of the ported kernel selftests (selftest_test.go in
// the repository root). It puts itself under a filter that notifies
// getpriority, or runs under one a container runtime installed.
//
// Soak: target [flags] ID CALLS MIX MAGIC
//   makes trapped getpriority(id, seq, op) calls, checks each answer
//   against what its arguments ask for, and keeps its ledger in a shared
//   page (fd 3, or the file named by -ledger).
// Selftests: target [flags] -interactive
//   for each line on stdin: "call A" makes getpriority(A) and prints
//   "result R ERRNO"; "exit N" exits with N.
//
// Flags:
//   -filter       install the filter itself with a listener, print
//                 "listener FD", wait for the byte 'A' on stdin, close the
//                 listener; without it the filter comes from whoever
//                 started us (a container runtime)
//   -nolistener   install the filter itself without a listener (every
//                 notified call fails with ENOSYS)
//   -killable     with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
//   -enosys       ENOSYS is an allowed answer (the stream may be disrupted)
//   -ledger PATH  the ledger page is this file, not fd 3
//   -say-signals  the signal handlers print "handled"
//   -target-do    every 20th value call (by seq) asks for a handler that
//                 acts as the target (op target; the same answer)
// Signals: SIGUSR1 and SIGURG have SA_RESTART handlers, SIGUSR2 one
// without SA_RESTART (so EINTR is an allowed answer).

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SECCOMP_RET_USER_NOTIF
#define SECCOMP_RET_USER_NOTIF 0x7fc00000U
#endif
#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define ARCH AUDIT_ARCH_RISCV64
#else
#error "unsupported architecture"
#endif

/* Ledger words: as in ledger.go. */
enum {
	lMagic, lStarted, lReturned, lRight, lWrong, lENOSYS, lEINTR, lOrphans,
	lCallStart, lCurSeq, lCurOp, lDone, lStop, lWrongSeq, lWrongOp,
	lWrongRet, lWrongErrno, lECANCELED, lWords
};
#define LEDGER_MAGIC 0x5247444c4b414f53ULL

enum { opValue, opErrno, opFD, opContinue, opPanic, opInvalid, opBlock, opTarget, numOps };
static const int mixes[3][numOps] = {
	{70, 10, 10, 10, 0, 0, 0, 0},
	{56, 8, 10, 6, 8, 8, 4, 0},
	{70, 10, 10, 10, 0, 0, 0, 0},
};

/* Consecutive ENOSYS answers after which a target whose stream may be
 * disrupted stops: its listener is gone. As in target.go. */
#define GIVE_UP 32

static volatile uint64_t *ledger;

static void add(int i, uint64_t v) { __atomic_fetch_add(&ledger[i], v, __ATOMIC_SEQ_CST); }
static void set(int i, uint64_t v) { __atomic_store_n(&ledger[i], v, __ATOMIC_SEQ_CST); }
static uint64_t get(int i) { return __atomic_load_n(&ledger[i], __ATOMIC_SEQ_CST); }

static uint64_t pick_op(uint64_t id, uint64_t seq, int mix)
{
	uint64_t x = (seq * 2654435761ULL + id * 40503ULL) % 100;
	for (int op = 0; op < numOps; op++) {
		if (x < (uint64_t)mixes[mix][op])
			return op;
		x -= mixes[mix][op];
	}
	return opValue;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own */
}

static int say_signals;

static void on_signal(int sig)
{
	static const char msg[] = "handled\n";
	(void)sig;
	if (say_signals && write(1, msg, sizeof msg - 1) < 0)
		_exit(3);
}

static int install(unsigned long flags)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpriority, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof filter / sizeof filter[0], .filter = filter };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static void handle(int sig, int restart)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = restart ? SA_RESTART : 0 };
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* interactive is the selftests' command loop. */
static int interactive(void)
{
	char line[256];

	while (fgets(line, sizeof line, stdin)) {
		long a, r;
		int e;

		if (sscanf(line, "call %ld", &a) == 1) {
			errno = 0;
			r = syscall(SYS_getpriority, a, 0, 0, 0, 0, 0);
			e = r == -1 ? errno : 0;
			printf("result %ld %d\n", r, e);
		} else if (sscanf(line, "exit %ld", &a) == 1) {
			return (int)a;
		} else {
			printf("bad command %s", line);
			return 2;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int filter = 0, nolistener = 0, killable = 0, enosys = 0, inter = 0, target_do = 0, i = 1;
	const char *ledger_path = NULL;

	setvbuf(stdout, NULL, _IONBF, 0);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-filter"))
			filter = 1;
		else if (!strcmp(argv[i], "-nolistener"))
			nolistener = 1;
		else if (!strcmp(argv[i], "-killable"))
			killable = 1;
		else if (!strcmp(argv[i], "-enosys"))
			enosys = 1;
		else if (!strcmp(argv[i], "-ledger") && i + 1 < argc)
			ledger_path = argv[++i];
		else if (!strcmp(argv[i], "-say-signals"))
			say_signals = 1;
		else if (!strcmp(argv[i], "-interactive"))
			inter = 1;
		else if (!strcmp(argv[i], "-target-do"))
			target_do = 1;
		else
			return 2;
	}
	if (argc - i != (inter ? 0 : 4))
		return 2;

	handle(SIGUSR1, 1);
	handle(SIGURG, 1);
	handle(SIGUSR2, 0);
	int eintr_ok = 1;

	if (nolistener && install(0) < 0) {
		printf("install: errno %d\n", errno);
		return 4;
	}
	if (filter) {
		unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER;
		char c;
		if (killable)
			flags |= SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
		int l = install(flags);
		if (l < 0) {
			printf("install: errno %d\n", errno);
			return 4;
		}
		printf("listener %d\n", l);
		if (read(0, &c, 1) != 1)
			return 5;
		if (c != 'A') {
			/* Not the harness's byte: someone wrote to a stale
			 * descriptor that now is our stdin pipe. */
			unsigned char b[16];
			ssize_t n = read(0, b, sizeof b);
			printf("stray bytes on stdin: %02x", (unsigned char)c);
			for (ssize_t j = 0; j < n; j++)
				printf("%02x", b[j]);
			printf("\n");
			return 6;
		}
		close(l);
	}
	if (inter)
		return interactive();

	uint64_t id = strtoull(argv[i], NULL, 10);
	uint64_t calls = strtoull(argv[i + 1], NULL, 10);
	int mix = atoi(argv[i + 2]);
	const char *magic = argv[i + 3];
	size_t magic_len = strlen(magic);
	if (mix < 0 || mix > 2 || magic_len == 0 || magic_len > 32)
		return 2;
	int lfd = ledger_path ? open(ledger_path, O_RDWR) : 3;
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
	if (m == MAP_FAILED)
		return 3;
	ledger = m;
	if (ledger_path)
		close(lfd);

	set(lMagic, LEDGER_MAGIC);
	int fds_start = count_fds();
	int enosys_run = 0;

	for (uint64_t seq = 1; seq <= calls && !get(lStop); seq++) {
		uint64_t op = pick_op(id, seq, mix);
		char buf[33];

		if (target_do && op == opValue && seq % 20 == 0)
			op = opTarget;
		int right = 0;

		set(lCurSeq, seq);
		set(lCurOp, op);
		set(lCallStart, now_ns());
		add(lStarted, 1);
		errno = 0;
		long r = syscall(SYS_getpriority, id, seq, op, 0, 0, 0);
		int e = r == -1 ? errno : 0;
		set(lCallStart, 0);
		add(lReturned, 1);

		switch (op) {
		case opValue:
		case opTarget:
			right = e == 0 && (uint64_t)r == (id << 32 | seq);
			break;
		case opErrno:
			right = e == (int)(100 + seq % 20);
			break;
		case opFD:
			if (e == 0 && r >= 0 && pread(r, buf, magic_len, 0) == (ssize_t)magic_len &&
			    !memcmp(buf, magic, magic_len)) {
				right = 1;
				close(r);
			}
			break;
		case opContinue:
			right = e == EINVAL;
			break;
		case opPanic:
		case opInvalid:
			right = e == ENOSYS;
			break;
		case opBlock:
			right = e == ENOSYS || e == ECANCELED;
			if (e == ECANCELED)
				add(lECANCELED, 1);
			break;
		}
		enosys_run = e == ENOSYS ? enosys_run + 1 : 0;
		if (right)
			add(lRight, 1);
		else if (e == ENOSYS && enosys)
			add(lENOSYS, 1);
		else if (e == EINTR && eintr_ok)
			add(lEINTR, 1);
		else {
			add(lWrong, 1);
			set(lWrongSeq, seq);
			set(lWrongOp, op);
			set(lWrongRet, (uint64_t)r);
			set(lWrongErrno, e);
		}
		/* The listener is gone for good: stop calling. */
		if (enosys && enosys_run >= GIVE_UP)
			break;
	}
	int fds_end = count_fds();
	if (fds_start >= 0 && fds_end > fds_start)
		set(lOrphans, fds_end - fds_start);
	set(lDone, 1);
	return 0;
}
