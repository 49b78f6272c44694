/* apply.h: applying a peer's journal entry to this node's backing tree,
 * directly (not through the FUSE mount), idempotently and durably.  Every
 * path is resolved beneath the backing root with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS), so no entry can reach outside the store. */
#ifndef MHAFS_APPLY_H
#define MHAFS_APPLY_H

#include <stdint.h>

#include "config.h"
#include "journal.h"

#define STAGING_DIR CONFIG_STAGING_DIR

struct applier {
	int root_fd;          /* O_PATH of the backing root */
	int staging_fd;       /* O_PATH of root/.mhafs-staging */
	char *const *local;   /* node-local patterns: never applied */
	size_t nlocal;
};

int applier_init(struct applier *a, int root_fd, char *const *local, size_t nlocal, char *err,
		 size_t errlen);
void applier_fini(struct applier *a);

/* Content of a WRITE or COMMIT, staged before the entry is applied. */
struct staged {
	int fd;               /* open for writing, in the staging dir */
	char name[64];
	uint64_t expect, got;
};
int staged_open(struct applier *a, const struct jentry *e, struct staged *s);
int staged_write(struct staged *s, const void *buf, size_t n);
void staged_discard(struct applier *a, struct staged *s);

/* Check that e may be applied here (safe, not node-local): 0 or -EPERM. */
int apply_check(struct applier *a, const struct jentry *e);
/* Apply e; s holds its content (WRITE/COMMIT with content) or is NULL.
 * Returns 0 when applied or already in effect, -errno otherwise.  A
 * conflict that cannot be applied as such (e.g. renaming a file that is
 * gone) is logged and counted as applied (*skipped set to 1). */
int apply_entry(struct applier *a, const struct jentry *e, struct staged *s, int *skipped);

#endif
