/* apply.h: applying a peer's journal entry to this node's backing tree,
 * directly (not through the FUSE mount), idempotently and durably.  Every
 * path is resolved beneath the backing root with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS), so no entry can reach outside the store. */
#ifndef MHAFS_APPLY_H
#define MHAFS_APPLY_H

#include <stdint.h>

#include "config.h"
#include "hash.h"
#include "journal.h"

struct fregs;

#define STAGING_DIR CONFIG_STAGING_DIR

struct applier {
	int root_fd;          /* O_PATH of the backing root */
	int staging_fd;       /* O_PATH of root/.mhafs-staging */
	char *const *local;   /* node-local patterns: never applied */
	size_t nlocal;
	int batched;          /* skip fsyncs: the caller runs apply_sync() */
	/* the catalog's HLC and origin of a local path, for last-writer-wins
	 * between a peer's change and this node's to the same message */
	int (*local_hlc)(void *arg, const char *path, hlc_t *hlc, uint16_t *origin);
	/* the latest removal of a message from its folder recorded here (see
	 * journal_message_removal); same arg */
	int (*removal)(void *arg, const char *path, hlc_t *hlc, uint16_t *origin, char *dest,
		       size_t destlen, int *deleted);
	/* the stamps of the flags of the message at path (flagmerge.h): 1
	 * filled, 0 none kept (empty), -errno; same arg */
	int (*flag_regs)(void *arg, const char *path, struct fregs *r);
	void *hlc_arg;
	/* tell the kernel a path changed underneath it (a file the applier
	 * removed that no journal entry names); NULL when nothing is mounted */
	void (*inval)(void *arg, const char *path);
	void *inval_arg;
	/* the directory (state_dir) of the index drop mark, or -1: see
	 * uidlist_drop_index() (uidlist.h) */
	int mark_fd;
	/* conflicts resolved, by rule */
	_Atomic unsigned long n_remote_newer, n_local_newer, n_expunged, n_redirected;
	_Atomic unsigned long n_removals_met; /* apply_move.c */
	_Atomic unsigned long n_flags_merged; /* apply_flags.c */
	char redirect[4200];  /* this node's path of a message an entry named otherwise */
	char redirect2[4200]; /* and the target it took (apply_flags.c) */
	_Atomic unsigned long n_uidlist_merges;
	/* set by apply_entry: it changed e (path or content hash), so the
	 * catalog must record the changed entry; and the result is a new
	 * version of ours that the peer must get (journal a local write) */
	int entry_changed, journal_local;
	/* dotlocks waited for and gone on without (apply_uidlist.c) */
#define APPLY_WAITED_MAX 16
	struct dotlock_seen {
		dev_t dev;
		ino_t ino;
		int64_t mtime_ns;
		off_t size;
	} waited[APPLY_WAITED_MAX];
	unsigned n_waited;
};

int applier_init(struct applier *a, int root_fd, char *const *local, size_t nlocal, char *err,
		 size_t errlen);
void applier_fini(struct applier *a);

/* Content of a WRITE or COMMIT, staged before the entry is applied. */
struct staged {
	int fd;               /* open for writing, in the staging dir */
	char name[64];
	uint64_t expect, got;
	struct hash_stream *hs; /* the content's hash, as it arrives */
};
int staged_open(struct applier *a, const struct jentry *e, struct staged *s);
int staged_write(struct staged *s, const void *buf, size_t n);
void staged_discard(struct applier *a, struct staged *s);

/* Make everything applied so far durable (syncfs of the backing file
 * system).  0 or -errno. */
int apply_sync(struct applier *a);

/* The content of a dotlock this mhafs holds for its peer ("pid:host", the
 * form Dovecot writes, so Dovecot sees a live holder and a stale one when
 * this mhafs is gone).  Length, or -1. */
int apply_dotlock_marker(char *buf, size_t len);

/* Whether the dotlock name in directory pfd is stale, as Dovecot judges
 * one: its "pid:host" names a process of this host that is gone, or it is
 * unchanged for two minutes (a holder that died before writing its pid, or
 * Dovecot's excl lock, which holds the new uidlist and no pid).  0 when it
 * may still be held; else one of the reasons below, which
 * apply_dotlock_why() names. */
#define DOTLOCK_STALE_SECS 120
enum { DOTLOCK_HOLDER_GONE = 1, DOTLOCK_UNCHANGED = 2 };
int apply_dotlock_stale(int pfd, const char *name);
const char *apply_dotlock_why(int stale);

/* Check that e may be applied here (safe, not node-local): 0 or -EPERM. */
int apply_check(struct applier *a, const struct jentry *e);
/* Apply e; s holds its content (WRITE/COMMIT with content) or is NULL.
 * Returns 0 when applied or already in effect, -errno otherwise.
 *
 * When e names a Maildir message that is no longer at e->path here (this
 * node renamed or expunged it meanwhile: a split brain), the rules are:
 * a rename or flag change goes to this node's version of the message (same
 * base name in the maildir's new/ or cur/) if e's HLC is newer than that
 * version's (node id breaks ties), else this node's change stands; an
 * expunge removes this node's version whatever its flags; a change to a
 * message expunged here is dropped (the expunge wins, and no content has
 * to travel back).  Both nodes apply the same rules to the same pair of
 * changes, so they converge.  When e was applied to another path, e->path
 * is pointed at a->redirect so the catalog records the right object.  A
 * change not applied is logged and *skipped set. */
int apply_entry(struct applier *a, struct jentry *e, struct staged *s, int *skipped);

#endif
