/* reserve.h: a file of preallocated space kept on a file system so that
 * when the file system fills, the writes that must not fail half way can
 * still be made: the file is unlinked (released) at the first ENOSPC, and
 * made again once the file system has room for it twice over.  mhafs keeps
 * one beside its journal (fs_journal.c) and one in the backing store for
 * Dovecot's control files (fs_space.c).  Thread safe. */
#ifndef MHAFS_RESERVE_H
#define MHAFS_RESERVE_H

#include <stdatomic.h>
#include <stdint.h>

struct reserve {
	char path[4200];
	long long size;
	atomic_int released;       /* 1 while the space is given away (or never made) */
	atomic_ullong checked_ms;  /* last attempt to make it again */
};

/* Set up dir/name holding min(max_size, an eighth of the file system) and
 * make it: 0, or -errno (then it counts as released). */
int reserve_init(struct reserve *r, const char *dir, const char *name, long long max_size);
/* Give the space away: 1 if this call released it, 0 if it was already. */
int reserve_release(struct reserve *r);
/* If released and 200 ms have passed since the last try (or checked_ms
 * was reset to 0): make it again when the file system has room for it
 * twice over.  1 if held afterwards. */
int reserve_regain(struct reserve *r);
static inline int reserve_held(struct reserve *r)
{
	return !atomic_load(&r->released);
}

#endif
