/* mtree.h: the catalog's digest tree (a Merkle tree over the live catalog
 * rows), kept in the journal database next to the catalog.
 *
 * Every live row has a leaf hash: xxh3-128 of its path, kind, mode, size,
 * content hash and, for regular files only, mtime (directory mtimes, HLC,
 * origin, inode, owner are each node's own and left out, so two nodes that
 * hold the same state agree).  A digest is the XOR of leaf hashes with a
 * count of rows, so a row change is an O(depth) delta.
 *
 * For each directory D (the store root is "") the rows below D are split by
 * the name of D's child they fall under: bucket = the top 12 bits of that
 * name's hash, three levels of 16.  Tree node ids (u16): level << 12 |
 * prefix, prefix having 4 * level bits; node 0 of D covers D's whole
 * subtree and also counts D's direct children (so a directory of few
 * entries is listed at once).  Only non-empty nodes are stored, in table
 * mtree(dkey, node, digest, count, nchild), dkey a 63-bit hash of D's path.  Catalog rows
 * carry dkey (of their parent) and bkt (bucket of their name), indexed, so
 * the entries of one bucket are one range query, never a directory scan. */
#ifndef MHAFS_MTREE_H
#define MHAFS_MTREE_H

#include <stdint.h>
#include <stdio.h>

#include "journal_int.h"

#define MT_FANOUT 16
#define MT_LEVELS 3
#define MT_BUCKETS 4096 /* MT_FANOUT ^ MT_LEVELS */
#define MT_NODE(level, prefix) ((uint16_t)(((unsigned)(level) << 12) | (unsigned)(prefix)))
#define MT_LEVEL(node) ((unsigned)(node) >> 12)
#define MT_PREFIX(node) ((unsigned)(node) & 0xfffu)
#define MT_CHILD(node, i) MT_NODE(MT_LEVEL(node) + 1, (MT_PREFIX(node) << 4) | (unsigned)(i))

struct mt_digest {
	struct hash128 h;
	uint64_t count;   /* live rows below */
	uint64_t nchild;  /* node 0 only: live direct children of the directory */
};

/* One catalog row with, for a live directory, the digest of its subtree. */
struct mt_entry {
	struct crow row;     /* row.path owned */
	int has_sub;
	struct mt_digest sub;
};

struct mt_entries {
	struct mt_entry *v;
	size_t n, cap;
};

static inline int mt_digest_eq(const struct mt_digest *a, const struct mt_digest *b)
{
	return a->count == b->count && a->h.hi == b->h.hi && a->h.lo == b->h.lo;
}

uint64_t mtree_dkey(const char *dir, size_t len);
unsigned mtree_bucket(const char *name, size_t len);
/* 1 if node is a valid id (level <= 3, prefix within the level). */
int mtree_node_valid(unsigned node);
/* Buckets [lo, hi) that node covers. */
void mtree_node_range(uint16_t node, unsigned *lo, unsigned *hi);
/* Leaf hash of a live row at path. */
void mtree_leaf(const char *path, const struct crow *r, struct hash128 *out);
/* dkey of path's parent and bkt of its last component. */
void mtree_row_keys(const char *path, int64_t *dkey, int64_t *bkt);

/* ---- maintenance (journal lock held, inside the caller's transaction) ---- */

/* Queue the change of the row at path from old to new (either NULL or a
 * deleted row for "no live row").  Applied by mtree_flush. */
int mtree_change(struct journal *j, const char *path, const struct crow *old, const struct crow *new_row);
/* Write the queued changes (SQLITE_OK or an sqlite code); always empties
 * the queue.  mtree_discard drops it (after a rollback). */
int mtree_flush(struct journal *j);
void mtree_discard(struct journal *j);
void mtree_free(struct journal *j);

/* The digest tree is written off the commit path: a transaction that
 * changed rows calls mtree_txn_end before its COMMIT (the first
 * transaction with deltas after the table was last written marks it
 * stale, so a crash before mtree_sync rebuilds it at the next start) and
 * mtree_txn_done after it (committed: its deltas join those waiting; else
 * they are dropped).  mtree_sync writes the waiting deltas in a transaction
 * of its own and marks the table built: the journal writer calls it about
 * once a second (mtree_sync_due), and everything that reads the table
 * calls it first (journal_mtree_sync).  All with the journal lock held. */
int mtree_txn_end(struct journal *j);
void mtree_txn_done(struct journal *j, int committed);
int mtree_sync(struct journal *j);
/* Whether the waiting deltas are older than max_ms or many. */
int mtree_sync_due(struct journal *j, int64_t max_ms);
/* Recompute the whole tree from the live catalog rows (in memory, one
 * pass per 131,072 rows, each for a share of the directories) and mark it
 * built.  Runs inside the caller's transaction. */
int mtree_rebuild(sqlite3 *db);
/* The same with part_rows catalog rows a pass (the tests' small parts). */
int mtree_rebuild_parts(sqlite3 *db, uint64_t part_rows);
/* At open (before statements are prepared): upgrade a schema-1 database
 * (catalog without dkey/bkt, no mtree) and rebuild the tree if it is not
 * marked built.  from_version is the stored schema version. */
int mtree_open(sqlite3 *db, int64_t from_version, char *err, size_t errlen);
/* Mark the tree stale (the catalog is being rebuilt from the store). */
int mtree_mark_stale(sqlite3 *db);
/* Recompute and compare with the stored tree: one line per differing node
 * to out (may be NULL).  Returns the number of differing nodes or -1. */
long mtree_verify(sqlite3 *db, FILE *out);

/* ---- reading (any connection to the database) ---- */

struct mt_reader;
struct mt_reader *mt_reader_new(sqlite3 *db);
void mt_reader_free(struct mt_reader *m);
/* The digest of node in dir (with nchild for node 0) and of its 16 children (zero when empty;
 * children left zero for a level-3 node).  SQLITE_OK or an sqlite code. */
int mt_read_node(struct mt_reader *m, const char *dir, uint16_t node, struct mt_digest *self,
		 struct mt_digest child[MT_FANOUT]);
/* The catalog rows (live and tombstones) of dir's children in node's
 * buckets, ordered by path, names after `after` (NULL: from the start), at
 * most max; *more says whether some were left.  Appended to out. */
int mt_read_entries(struct mt_reader *m, const char *dir, uint16_t node, const char *after,
		    size_t max, struct mt_entries *out, int *more);
void mt_entries_free(struct mt_entries *e);

#endif
