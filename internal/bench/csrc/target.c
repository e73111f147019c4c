/*
 * target: the process whose calls are trapped. Identical for every
 * supervisor.
 *
 *   target lat  CALLS BATCH   latency: prints "batch NS_PER_CALL" per batch
 *   target tput CALLS         throughput: waits for EOF on fd 4, then prints
 *                             "tput START_NS END_NS CALLS"
 *
 * fd 3 is a unix socket: the target installs its filter, sends the
 * listener fd over fd 3 (SCM_RIGHTS), closes both, then makes CALLS
 * trapped getppid(i) calls and checks that each returns i + 1.
 */
#include "common.h"

static void trapped(uint64_t i)
{
	long r = syscall(TRAPPED_NR, (long)i);
	if (r != (long)(i + 1)) {
		fprintf(stderr, "target: call %llu returned %ld (errno %d), want %llu\n",
			(unsigned long long)i, r, errno,
			(unsigned long long)(i + 1));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: target lat CALLS BATCH | target tput CALLS\n");
		return 2;
	}
	int lat = strcmp(argv[1], "lat") == 0;
	long calls = atol(argv[2]);
	long batch = lat && argc > 3 ? atol(argv[3]) : calls;
	if (calls <= 0 || batch <= 0 || calls % batch != 0) {
		fprintf(stderr, "target: CALLS must be a positive multiple of BATCH\n");
		return 2;
	}

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die("prctl(NO_NEW_PRIVS)");
	int lfd = install_listener();
	send_fds(3, &lfd, 1);
	close(lfd);
	close(3);

	if (!lat) {
		char c;
		while (read(4, &c, 1) < 0 && errno == EINTR)
			;
		close(4);
		uint64_t t0 = now_ns();
		for (long i = 0; i < calls; i++)
			trapped(i);
		uint64_t t1 = now_ns();
		printf("tput %llu %llu %ld\n", (unsigned long long)t0,
		       (unsigned long long)t1, calls);
		return 0;
	}

	long nb = calls / batch;
	uint64_t *res = calloc(nb, sizeof(uint64_t));
	uint64_t i = 0;
	for (long b = 0; b < nb; b++) {
		uint64_t t0 = now_ns();
		for (long k = 0; k < batch; k++, i++)
			trapped(i);
		res[b] = now_ns() - t0;
	}
	for (long b = 0; b < nb; b++)
		printf("batch %.1f\n", (double)res[b] / (double)batch);
	return 0;
}
