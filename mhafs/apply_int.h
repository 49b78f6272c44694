/* apply_int.h: shared between apply.c and apply_uidlist.c. */
#ifndef MHAFS_APPLY_INT_H
#define MHAFS_APPLY_INT_H

#include "apply.h"

enum {
	UIDLIST_INSTALL = 0,    /* install the peer's version as it came */
	UIDLIST_KEEP_OURS = 1,  /* ours already holds theirs: keep it */
	UIDLIST_MERGED = 2,     /* the staging file now holds a merged version */
};

int apply_is_uidlist(const char *path);
int apply_uidlist_lock(struct applier *a, int pfd, const char *path);
void apply_uidlist_unlock(int pfd, int held);
/* Decide what a peer's dovecot-uidlist (staged in s, e its entry) does to
 * ours at pfd/name: UIDLIST_* or -errno.  May rewrite s and e's hash. */
int apply_uidlist_merge(struct applier *a, struct jentry *e, struct staged *s, int pfd,
			const char *name);

#endif
