// A C target for the ported kernel selftests (selftest_test.go): it puts
// itself under a seccomp filter that notifies one system call, hands the
// listener to the test, and then makes notified calls when told to, with
// exact control over its signal handlers (which a Go target cannot have:
// the Go runtime installs every handler with SA_RESTART and treats every
// signal as handled).
//
// Usage: target CONFIG
//
// CONFIG is a comma-separated list:
//   listener      install the filter with SECCOMP_FILTER_FLAG_NEW_LISTENER
//                 and print "listener FD"; then wait for a line on stdin and
//                 close the listener (the test has copied it)
//   killable      add SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
//   usr1          a SIGUSR1 handler without SA_RESTART that prints "handled"
//   usr1-restart  the same handler with SA_RESTART
//
// The notified call is getppid. Then, for each line on stdin:
//   call A   r = syscall(SYS_getppid, A); prints "result R ERRNO"
//   exit N   exits with status N
// Output is unbuffered: one write per line.

#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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

static void handler(int sig)
{
	static const char msg[] = "handled\n";
	(void)sig;
	if (write(1, msg, sizeof msg - 1) < 0)
		_exit(3);
}

static int has(const char *config, const char *word)
{
	size_t n = strlen(word);
	const char *p = config;

	while ((p = strstr(p, word)) != NULL) {
		if ((p == config || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
			return 1;
		p += n;
	}
	return 0;
}

static int install(unsigned long flags)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof filter / sizeof filter[0],
		.filter = filter,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

int main(int argc, char **argv)
{
	const char *config = argc > 1 ? argv[1] : "";
	unsigned long flags = 0;
	char line[256];
	int listener;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (has(config, "usr1") || has(config, "usr1-restart")) {
		struct sigaction sa = { .sa_handler = handler };

		sigemptyset(&sa.sa_mask);
		if (has(config, "usr1-restart"))
			sa.sa_flags = SA_RESTART;
		if (sigaction(SIGUSR1, &sa, NULL)) {
			perror("sigaction");
			return 2;
		}
	}
	if (has(config, "listener"))
		flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
	if (has(config, "killable"))
		flags |= SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
	listener = install(flags);
	if (listener < 0) {
		printf("install errno %d\n", errno);
		return 2;
	}
	if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
		printf("listener %d\n", listener);
		if (!fgets(line, sizeof line, stdin))
			return 2;
		close(listener);
	}
	while (fgets(line, sizeof line, stdin)) {
		long a, r;
		int e;

		if (sscanf(line, "call %ld", &a) == 1) {
			errno = 0;
			r = syscall(SYS_getppid, a, 0, 0, 0, 0, 0);
			e = r < 0 ? errno : 0;
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
