// nethelper: the programs the emulate tests run under a network policy.
// Each prints one line: "ok ..." or the errno name of the call that failed.
//
//   nethelper connect IP PORT         blocking TCP connect, write "hi\n"
//   nethelper connect6 IP6 PORT       the same on an IPv6 socket (::ffff:a.b.c.d too)
//   nethelper nonblock IP PORT        non-blocking connect: must give EINPROGRESS,
//                                     then complete (poll, SO_ERROR 0); write "hi\n"
//   nethelper udp IP PORT MSG         sendto one datagram
//   nethelper sendmmsg IP A B         sendmmsg of three datagrams to A, A, B:
//                                     print "ok n=N len=L0,L1"
//   nethelper unix PATH               connect a unix stream socket, write "hi\n"
//   nethelper unixdgram PATH MSG      sendto a unix datagram socket
//   nethelper flood PATH              sendto datagrams to a unix socket until one
//                                     fails (a full receiver makes sendto wait)
//   nethelper bind PATH|@NAME|IP:PORT bind (and listen on a stream socket)
//   nethelper rights PATH FILE        connect to PATH, send FILE's descriptor and
//                                     "fd\n" with SCM_RIGHTS
//   nethelper fdconnect FD IP PORT    connect the inherited descriptor FD
//   nethelper flip IP A B N           thread 1 flips a sockaddr's port between A and
//                                     B; thread 2 connects with it N times:
//                                     print "ok connected=.. refused=.."
//   nethelper refused                 socket(AF_PACKET), socket(AF_INET, SOCK_RAW),
//                                     setsockopt(IP_OPTIONS), io_uring_setup:
//                                     print their errno names
//   nethelper connectloop IP PORT N   N blocking connects (socket and close around
//                                     each): print "ok median=NS p90=NS" of the
//                                     connect calls alone
//   nethelper i386 IP A B             through int $0x80: socketcall(SOCKET, CONNECT)
//                                     to A and B, then the direct socket and connect
//                                     calls to A and B: print the four results
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stddef.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e) {
	switch (e) {
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EINPROGRESS: return "EINPROGRESS";
	case EINVAL: return "EINVAL";
	case ENOSYS: return "ENOSYS";
	case EADDRINUSE: return "EADDRINUSE";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	}
	static char buf[32];
	snprintf(buf, sizeof buf, "errno%d", e);
	return buf;
}

static struct sockaddr_in inet(const char *ip, const char *port) {
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
	inet_pton(AF_INET, ip, &sa.sin_addr);
	return sa;
}

static int fail(const char *what) {
	printf("%s\n", ename(errno));
	(void)what;
	return 1;
}

static int tcpConnect(const char *ip, const char *port) {
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail("socket");
	struct sockaddr_in sa = inet(ip, port);
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
		return fail("connect");
	if (write(s, "hi\n", 3) != 3)
		return fail("write");
	printf("ok\n");
	return 0;
}

static int tcpConnect6(const char *ip, const char *port) {
	int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail("socket");
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(port))};
	inet_pton(AF_INET6, ip, &sa.sin6_addr);
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
		return fail("connect");
	if (write(s, "hi\n", 3) != 3)
		return fail("write");
	printf("ok\n");
	return 0;
}

static int nonblock(const char *ip, const char *port) {
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail("socket");
	struct sockaddr_in sa = inet(ip, port);
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
		printf("connected at once\n");
		return 1;
	}
	if (errno != EINPROGRESS)
		return fail("connect");
	struct pollfd p = {.fd = s, .events = POLLOUT};
	if (poll(&p, 1, 60000) != 1) {
		printf("poll timed out\n");
		return 1;
	}
	int err = -1;
	socklen_t l = sizeof err;
	getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l);
	if (err != 0) {
		errno = err;
		return fail("SO_ERROR");
	}
	if (write(s, "hi\n", 3) != 3)
		return fail("write");
	printf("ok EINPROGRESS\n");
	return 0;
}

static int udp(const char *ip, const char *port, const char *msg) {
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail("socket");
	struct sockaddr_in sa = inet(ip, port);
	ssize_t n = sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&sa, sizeof sa);
	if (n < 0)
		return fail("sendto");
	printf("ok %zd\n", n);
	return 0;
}

static int mmsg(const char *ip, const char *a, const char *b) {
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail("socket");
	struct sockaddr_in sa[3] = {inet(ip, a), inet(ip, a), inet(ip, b)};
	char *data[3] = {"one", "three", "forbidden"};
	struct iovec iov[3];
	struct mmsghdr m[3];
	memset(m, 0, sizeof m);
	for (int i = 0; i < 3; i++) {
		iov[i].iov_base = data[i];
		iov[i].iov_len = strlen(data[i]);
		m[i].msg_hdr.msg_name = &sa[i];
		m[i].msg_hdr.msg_namelen = sizeof sa[i];
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
		m[i].msg_len = 999;
	}
	int n = sendmmsg(s, m, 3, 0);
	if (n < 0)
		return fail("sendmmsg");
	printf("ok n=%d len=%u,%u,%u\n", n, m[0].msg_len, m[1].msg_len, m[2].msg_len);
	return 0;
}

