/* smallfile.h: replace a small file whole (a temporary name in the same
 * directory, then rename), so that a reader sees the old file or the
 * whole new one; and the index drop mark built on it. */
#ifndef MHAFS_SMALLFILE_H
#define MHAFS_SMALLFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Write len bytes of buf as name in directory dfd (AT_FDCWD: name is a
 * path) with mode (whatever the umask), replacing any file there.  With
 * durable, the file and then its directory are fsynced, so the new
 * content survives a crash once this returns.  0 or -errno; on error the
 * old file is untouched and no temporary file is left. */
int smallfile_replace(int dfd, const char *name, const void *buf, size_t len, mode_t mode,
		      int durable);

/* The index drop mark: SMALLFILE_DROP_MARK in a node's state directory
 * holds one number that grows each time a Dovecot index of that node is
 * removed because UIDs moved under it (mhafs's uidlist merge, mhafsck
 * --repair).  Dovecot rebuilds a removed index from low MODSEQs; the MODSEQ
 * floor (conf/mhafs-home.lua, tools/mhafs-modseq-floor) compares the mark,
 * so a user's next session on that node raises the floor again.
 * smallfile_bump_drop_mark makes it larger than before and new across a
 * lost file (the time in ns, or one more), durably.  0 or -errno. */
#define SMALLFILE_DROP_MARK "index-drops"
int smallfile_bump_drop_mark(int state_dfd);

#endif
