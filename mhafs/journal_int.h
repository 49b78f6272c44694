/* journal_int.h: internals shared by journal.c (database, journal rows),
 * catalog.c (catalog rows and what each op does to them) and recover.c
 * (the backing-tree walk).  Not for use outside those files and mhactl. */
#ifndef MHAFS_JOURNAL_INT_H
#define MHAFS_JOURNAL_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "journal.h"

/* 2: catalog.dkey/bkt and the digest tree (mtree.h); 1 is upgraded at open */
#define JOURNAL_SCHEMA_VERSION 2
#define JOURNAL_DB_NAME "journal.db"

/* One catalog row. */
struct crow {
	char *path;          /* owned (malloc) when from catalog_tree/children */
	char kind;           /* d f l c b p s */
	uint32_t mode, uid, gid;
	int64_t size, mtime_ns;
	uint64_t ino;
	int has_hash;
	struct hash128 hash;
	hlc_t hlc;
	uint16_t origin;
	int deleted;
};

struct crows {
	struct crow *v;
	size_t n, cap;
};

enum jstmt {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_JINS, S_META_LAST, S_META_BUILT,
	S_CGET, S_CPUT, S_CTOMB_TREE, S_CTREE, S_CCHILD, S_CCHILD_ROOT,
	S_MADD, S_MDEL, S_MSTALE, S_MBUILT,
	S_RPUT, S_RGET,
	S_FGET, S_FPUT, S_FDEL,
	NSTMT
};

struct jq_item;
struct mt_map;

/* The catalog columns catalog_row_read expects, in order. */
#define CAT_COLS "kind, mode, uid, gid, size, mtime_ns, ino, hash, hlc, origin, deleted"

struct journal {
	pthread_mutex_t lock;
	sqlite3 *db;
	sqlite3_stmt *st[NSTMT];
	uint16_t node;
	char node_name[64];  /* journal_set_node_name: queue areas (recover.c) */
	struct hlc *clock;
	uint64_t seq;        /* last seq assigned to this node's origin */
	hlc_t last_hlc;
	int catalog_built;
	int progress_ready;  /* the peer_progress table exists (journal_repl.c) */
	sqlite3_stmt *progress_put; /* its upsert, prepared with the table */
	/* the open batch of the peer's entries (journal_apply_begin) */
	int ap_open, ap_rc;
	uint16_t ap_origin;
	uint64_t ap_seq;
	hlc_t ap_hlc;
	int failing;         /* an error was logged; cleared on success */
	/* the asynchronous writer (journal_async.c); while async is 0,
	 * journal_record writes the entry itself */
	int async;
	pthread_mutex_t qlock;
	pthread_cond_t qcond, qdone;
	struct jq_item *qhead, *qtail;
	size_t qlen;
	uint64_t qseq;       /* last seq handed out (under qlock) */
	uint64_t committed;  /* last seq the writer has committed */
	int qstop;
	pthread_t writer;
	struct journal_hooks hooks;
	pthread_mutex_t hlock; /* held while the committed hook runs */
	/* the last committed entries, for the sender (journal_committed_next):
	 * rcap slots from rfirst's seq on, contiguous, under rlock */
	pthread_mutex_t rlock;
	struct jq_item **ring;
	size_t rcap, rstart, rlen;
	uint64_t rfirst;     /* seq of ring[rstart] */
	uint64_t rtop;       /* no entry of this node above it is in the database */
	int rlive;           /* the writer runs and rtop holds */
	unsigned long rejected; /* invalid entries refused (-EINVAL) */
	/* digest tree (mtree.c): changes queued by catalog_put, written by
	 * catalog_apply; suspended while recover.c builds the catalog */
	struct mt_map *mt_pending;
	/* digest-tree deltas of committed transactions not yet written to the
	 * mtree table (mtree_txn_done, mtree_sync); while there are any, the
	 * table says built = 0, so a crash rebuilds the tree at the next start */
	struct mt_map *mt_committed;
	int64_t mt_since_ms; /* CLOCK_MONOTONIC ms of the oldest of them */
	int mt_suspended;
	int mt_defer;        /* in a transaction that ends with mtree_txn_end/done */
};

/* Copy in into out as a journal row read back would give it (only the
 * columns the journal stores; strings into strbuf).  0 if they do not fit. */
int jentry_as_stored(const struct jentry *in, struct jentry *out, char *strbuf, size_t strcap);

/* SQL text of every prepared statement (journal.c prepares them). */
extern const char *const jstmt_sql[NSTMT];

/* Count the statements db runs into journal_statements(); call once right
 * after opening a connection to the journal database. */
void journal_count_statements(sqlite3 *db);

/* Statement helpers: reset + clear bindings before use. */
sqlite3_stmt *jst(struct journal *j, enum jstmt s);
int jexec(struct journal *j, enum jstmt s);   /* step a no-result stmt */

/* catalog.c */
char kind_of_mode(uint32_t mode);
int64_t mtime_ns_of(const struct stat *st);
void crow_from_stat(struct crow *r, const struct stat *st);
/* 1 found (r filled, r->path not set), 0 absent, <0 sqlite error (negated rc). */
int catalog_get(struct journal *j, const char *path, struct crow *r);
int catalog_put(struct journal *j, const char *path, const struct crow *r);
/* Remove path's row outright (no tombstone), digests included. */
int catalog_forget(struct journal *j, const char *path);
/* Live rows at path and below (ordered by path) into out (appended). */
int catalog_tree(struct journal *j, const char *path, struct crows *out);
/* Live direct children of dir ("" = top) into out, ordered by name. */
int catalog_children(sqlite3_stmt *child, sqlite3_stmt *root, const char *dir, struct crows *out);
int catalog_row_read(sqlite3_stmt *s, int col0, struct crow *r);
void crows_free(struct crows *c);
/* Apply an entry (with hlc and origin set) to the catalog: SQLITE_OK or an
 * sqlite error code.  Called inside the record transaction. */
int catalog_apply(struct journal *j, const struct jentry *e);
/* The stamps of the flags of the Maildir message at path (table flagreg):
 * 1 with *r filled, 0 when none are kept (r empty), or an SQLite error. */
struct fregs;
int flagreg_get(struct journal *j, const char *path, struct fregs *r);

/* journal.c: record without taking the lock (caller holds it). */
int journal_record_locked(struct journal *j, struct jentry *e);
/* journal.c: write one assigned entry (seq, hlc set) inside an open
 * transaction: the journal row and its catalog change.  SQLite rc. */
int journal_write_entry(struct journal *j, const struct jentry *e);
/* journal_async.c */
int journal_enqueue(struct journal *j, struct jentry *e);
void journal_stop_writer(struct journal *j);

/* Range bounds of a subtree: lo = "path/", hi = "path0" ('0' follows '/'). */
char *subtree_bound(const char *path, char last);

#endif
