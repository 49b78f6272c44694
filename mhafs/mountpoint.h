/* mountpoint.h: what is mounted on mhafs's mount point, and the end of
 * its FUSE connection at a stop (see mountpoint.c). */
#ifndef MHAFS_MOUNTPOINT_H
#define MHAFS_MOUNTPOINT_H

#include <sys/types.h>

/* 1 if something is mounted on path (a real path), 0 if not or unknown */
int mountpoint_in_use(const char *path);

/* Right after mounting: remember the device of the mount now on top of
 * path, which is ours.  0, or -1 if mountinfo does not show it. */
int mountpoint_remember(const char *path);

/* After the FUSE loop has ended, before replication stops: end the
 * connection on the device fd (which stays open).  Returns 1 when
 * libfuse's own unmount must be left out (the mount point holds another
 * mount now and our connection could not be ended: libfuse would unmount
 * what is there), else 0. */
int mountpoint_end_connection(int fuse_fd, const char *path);

#endif
