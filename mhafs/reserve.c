/* reserve.c: a preallocated file given away on ENOSPC (see reserve.h). */
#define _GNU_SOURCE
#include "reserve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static int make(struct reserve *r)
{
	int fd = open(r->path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	int rc = posix_fallocate(fd, 0, (off_t)r->size);
	if (rc == 0)
		rc = fsync(fd) < 0 ? errno : 0;
	close(fd);
	if (rc != 0) {
		unlink(r->path);
		return -rc;
	}
	return 0;
}

int reserve_init(struct reserve *r, const char *dir, const char *name, long long max_size)
{
	struct statvfs sv;
	snprintf(r->path, sizeof(r->path), "%s/%s", dir, name);
	r->size = max_size;
	if (statvfs(dir, &sv) == 0) {
		long long total = (long long)sv.f_blocks * (long long)sv.f_frsize;
		if (total / 8 < r->size)
			r->size = total / 8;
	}
	atomic_store(&r->checked_ms, 0);
	int rc = make(r);
	atomic_store(&r->released, rc < 0);
	return rc;
}

int reserve_release(struct reserve *r)
{
	if (atomic_exchange(&r->released, 1))
		return 0;
	unlink(r->path);
	return 1;
}

int reserve_regain(struct reserve *r)
{
	if (!atomic_load(&r->released))
		return 1;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	uint64_t last = atomic_load(&r->checked_ms);
	if (now_ms - last < 200 || !atomic_compare_exchange_strong(&r->checked_ms, &last, now_ms))
		return 0;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s", r->path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	struct statvfs sv;
	if (statvfs(dir, &sv) < 0)
		return 0;
	/* root writes into the blocks kept for root, so root's ENOSPC means
	 * those are gone too: its room is f_bfree */
	unsigned long long blocks = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
	if ((long long)blocks * (long long)sv.f_frsize < 2 * r->size + (1 << 18))
		return 0;
	if (make(r) < 0)
		return 0;
	atomic_store(&r->released, 0);
	return 1;
}