static int unixAddr(const char *path, struct sockaddr_un *sa) {
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (path[0] == '@') {
		memcpy(sa->sun_path + 1, path + 1, strlen(path) - 1);
		return offsetof(struct sockaddr_un, sun_path) + strlen(path);
	}
	strncpy(sa->sun_path, path, sizeof sa->sun_path - 1);
	return sizeof *sa;
}

static int unixConnect(const char *path, int type, const char *msg) {
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail("socket");
	struct sockaddr_un sa;
	int l = unixAddr(path, &sa);
	if (type == SOCK_DGRAM) {
		if (sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&sa, l) < 0)
			return fail("sendto");
	} else {
		if (connect(s, (struct sockaddr *)&sa, l) < 0)
			return fail("connect");
		if (write(s, "hi\n", 3) != 3)
			return fail("write");
	}
	printf("ok\n");
	return 0;
}

static int flood(const char *path) {
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa;
	int l = unixAddr(path, &sa);
	for (long i = 0;; i++)
		if (sendto(s, "x", 1, 0, (struct sockaddr *)&sa, l) < 0) {
			printf("%s after %ld\n", ename(errno), i);
			return 1;
		}
}

static int fdConnect(const char *fd, const char *ip, const char *port) {
	struct sockaddr_in sa = inet(ip, port);
	if (connect(atoi(fd), (struct sockaddr *)&sa, sizeof sa) < 0)
		return fail("connect");
	printf("ok\n");
	return 0;
}

static int doBind(const char *where) {
	int s;
	int rc;
	if (where[0] == '/' || where[0] == '@') {
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa;
		int l = unixAddr(where, &sa);
		rc = bind(s, (struct sockaddr *)&sa, l);
	} else {
		char ip[64];
		snprintf(ip, sizeof ip, "%s", where);
		char *colon = strrchr(ip, ':');
		*colon = 0;
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in sa = inet(ip, colon + 1);
		rc = bind(s, (struct sockaddr *)&sa, sizeof sa);
	}
	if (rc < 0)
		return fail("bind");
	if (listen(s, 1) < 0)
		return fail("listen");
	printf("ok\n");
	return 0;
}

static int rights(const char *path, const char *file) {
	int f = open(file, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return fail("open");
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa;
	int l = unixAddr(path, &sa);
	if (connect(s, (struct sockaddr *)&sa, l) < 0)
		return fail("connect");
	char data[] = "fd\n";
	struct iovec iov = {.iov_base = data, .iov_len = 3};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	memset(&c, 0, sizeof c);
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof c.buf};
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &f, sizeof f);
	ssize_t n = sendmsg(s, &m, 0);
	if (n < 0)
		return fail("sendmsg");
	printf("ok %zd\n", n);
	return 0;
}

static struct sockaddr_in flipAddr;
static volatile int flipDone;

static void *flipper(void *arg) {
	uint16_t *ports = arg;
	volatile uint16_t *p = &flipAddr.sin_port;
	while (!flipDone) {
		*p = ports[0];
		*p = ports[1];
	}
	return NULL;
}

static int flip(const char *ip, const char *a, const char *b, const char *count) {
	flipAddr = inet(ip, a);
	uint16_t ports[2] = {htons(atoi(a)), htons(atoi(b))};
	pthread_t t;
	pthread_create(&t, NULL, flipper, ports);
	int n = atoi(count), connected = 0, refused = 0, other = 0;
	for (int i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(s, (struct sockaddr *)&flipAddr, sizeof flipAddr) == 0)
			connected++;
		else if (errno == EACCES)
			refused++;
		else
			other++;
		close(s);
	}
	flipDone = 1;
	pthread_join(t, NULL);
	printf("ok connected=%d refused=%d other=%d\n", connected, refused, other);
	return 0;
}

static int refusedCalls(void) {
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	printf("packet=%s ", s < 0 ? ename(errno) : "created");
	s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	printf("raw=%s ", s < 0 ? ename(errno) : "created");
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned char lsrr[8] = {IPOPT_NOP, IPOPT_LSRR, 7, 4, 10, 0, 0, 1};
	int rc = setsockopt(s, IPPROTO_IP, IP_OPTIONS, lsrr, sizeof lsrr);
	printf("ipoptions=%s ", rc < 0 ? ename(errno) : "set");
	int one = 1;
	rc = setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	printf("reuseaddr=%s ", rc < 0 ? ename(errno) : "set");
	long r = syscall(SYS_io_uring_setup, 4, calloc(1, 256));
	printf("io_uring=%s\n", r < 0 ? ename(errno) : "created");
	return 0;
}

