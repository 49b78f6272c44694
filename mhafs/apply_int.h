/* apply_int.h: shared between apply.c and apply_uidlist.c. */
#ifndef MHAFS_APPLY_INT_H
#define MHAFS_APPLY_INT_H

#include "apply.h"

enum {
	UIDLIST_INSTALL = 0,    /* install the peer's version as it came */
	UIDLIST_KEEP_OURS = 1,  /* ours already holds theirs: keep it */
	UIDLIST_MERGED = 2,     /* the staging file now holds a merged version */
};

/* Split path into its parent (opened O_PATH beneath the root, created if
 * missing and create is set) and its last component: an fd or -errno. */
int apply_open_parent(struct applier *a, const char *path, const char **name, int create);
/* fsync the directory path_fd (unless the applier is batched). */
int apply_fsync_dir(const struct applier *a, int path_fd);

/* apply_move.c: remove this node's version of the message named by probe
 * (same base name in probe's folder, any flags), as the effect of the
 * peer's entry e, which is then pointed at the removed path (a->redirect)
 * so the catalog records it there.  why goes to the log.  1 removed, 0
 * none here, -errno. */
int apply_remove_version(struct applier *a, struct jentry *e, const char *probe, const char *why);
/* The peer's removal e of a message already gone from that folder here:
 * see apply_move.c.  1 when it removed a copy here, 0, or -errno. */
int apply_removals_meet(struct applier *a, struct jentry *e);

/* apply_flags.c: a peer's rename that changes only a message's flags,
 * merged flag by flag with this node's version (pfd/name: e's source
 * here).  1 when so applied (or kept, *skipped set), 0 when it is no such
 * rename or another rule applies (apply.c goes on), -errno. */
int apply_flag_change(struct applier *a, struct jentry *e, int pfd, const char *name, int *skipped);
/* The peer's content e of a message this node holds (same content) as
 * local under other flags in the same maildir: 1 with the name this node's
 * version takes in target (local itself: ours stands), 0 when the names
 * are not merged flag by flag, -errno. */
int apply_flags_content(struct applier *a, const struct jentry *e, const char *local, char *target,
			size_t len);
/* The catalog records e, applied here, as this node's rename of from to
 * to (either may be e's own paths). */
void apply_record_rename(struct applier *a, struct jentry *e, const char *from, const char *to);
/* Rename from to to beneath the root, durably.  0 or -errno. */
int apply_move_here(struct applier *a, const char *from, const char *to);

int apply_is_uidlist(const char *path);
int apply_uidlist_lock(struct applier *a, int pfd, const char *path);
void apply_uidlist_unlock(int pfd, int held);
/* Decide what a peer's dovecot-uidlist (staged in s, e its entry) does to
 * ours at pfd/name: UIDLIST_* or -errno.  May rewrite s and e's hash. */
int apply_uidlist_merge(struct applier *a, struct jentry *e, struct staged *s, int pfd,
			const char *name);

#endif
