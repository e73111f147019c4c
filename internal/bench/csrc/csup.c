/*
 * csup: the baseline supervisor, a blocking loop over libseccomp's
 * seccomp_notify_receive / seccomp_notify_respond, one thread per listener.
 *
 *   csup NFDS SYNC PER
 *
 * Receives NFDS listener fds over fd 3 (SCM_RIGHTS), sets
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP on each if SYNC is 1, prints "ready",
 * then answers every notification with args[0] + 1. Each thread returns after
 * PER answers (0: until the listener fails).
 */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <seccomp.h>

static long per;

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	if (seccomp_notify_alloc(&req, &resp))
		die("seccomp_notify_alloc");
	for (long n = 0; per == 0 || n < per;) {
		/* The kernel rejects a non-zero buffer; zero it whatever the
		 * library version does. */
		memset(req, 0, sizeof(*req));
		int rc = seccomp_notify_receive(fd, req);
		if (rc) {
			/* A withdrawn notification (ENOENT) is skipped; a
			 * listener without targets ends the loop. */
			struct pollfd p = {.fd = fd, .events = POLLIN};
			if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) &&
			    !(p.revents & POLLIN))
				break;
			if (errno == ENOENT || errno == EINTR)
				continue;
			die("seccomp_notify_receive: %d", rc);
		}
		resp->id = req->id;
		resp->val = (int64_t)(req->data.args[0] + 1);
		resp->error = 0;
		resp->flags = 0;
		rc = seccomp_notify_respond(fd, resp);
		if (rc && errno != ENOENT)
			die("seccomp_notify_respond: %d", rc);
		n++;
	}
	seccomp_notify_free(req, resp);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: csup NFDS SYNC PER\n");
		return 2;
	}
	int nfds = atoi(argv[1]);
	int sync = atoi(argv[2]);
	per = atol(argv[3]);
	int *fds = calloc(nfds, sizeof(int));
	recv_fds(3, fds, nfds);
	close(3);
	for (int i = 0; i < nfds; i++) {
		if (sync && ioctl(fds[i], SECCOMP_IOCTL_NOTIF_SET_FLAGS,
				  SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP))
			die("ioctl(SECCOMP_IOCTL_NOTIF_SET_FLAGS, SYNC_WAKE_UP)");
	}
	if (nfds == 1) {
		printf("ready\n");
		fflush(stdout);
		serve((void *)(intptr_t)fds[0]);
		return 0;
	}
	pthread_t *th = calloc(nfds, sizeof(pthread_t));
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (int i = 0; i < nfds; i++) {
		errno = pthread_create(&th[i], &attr, serve,
				       (void *)(intptr_t)fds[i]);
		if (errno)
			die("pthread_create");
	}
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < nfds; i++)
		pthread_join(th[i], NULL);
	return 0;
}
