/*
 * listeners: makes N idle seccomp listeners for the thread-count benchmark.
 *
 *   listeners N
 *
 * One listener per filter chain: each of N threads (which start without a
 * filter) installs its own 6-instruction filter with NEW_LISTENER (no TSYNC)
 * and then blocks reading fd 0. The listener fds go over fd 3 (SCM_RIGHTS,
 * up to 250 per message). The filters stay alive while the threads live;
 * the process exits when fd 0 reaches EOF.
 */
#include "common.h"

#include <pthread.h>

static int *fds;
static int ready_pipe[2];

static void *holder(void *arg)
{
	long i = (long)arg;
	fds[i] = install_listener();
	char c = 'r';
	if (write(ready_pipe[1], &c, 1) != 1)
		die("write");
	/* Block without ever making the trapped call. */
	while (read(0, &c, 1) > 0)
		;
	exit(0);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: listeners N\n");
		return 2;
	}
	long n = atol(argv[1]);
	fds = calloc(n, sizeof(int));
	if (pipe(ready_pipe))
		die("pipe");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die("prctl(NO_NEW_PRIVS)");
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (long i = 0; i < n; i++) {
		pthread_t t;
		errno = pthread_create(&t, &attr, holder, (void *)i);
		if (errno)
			die("pthread_create %ld", i);
		char c;
		if (read(ready_pipe[0], &c, 1) != 1)
			die("read");
	}
	for (long i = 0; i < n; i += 250) {
		int k = n - i < 250 ? n - i : 250;
		send_fds(3, fds + i, k);
	}
	for (long i = 0; i < n; i++)
		close(fds[i]);
	close(3);
	char c;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
