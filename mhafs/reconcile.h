/* reconcile.h: the reconciliation walk.  It compares this node's digest
 * tree (mtree.h) with another one, top-down, and descends only where the
 * digests differ, so its work follows the number of differences, not the
 * size of the store.  The other tree is reached through a small transport
 * (rc_source): another database on this machine (unit tests, benchmark)
 * or the peer over the wire (repl_send.c). */
#ifndef MHAFS_RECONCILE_H
#define MHAFS_RECONCILE_H

#include <sqlite3.h>
#include <stdint.h>

#include "mtree.h"

/* A node with at most this many rows below, or a directory with at most
 * this many direct children, is compared entry by entry. */
#define RC_LIST_MAX 48
/* Entries per request. */
#define RC_PAGE 256

struct rc_listing {
	struct mt_digest self;
	struct mt_digest child[MT_FANOUT]; /* want_entries == 0 */
	struct mt_entries ents;            /* want_entries == 1: appended */
	int more;                          /* entries were left: ask again after the last */
};

struct rc_source {
	void *arg;
	/* The children of node in dir: the node's own digest and its 16
	 * bucket digests, or (want_entries) the catalog rows of its buckets
	 * with names after `after` (NULL: from the first).  0 or -errno. */
	int (*fetch)(void *arg, const char *dir, uint16_t node, int want_entries, const char *after,
		     struct rc_listing *out);
};

struct rc_stats {
	uint64_t nodes;    /* digests compared */
	uint64_t entries;  /* catalog rows compared */
	uint64_t requests; /* fetches from the remote source */
	uint64_t diffs;    /* differing paths reported */
};

/* A path whose live state differs: local and remote are the rows (live or
 * tombstone) or NULL when absent.  A directory is reported before its
 * contents when it is live here, after them otherwise (so a removal can be
 * replayed children first).  Returning < 0 stops the walk. */
typedef int (*rc_diff_fn)(void *arg, const char *path, const struct crow *local,
			  const struct crow *remote);

/* Walk; 0 or the first error (-errno, or the callback's).  st is filled
 * (also on error, with what was done). */
int reconcile_walk(const struct rc_source *local, const struct rc_source *remote, rc_diff_fn fn,
		   void *arg, struct rc_stats *st);

/* Whether two rows hold different live state (a NULL or deleted row holds
 * none); equal live rows have equal leaf hashes. */
int rc_rows_differ(const char *path, const struct crow *a, const struct crow *b);

/* A source reading a catalog database (db stays the caller's). */
int rc_source_db(struct rc_source *src, sqlite3 *db);
void rc_source_db_free(struct rc_source *src);
/* The same fetch as rc_source_db's, for a reader the caller owns (the
 * peer's answer to a TREE_REQ). */
int rc_fetch_reader(struct mt_reader *m, const char *dir, uint16_t node, int want_entries,
		    const char *after, struct rc_listing *out);

#endif