// i386 calls through int $0x80, with their arguments in static memory
// (below 4 GiB: the helper is not PIE).
static long int80(long nr, long a, long b, long c) {
	long ret;
	__asm__ volatile("push %%rbp\n\tint $0x80\n\tpop %%rbp"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

static struct sockaddr_in i386Addr;
static uint32_t i386Args[6];

static const char *i386Result(long r) { return r < 0 ? ename(-r) : "ok"; }

static int i386(const char *ip, const char *a, const char *b) {
	const long socketcall = 102, sys_socket = 359, sys_connect = 362;
	const char *ports[2] = {a, b};
	for (int i = 0; i < 2; i++) {
		i386Args[0] = AF_INET;
		i386Args[1] = SOCK_STREAM;
		i386Args[2] = 0;
		long s = int80(socketcall, 1 /* SYS_SOCKET */, (long)(uintptr_t)i386Args, 0);
		if (s < 0) {
			printf("socketcall(SOCKET): %s\n", ename(-s));
			return 1;
		}
		i386Addr = inet(ip, ports[i]);
		i386Args[0] = s;
		i386Args[1] = (uint32_t)(uintptr_t)&i386Addr;
		i386Args[2] = sizeof i386Addr;
		printf("socketcall=%s ", i386Result(int80(socketcall, 3 /* SYS_CONNECT */, (long)(uintptr_t)i386Args, 0)));
		close(s);
	}
	for (int i = 0; i < 2; i++) {
		long s = int80(sys_socket, AF_INET, SOCK_STREAM, 0);
		if (s < 0) {
			printf("socket: %s\n", ename(-s));
			return 1;
		}
		i386Addr = inet(ip, ports[i]);
		printf("direct=%s ", i386Result(int80(sys_connect, s, (long)(uintptr_t)&i386Addr, sizeof i386Addr)));
		close(s);
	}
	printf("\n");
	return 0;
}

static int cmpLong(const void *a, const void *b) {
	long x = *(const long *)a, y = *(const long *)b;
	return x < y ? -1 : x > y;
}

static long nowNS(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int connectLoop(const char *ip, const char *port, const char *count) {
	int n = atoi(count);
	if (n < 1)
		n = 1;
	long *t = calloc(n, sizeof *t);
	struct sockaddr_in sa = inet(ip, port);
	for (int i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			return fail("socket");
		long t0 = nowNS();
		if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
			return fail("connect");
		t[i] = nowNS() - t0;
		close(s);
	}
	qsort(t, n, sizeof *t, cmpLong);
	printf("ok median=%ld p90=%ld\n", t[n / 2], t[n * 9 / 10]);
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2)
		return 2;
	const char *m = argv[1];
	if (!strcmp(m, "connect") && argc == 4)
		return tcpConnect(argv[2], argv[3]);
	if (!strcmp(m, "connect6") && argc == 4)
		return tcpConnect6(argv[2], argv[3]);
	if (!strcmp(m, "nonblock") && argc == 4)
		return nonblock(argv[2], argv[3]);
	if (!strcmp(m, "udp") && argc == 5)
		return udp(argv[2], argv[3], argv[4]);
	if (!strcmp(m, "sendmmsg") && argc == 5)
		return mmsg(argv[2], argv[3], argv[4]);
	if (!strcmp(m, "unix") && argc == 3)
		return unixConnect(argv[2], SOCK_STREAM, NULL);
	if (!strcmp(m, "unixdgram") && argc == 4)
		return unixConnect(argv[2], SOCK_DGRAM, argv[3]);
	if (!strcmp(m, "fdconnect") && argc == 5)
		return fdConnect(argv[2], argv[3], argv[4]);
	if (!strcmp(m, "flood") && argc == 3)
		return flood(argv[2]);
	if (!strcmp(m, "bind") && argc == 3)
		return doBind(argv[2]);
	if (!strcmp(m, "rights") && argc == 4)
		return rights(argv[2], argv[3]);
	if (!strcmp(m, "flip") && argc == 6)
		return flip(argv[2], argv[3], argv[4], argv[5]);
	if (!strcmp(m, "refused"))
		return refusedCalls();
	if (!strcmp(m, "connectloop") && argc == 5)
		return connectLoop(argv[2], argv[3], argv[4]);
	if (!strcmp(m, "i386") && argc == 5)
		return i386(argv[2], argv[3], argv[4]);
	fprintf(stderr, "nethelper: bad arguments\n");
	return 2;
}
