/* mountpoint.c: what is mounted on mhafs's mount point (read from
 * /proc/self/mountinfo, never by a call into the mount, which may no
 * longer answer), and how a stop ends the FUSE connection.
 *
 * Once the FUSE loop has ended nobody answers the kernel's requests, and
 * a client waiting for an answer may hold a directory's lock that
 * replication's invalidator needs (an entry invalidation takes the
 * parent's lock): the stop would hang there.  So the connection is
 * aborted before replication stops -- the waiting requests fail -- and
 * the mount taken away: at once if nothing uses it, else detached, to go
 * when its last user leaves.  Only our own mount is touched: after a
 * detach by hand the mount point may hold another file system, and an
 * unmount there would take that away; our connection is then aborted
 * through fusectl, by its device number. */
#define _GNU_SOURCE
#include "mountpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "log.h"
#include "mountinfo.h"

#define MAX_STACK 64 /* mounts stacked on one path that are told apart */

struct mnt_line {
	unsigned id, parent, major, minor;
};

static unsigned ours_major, ours_minor;
static int ours_known;

/* The mounts on path, from mountinfo: TOP_ONE and *top, the mount on top
 * of the others (the one no other is mounted on: mountinfo lists mounts by
 * creation, not by stacking, since Linux 6.8, and a mount moved there may
 * be older); TOP_NONE; TOP_UNCLEAR when something is mounted there but
 * the top cannot be told; -1 when mountinfo cannot be read. */
enum { TOP_NONE = 0, TOP_ONE = 1, TOP_UNCLEAR = 2 };

static int top_mount(const char *path, struct mnt_line *top)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	struct mnt_line on[MAX_STACK];
	char *line = NULL;
	size_t cap = 0, n = 0;
	int more = 0;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		struct mnt_line m;
		int at = -1;
		if (sscanf(line, "%u %u %u:%u %*s %n", &m.id, &m.parent, &m.major, &m.minor, &at) != 4 ||
		    at < 0)
			continue;
		char *mp = line + at;
		mp[strcspn(mp, " \n")] = '\0';
		mountinfo_unescape(mp);
		if (strcmp(mp, path) != 0)
			continue;
		if (n == MAX_STACK)
			more = 1;
		else
			on[n++] = m;
	}
	free(line);
	fclose(f);
	if (n == 0)
		return TOP_NONE;
	size_t tops = 0;
	for (size_t i = 0; i < n; i++) {
		int under = 0;
		for (size_t k = 0; k < n && !under; k++)
			under = k != i && on[k].parent == on[i].id;
		if (!under) {
			*top = on[i];
			tops++;
		}
	}
	return tops == 1 && !more ? TOP_ONE : TOP_UNCLEAR;
}

int mountpoint_in_use(const char *path)
{
	struct mnt_line top;
	int t = top_mount(path, &top);
	return t == TOP_ONE || t == TOP_UNCLEAR;
}

int mountpoint_remember(const char *path)
{
	struct mnt_line top;
	if (top_mount(path, &top) != TOP_ONE)
		return -1;
	ours_major = top.major;
	ours_minor = top.minor;
	ours_known = 1;
	return 0;
}

/* Abort our connection through fusectl (the kernel names a connection by
 * its device number); 0 or -errno. */
static int fusectl_abort(void)
{
	char p[96];
	snprintf(p, sizeof(p), "/sys/fs/fuse/connections/%u/abort", (ours_major << 20) | ours_minor);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = write(fd, "1", 1) == 1 ? 0 : -errno;
	close(fd);
	return rc;
}

/* Whether the kernel has ended the connection on fd. */
static int connection_ended(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

int mountpoint_end_connection(int fuse_fd, const char *path)
{
	struct mnt_line top;

	/* the kernel ended the connection (an unmount ended the loop) */
	if (fuse_fd < 0 || connection_ended(fuse_fd))
		return 0;
	if (!ours_known) {
		log_warn("%s: this mount's device is not known; its connection ends as libfuse ends it",
			 path);
		return 0;
	}
	int t = top_mount(path, &top);
	if (t != TOP_ONE || top.major != ours_major || top.minor != ours_minor) {
		const char *what = t == TOP_NONE ? "nothing" : t == TOP_ONE ? "another mount"
								       : "what mountinfo does not tell";
		int rc = fusectl_abort();
		if (rc == 0)
			log_notice("%s holds %s now (detached by hand?): left alone; this mount's connection "
				   "is aborted through fusectl", path, what);
		else
			log_warn("%s holds %s now (detached by hand?): left alone; this mount's connection "
				 "cannot be aborted through fusectl (%s): clients still in the detached mount "
				 "may hold the stop up", path, what, strerror(-rc));
		/* once ended, libfuse's unmount only frees its own state */
		return connection_ended(fuse_fd) ? 0 : 1;
	}
	if (umount2(path, MNT_FORCE) == 0) {
		log_info("unmounted %s: nothing was using it", path);
		return 0;
	}
	if (errno != EBUSY) {
		log_warn("cannot abort the FUSE connection of %s: %s; clients waiting in the mount may "
			 "hold the stop up", path, strerror(errno));
		return 0;
	}
	if (umount2(path, MNT_DETACH) < 0)
		log_warn("%s: aborted but not detached: %s", path, strerror(errno));
	else
		log_notice("%s was in use: its waiting requests failed and the mount is detached; it goes "
			   "when its last user leaves", path);
	return 0;
}
