/* journal_repl.h: what the replicator needs from the journal database:
 * applying a peer's entry to the catalog with the peer's progress (one
 * transaction), the resume point per origin, pruning of acknowledged
 * entries, and a read cursor over the journal on its own SQLite connection
 * (so streaming never holds the writer's lock and never loads the backlog
 * into memory). */
#ifndef MHAFS_JOURNAL_REPL_H
#define MHAFS_JOURNAL_REPL_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"

/* Record in the catalog that the peer's entry e (origin, seq, hlc set) has
 * been applied to the backing tree (update_catalog JAR_RECORD; JAR_SKIP:
 * the entry was not applied, this node's state stands), and advance that
 * origin's resume point; merges e->hlc into the local clock.  0 or -errno.
 * JAR_UNLESS_GONE: e made an object that is no longer in the store (a
 * local change between the apply and this record, e.g. Dovecot renaming a
 * replicated message out of new/): a newer tombstone the catalog holds for
 * it stays, rather than a stale live row the walk would act on. */
enum { JAR_SKIP = 0, JAR_RECORD = 1, JAR_UNLESS_GONE = 2 };
int journal_apply_remote(struct journal *j, const struct jentry *e, int update_catalog);
/* The same for a batch of one stream's entries, in one transaction:
 * journal_apply_begin takes the journal lock (nothing else may use the
 * journal until journal_apply_end), journal_apply_add records one entry,
 * journal_apply_end advances the origin's resume point to the last and
 * commits (or, after any error, records none of them).  Each returns 0 or
 * -errno; journal_apply_end must follow journal_apply_begin whatever it
 * returned. */
int journal_apply_begin(struct journal *j);
int journal_apply_add(struct journal *j, const struct jentry *e, int update_catalog);
int journal_apply_end(struct journal *j);
/* Highest seq of origin applied here (0 if none). */
uint64_t journal_applied_seq(struct journal *j, uint16_t origin);
/* Drop this node's own entries with seq <= upto (the peer has them). */
int journal_prune(struct journal *j, uint64_t upto);

struct jcursor;
struct jcursor *jcursor_open(const char *state_dir, char *err, size_t errlen);
void jcursor_close(struct jcursor *c);
/* The first entry of origin with seq > after: 1 (e filled, strings in
 * strbuf), 0 none, -errno. */
int jcursor_next(struct jcursor *c, uint16_t origin, uint64_t after, struct jentry *e,
		 char *strbuf, size_t strcap);
/* jcursor_next for this node's own entries from memory: the writer keeps
 * its last committed ones (journal_async.c).  1 (e filled as the database
 * would give it), 0 if the database holds none after `after`, -1 if not
 * known here (ask jcursor_next). */
int journal_committed_next(struct journal *j, uint64_t after, struct jentry *e, char *strbuf,
			   size_t strcap);
/* Where the object at path went after seq `after`: 1 with its later path
 * in out (renamed, possibly several times), 0 if it was removed or never
 * moved, -errno. */
int jcursor_moved(struct jcursor *c, uint16_t origin, uint64_t after, const char *path,
		  char *out, size_t outlen);
/* Another live name of a hard-linked file: a catalog row with inode ino,
 * content hash h and a change older than before (so the peer already has
 * it), other than path.  1 with it in out, 0 if none. */
int jcursor_same_inode(struct jcursor *c, uint64_t ino, const char *path, const struct hash128 *h,
		       hlc_t before, char *out, size_t outlen);
/* Entries of origin after seq, and the content bytes they carry. */
int jcursor_backlog(struct jcursor *c, uint16_t origin, uint64_t after, uint64_t *ops,
		    uint64_t *bytes);

/* Tombstone collection: delete up to limit tombstones with an HLC below
 * before that the peer has, i.e. made by the peer's entries (we applied
 * them) or by ours up to acked_hlc (the HLC of our last entry it
 * acknowledged; ours are numbered in HLC order).  Tombstones are outside
 * the digest tree, so it does not change.  Message removals older than
 * before go with them.  Returns the count of tombstones or -errno. */
long journal_gc_tombstones(struct journal *j, hlc_t before, hlc_t acked_hlc, long limit);

/* The catalog's HLC and origin of path (a live or deleted row): 0, or
 * -ENOENT.  arg is the struct journal (the shape of applier.local_hlc). */
int journal_catalog_hlc(void *arg, const char *path, hlc_t *hlc, uint16_t *origin);

/* Write the digest-tree deltas waiting in memory (mtree.h) to the
 * database, so another connection reading the tree sees the catalog's
 * state: 0 or -errno. */
int journal_mtree_sync(struct journal *j);

/* The stamps of the flags of the Maildir message path names (its folder
 * and base name): 1 filled, 0 none kept, -errno.  arg is the struct
 * journal (the shape of applier.flag_regs). */
struct fregs;
int journal_flag_regs(void *arg, const char *path, struct fregs *r);

/* The latest removal recorded of the Maildir message path names (its
 * folder and base name; the flags in path do not matter): 1 with its HLC,
 * origin, destination (a move's; "" when no move is known) in dest and
 * whether the removed file carried \Deleted in *deleted, 0 if none is
 * recorded, -errno.  arg is the struct journal (the shape of
 * applier.removal). */
int journal_message_removal(void *arg, const char *path, hlc_t *hlc, uint16_t *origin, char *dest,
			    size_t destlen, int *deleted);

/* The highest seq of this node's own entries ever pruned from the journal
 * (0: none); and the number of live catalog rows. */
int journal_pruned_through(struct journal *j, uint64_t *through);
int journal_catalog_live(struct journal *j, uint64_t *n);
/* Full sync: journal a baseline entry (MKDIR, WRITE, SYMLINK, MKNOD) for
 * every live catalog row, parents before children, so that the normal
 * stream carries a complete copy to a peer that lacks it.  The walk reads
 * a snapshot on its own connection; entries recorded meanwhile follow in
 * journal order, so the result converges.  root_fd is the backing root
 * (for symlink targets).  tick, if given, is called every 512 rows and
 * stops the walk by returning < 0.  Returns the count or -errno. */
long journal_baseline(struct journal *j, const char *state_dir, int root_fd,
		      int (*tick)(void *arg, long count), void *arg);
/* One live catalog row as a baseline entry (what journal_baseline records
 * per row; the reconciliation resends a row the peer lacks the same way).
 * hash may be NULL.  1 recorded, 0 skipped (a symlink gone since), -errno. */
int journal_baseline_row(struct journal *j, int root_fd, const char *path, uint32_t mode, uint32_t uid,
			 uint32_t gid, int64_t size, int64_t mtime_ns, uint64_t ino, const struct hash128 *hash);

#endif
