/* Shared helpers for the benchmark's C programs. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Debian 12's kernel headers predate Linux 6.6. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS _IOW(SECCOMP_IOC_MAGIC, 4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

/* The trapped call: getppid, which none of the targets makes otherwise.
 * The target passes a counter in the first argument register; every
 * supervisor answers args[0] + 1, so each answer is checked. */
#define TRAPPED_NR __NR_getppid

#define die(...)                                                             \
	do {                                                                 \
		fprintf(stderr, __VA_ARGS__);                                \
		fprintf(stderr, ": %s\n", strerror(errno));                  \
		exit(2);                                                     \
	} while (0)

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* install_listener installs on the calling thread (no TSYNC) a 5-instruction
 * filter that notifies TRAPPED_NR on x86_64 and allows everything else, and
 * returns the listener fd. */
static inline int install_listener(void)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 2),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TRAPPED_NR, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	};
	struct sock_fprog prog = {
		.len = sizeof(insns) / sizeof(insns[0]),
		.filter = insns,
	};
	int fd = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER,
			 SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (fd < 0)
		die("seccomp(SET_MODE_FILTER, NEW_LISTENER)");
	return fd;
}

/* send_fds sends n fds in one SCM_RIGHTS message (n <= 250). */
static inline void send_fds(int sock, const int *fds, int n)
{
	char byte = 'F';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	size_t clen = CMSG_SPACE(sizeof(int) * n);
	char *cbuf = calloc(1, clen);
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = clen,
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		die("sendmsg(SCM_RIGHTS)");
	free(cbuf);
}

/* recv_fds receives SCM_RIGHTS messages until it holds want fds. */
static inline void recv_fds(int sock, int *fds, int want)
{
	int got = 0;
	while (got < want) {
		char byte;
		struct iovec iov = {.iov_base = &byte, .iov_len = 1};
		size_t clen = CMSG_SPACE(sizeof(int) * 253);
		char *cbuf = calloc(1, clen);
		struct msghdr msg = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = cbuf,
			.msg_controllen = clen,
		};
		ssize_t r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("recvmsg");
		}
		if (r == 0) {
			errno = EPIPE;
			die("recvmsg: peer closed after %d of %d fds", got,
			    want);
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
		     c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			int n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			if (got + n > want) {
				errno = E2BIG;
				die("recvmsg: too many fds");
			}
			memcpy(fds + got, CMSG_DATA(c), n * sizeof(int));
			got += n;
		}
		free(cbuf);
	}
}

#endif
