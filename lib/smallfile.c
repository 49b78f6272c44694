/* smallfile.c: whole-file replacement of small state files (metrics,
 * heartbeatd's node table, the index drop mark). */
#define _GNU_SOURCE
#include "smallfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* fsync the directory holding name (relative to dfd). */
static int sync_parent(int dfd, const char *name)
{
	const char *sl = strrchr(name, '/');
	char dir[4200];
	if (!sl)
		snprintf(dir, sizeof(dir), ".");
	else if ((size_t)(sl - name) >= sizeof(dir))
		return -ENAMETOOLONG;
	else
		snprintf(dir, sizeof(dir), "%.*s", sl == name ? 1 : (int)(sl - name), name);
	int fd = openat(dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int smallfile_replace(int dfd, const char *name, const void *buf, size_t len, mode_t mode,
		      int durable)
{
	char tmp[4200];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", name, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int rc = 0;
	const char *p = buf;
	size_t left = len;
	if (fchmod(fd, mode) < 0)
		rc = -errno;
	while (rc == 0 && left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	if (rc == 0 && durable && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(dfd, tmp, dfd, name) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(dfd, tmp, 0);
		return rc;
	}
	return durable ? sync_parent(dfd, name) : 0;
}

static pthread_mutex_t mark_lock = PTHREAD_MUTEX_INITIALIZER;

int smallfile_bump_drop_mark(int state_dfd)
{
	char buf[32];
	uint64_t old = 0, v;
	pthread_mutex_lock(&mark_lock);
	int fd = openat(state_dfd, SMALLFILE_DROP_MARK, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		old = strtoull(buf, NULL, 10);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	v = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (v <= old)
		v = old + 1;
	int len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
	int rc = smallfile_replace(state_dfd, SMALLFILE_DROP_MARK, buf, (size_t)len, 0644, 1);
	pthread_mutex_unlock(&mark_lock);
	return rc;
}
