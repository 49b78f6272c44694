/* uask.c: ask a local daemon over a UNIX socket (see uask.h). */
#define _GNU_SOURCE
#include "uask.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_to(const char *path, int timeout_ms, char *why, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(why, len, "socket path too long");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(why, len, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

char *uask(const char *path, const char *cmd, int timeout_ms, size_t max, char *why, size_t len)
{
	int fd = connect_to(path, timeout_ms, why, len);
	if (fd < 0)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	if (send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd)) {
		snprintf(why, len, "%s", strerror(errno));
		goto fail;
	}
	for (;;) {
		if (n + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb = cap > max ? NULL : realloc(buf, ncap);
			if (!nb) {
				snprintf(why, len, cap > max ? "answer longer than %zu bytes" : "out of memory", max);
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t got = read(fd, buf + n, cap - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(why, len, "%s", errno == EAGAIN ? "no answer in time" : strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (n == 0 || n > max) {
		snprintf(why, len, n ? "answer longer than %zu bytes" : "empty answer", max);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}
