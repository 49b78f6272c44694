/* journal.c: the node's SQLite database (state_dir/journal.db): opening,
 * schema, damage handling, the clean-stop flag, sequence and HLC restore,
 * and journal_record, which appends a journal row and updates the catalog
 * in one transaction.
 *
 * Durability: WAL mode with synchronous=NORMAL.  A committed transaction is
 * in the WAL file (the kernel's page cache) when journal_record returns, so
 * it survives the process being killed (kill -9, crash), which is the
 * failure the journal must ride out; it is not fsynced per operation, so a
 * power loss may lose the last transactions (the database stays
 * consistent, and the start-up check re-journals what the backing tree
 * holds).  Per-operation fsync would cost milliseconds on every FUSE op. */
#include "journal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mtree.h"

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" schema_version INTEGER NOT NULL, node_id INTEGER NOT NULL,"
	" clean INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
	" last_hlc INTEGER NOT NULL, catalog_built INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS journal("
	" origin INTEGER NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL,"
	" op INTEGER NOT NULL, path TEXT NOT NULL, path2 TEXT, xname TEXT,"
	" flags INTEGER NOT NULL, mode INTEGER, uid INTEGER, gid INTEGER,"
	" size INTEGER, mtime_ns INTEGER, hash BLOB,"
	" PRIMARY KEY (origin, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS catalog("
	" path TEXT PRIMARY KEY, kind TEXT NOT NULL, mode INTEGER, uid INTEGER,"
	" gid INTEGER, size INTEGER, mtime_ns INTEGER, ino INTEGER, hash BLOB,"
	" hlc INTEGER NOT NULL, origin INTEGER NOT NULL,"
	" deleted INTEGER NOT NULL DEFAULT 0, dkey INTEGER, bkt INTEGER) WITHOUT ROWID;"
	/* the replicator finds another name of a hard-linked file by inode */
	"CREATE INDEX IF NOT EXISTS catalog_ino ON catalog(ino) WHERE deleted = 0;"
	/* the tombstone collection finds old tombstones by HLC */
	"CREATE INDEX IF NOT EXISTS catalog_tomb ON catalog(hlc) WHERE deleted = 1;"
	/* the latest removal of each Maildir message from each folder, by
	 * base name: where it went (dest, a move) or NULL (no move known), and
	 * whether the removed file carried \Deleted (an IMAP expunge);
	 * apply_move.c settles a removal on both nodes with it */
	"CREATE TABLE IF NOT EXISTS removal(folder TEXT NOT NULL, base TEXT NOT NULL,"
	" hlc INTEGER NOT NULL, origin INTEGER NOT NULL, dest TEXT,"
	" deleted INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (folder, base)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS removal_hlc ON removal(hlc);"
	/* the stamp of the last change of each flag of a Maildir message,
	 * by folder and base name (flagmerge.h): the per-flag merge */
	"CREATE TABLE IF NOT EXISTS flagreg(folder TEXT NOT NULL, base TEXT NOT NULL,"
	" regs BLOB NOT NULL, PRIMARY KEY (folder, base)) WITHOUT ROWID;"
	/* journal_record leaves meta.last_seq to journal_close, so the last
	 * seq lives in the journal rows; whoever deletes our own rows (the
	 * replicator pruning acknowledged ones) must not take it with them,
	 * or a restart after a crash would hand out the same seq again. */
	"CREATE TRIGGER IF NOT EXISTS journal_keep_last AFTER DELETE ON journal"
	" WHEN old.origin = (SELECT node_id FROM meta WHERE id = 1) BEGIN"
	" UPDATE meta SET last_seq = max(last_seq, old.seq), last_hlc = max(last_hlc, old.hlc)"
	" WHERE id = 1; END;"
	/* the highest of our own seqs ever removed (pruned once the peer
	 * acknowledged it): a peer that holds less needs a full sync, a peer
	 * that holds at least that much gets the rest from the journal */
	"CREATE TABLE IF NOT EXISTS pruned(id INTEGER PRIMARY KEY CHECK (id = 1),"
	" through INTEGER NOT NULL);"
	"CREATE TRIGGER IF NOT EXISTS journal_pruned AFTER DELETE ON journal"
	" WHEN old.origin = (SELECT node_id FROM meta WHERE id = 1) BEGIN"
	" INSERT INTO pruned VALUES (1, old.seq)"
	" ON CONFLICT(id) DO UPDATE SET through = max(through, excluded.through); END;";

const char *const jstmt_sql[NSTMT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_JINS] = "INSERT INTO journal(origin, seq, hlc, op, path, path2, xname, flags,"
		   " mode, uid, gid, size, mtime_ns, hash)"
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[S_META_LAST] = "UPDATE meta SET last_seq = max(last_seq, ?1), last_hlc = max(last_hlc, ?2)"
			" WHERE id = 1",
	[S_META_BUILT] = "UPDATE meta SET catalog_built = ?1, last_hlc = max(last_hlc, ?2) WHERE id = 1",
	[S_CGET] = "SELECT " CAT_COLS " FROM catalog WHERE path = ?1",
	/* An upsert, not INSERT OR REPLACE, which takes all of a row's index
	 * entries out and puts them back.  dkey and bkt follow from the path
	 * (mtree_row_keys), so an existing row keeps them and its catalog_bkt
	 * entry is left alone: about one page less in the WAL per row (8.4
	 * instead of 13 KB for a one-row transaction on a 30,000-row catalog). */
	[S_CPUT] = "INSERT INTO catalog(path, " CAT_COLS ", dkey, bkt)"
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
		   " ON CONFLICT(path) DO UPDATE SET kind = excluded.kind, mode = excluded.mode,"
		   " uid = excluded.uid, gid = excluded.gid, size = excluded.size,"
		   " mtime_ns = excluded.mtime_ns, ino = excluded.ino, hash = excluded.hash,"
		   " hlc = excluded.hlc, origin = excluded.origin, deleted = excluded.deleted",
	/* ?1 = path, ?2 = "path/", ?3 = "path0": the range [path, path0)
	 * holds path, its subtree and siblings like "path.x" (bytes below
	 * '/'), which the second test drops.  No LIKE: names may hold % and _. */
	[S_CTOMB_TREE] = "UPDATE catalog SET deleted = 1, hlc = ?4, origin = ?5"
			 " WHERE path >= ?1 AND path < ?3 AND (path = ?1 OR path >= ?2)"
			 " AND deleted = 0",
	[S_CTREE] = "SELECT " CAT_COLS ", path FROM catalog"
		    " WHERE path >= ?1 AND path < ?3 AND (path = ?1 OR path >= ?2)"
		    " AND deleted = 0 ORDER BY path",
	/* Direct children of ?1 ("dir/"): in [dir/, dir0) with no further '/'. */
	[S_CCHILD] = "SELECT " CAT_COLS ", path FROM catalog"
		     " WHERE path >= ?1 AND path < ?2 AND deleted = 0"
		     " AND instr(substr(path, length(?1) + 1), '/') = 0 ORDER BY path",
	[S_CCHILD_ROOT] = "SELECT " CAT_COLS ", path FROM catalog"
			  " WHERE deleted = 0 AND instr(path, '/') = 0 ORDER BY path",
	/* keep the later removal (HLC, node id breaking ties) */
	[S_RPUT] = "INSERT INTO removal(folder, base, hlc, origin, dest, deleted)"
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
		   " ON CONFLICT(folder, base) DO UPDATE SET hlc = excluded.hlc,"
		   " origin = excluded.origin, dest = excluded.dest, deleted = excluded.deleted"
		   " WHERE excluded.hlc > removal.hlc"
		   " OR (excluded.hlc = removal.hlc AND excluded.origin > removal.origin)",
	[S_RGET] = "SELECT hlc, origin, dest, deleted FROM removal WHERE folder = ?1 AND base = ?2",
	[S_FGET] = "SELECT regs FROM flagreg WHERE folder = ?1 AND base = ?2",
	[S_FPUT] = "INSERT OR REPLACE INTO flagreg(folder, base, regs) VALUES (?1, ?2, ?3)",
	[S_FDEL] = "DELETE FROM flagreg WHERE folder = ?1 AND base = ?2",
	/* a node's delta added in one statement (mt_xor: mtree_open); no
	 * RETURNING: it builds a temporary table at every execution */
	[S_MADD] = "INSERT INTO mtree(dkey, node, digest, count, nchild) VALUES (?1, ?2, ?3, ?4, ?5)"
		   " ON CONFLICT(dkey, node) DO UPDATE SET digest = mt_xor(digest, excluded.digest),"
		   " count = count + excluded.count, nchild = nchild + excluded.nchild",
	[S_MDEL] = "DELETE FROM mtree WHERE dkey = ?1 AND node = ?2 AND count <= 0",
	[S_MSTALE] = "UPDATE mtree_meta SET built = 0 WHERE id = 1",
	[S_MBUILT] = "UPDATE mtree_meta SET built = 1 WHERE id = 1",
};

sqlite3_stmt *jst(struct journal *j, enum jstmt s)
{
	sqlite3_stmt *st = j->st[s];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

int jexec(struct journal *j, enum jstmt s)
{
	int rc = sqlite3_step(j->st[s]);
	sqlite3_reset(j->st[s]);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

char *subtree_bound(const char *path, char last)
{
	size_t n = strlen(path);
	char *s = malloc(n + 2);
	if (!s)
		return NULL;
	memcpy(s, path, n);
	s[n] = last;
	s[n + 1] = '\0';
	return s;
}

/* mkdir -p with mode 0700 for the missing components. */
static int mkdir_p(const char *dir)
{
	char *p = strdup(dir);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				int e = -errno;
				free(p);
				return e;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	free(p);
	struct stat st;
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int single_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_NOTFOUND;
	}
	sqlite3_finalize(st);
	return rc;
}

static int is_damage(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT;
}

static atomic_ullong statements;

/* SQLITE_TRACE_STMT: x is the statement's SQL, or a comment ("-- ...")
 * when a trigger's body starts, which is part of the statement counted. */
static int count_statement(unsigned type, void *ctx, void *p, void *x)
{
	(void)type, (void)ctx, (void)p;
	const char *sql = x;
	if (!sql || sql[0] != '-' || sql[1] != '-')
		atomic_fetch_add_explicit(&statements, 1, memory_order_relaxed);
	return 0;
}

void journal_count_statements(sqlite3 *db)
{
	sqlite3_trace_v2(db, SQLITE_TRACE_STMT, count_statement, NULL);
}

uint64_t journal_statements(void)
{
	return atomic_load_explicit(&statements, memory_order_relaxed);
}

enum open_result { OPEN_OK, OPEN_DAMAGED, OPEN_FAIL };

/* Open (creating) the database and check it.  meta_* get the stored
 * values; a new database gets a fresh meta row. */
static enum open_result try_open(const char *path, uint16_t node, sqlite3 **dbp, int64_t *clean,
				 int64_t *built, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = 0, stored_node = 0;
	char sql[256];
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(db, 5000);
	sqlite3_extended_result_codes(db, 1);
	journal_count_statements(db);
	if ((rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;
	/* a journal from before removal.deleted: its removals count as of
	 * unknown kind, which is the safe reading (apply_move.c) */
	int64_t has_deleted = 0;
	if ((rc = single_int(db, "SELECT count(*) FROM pragma_table_info('removal') WHERE name = 'deleted'",
			     &has_deleted)) != SQLITE_OK ||
	    (!has_deleted && (rc = sqlite3_exec(db, "ALTER TABLE removal ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0",
						NULL, NULL, NULL)) != SQLITE_OK))
		goto fail;
	rc = single_int(db, "SELECT schema_version FROM meta WHERE id = 1", &v);
	if (rc == SQLITE_NOTFOUND) {
		snprintf(sql, sizeof(sql), "INSERT INTO meta VALUES (1, %d, %u, 1, 0, 0, 0)",
			 JOURNAL_SCHEMA_VERSION, (unsigned)node);
		if ((rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) != SQLITE_OK ||
		    (rc = sqlite3_exec(db, "INSERT INTO pruned VALUES (1, 0)", NULL, NULL, NULL)) != SQLITE_OK)
			goto fail;
		v = JOURNAL_SCHEMA_VERSION;
	} else if (rc != SQLITE_OK) {
		goto fail;
	}
	/* a journal from before the pruned table: everything below its first
	 * own entry (or everything, when it holds none) may have been pruned */
	if ((rc = sqlite3_exec(db,
			       "INSERT OR IGNORE INTO pruned SELECT 1, coalesce("
			       " (SELECT min(seq) - 1 FROM journal WHERE origin = meta.node_id),"
			       " meta.last_seq) FROM meta WHERE id = 1",
			       NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;
	if (v != JOURNAL_SCHEMA_VERSION && v != 1) {
		seterr(err, errlen, "%s: schema version %" PRId64 ", this mhafs knows %d", path, v,
		       JOURNAL_SCHEMA_VERSION);
		sqlite3_close(db);
		return OPEN_FAIL;
	}
	if ((rc = single_int(db, "SELECT node_id FROM meta", &stored_node)) != SQLITE_OK ||
	    (rc = single_int(db, "SELECT clean FROM meta", clean)) != SQLITE_OK ||
	    (rc = single_int(db, "SELECT catalog_built FROM meta", built)) != SQLITE_OK)
		goto fail;
	if (stored_node != node) {
		seterr(err, errlen, "%s belongs to node_id %" PRId64 ", but node_id is %u", path,
		       stored_node, (unsigned)node);
		sqlite3_close(db);
		return OPEN_FAIL;
	}
	/* Full check after a crash; the cheaper one after a clean stop. */
	rc = sqlite3_prepare_v2(db, *clean ? "PRAGMA quick_check" : "PRAGMA integrity_check", -1,
				&st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		goto fail;
	}
	const unsigned char *res = sqlite3_column_text(st, 0);
	if (!res || strcmp((const char *)res, "ok") != 0) {
		/* first line of the report only */
		seterr(err, errlen, "%s: integrity check: %.*s", path,
		       res ? (int)strcspn((const char *)res, "\n") : 1, res ? (const char *)res : "?");
		sqlite3_finalize(st);
		sqlite3_close(db);
		return OPEN_DAMAGED;
	}
	sqlite3_finalize(st);
	/* schema 1 gets the digest tree; a stale tree is rebuilt */
	if ((rc = mtree_open(db, v, err, errlen)) != SQLITE_OK) {
		sqlite3_close(db);
		return is_damage(rc) ? OPEN_DAMAGED : OPEN_FAIL;
	}
	*dbp = db;
	return OPEN_OK;
fail:
	seterr(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_close(db);
	return is_damage(rc) ? OPEN_DAMAGED : OPEN_FAIL;
}

/* Move a damaged database (and its WAL) aside so a new one can start. */
static int move_aside(const char *path, char *moved, size_t movedlen)
{
	char suffix[64], from[4300], to[4400];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(suffix, sizeof(suffix), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(moved, movedlen, "%s.damaged-%s", path, suffix);
	if (access(moved, F_OK) == 0)
		snprintf(moved, movedlen, "%s.damaged-%s-%ld", path, suffix, (long)getpid());
	if (rename(path, moved) < 0)
		return -errno;
	snprintf(from, sizeof(from), "%s-wal", path);
	snprintf(to, sizeof(to), "%s-wal", moved);
	if (rename(from, to) < 0 && errno != ENOENT)
		return -errno;
	snprintf(from, sizeof(from), "%s-shm", path);
	if (unlink(from) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static void journal_free(struct journal *j)
{
	for (int i = 0; i < NSTMT; i++)
		sqlite3_finalize(j->st[i]);
	sqlite3_finalize(j->progress_put);
	sqlite3_close(j->db);
	mtree_free(j);
	pthread_mutex_destroy(&j->lock);
	pthread_mutex_destroy(&j->rlock);
	pthread_mutex_destroy(&j->hlock);
	free(j);
}

struct journal *journal_open(const char *state_dir, uint16_t node_id, struct hlc *clock,
			     int *clean_out, char *err, size_t errlen)
{
	struct journal *j;
	char path[4200], moved[4300], why[512];
	int64_t clean = 0, built = 0, v;
	int rc;

	if (node_id == 0) {
		seterr(err, errlen, "node_id must be 1..65535");
		return NULL;
	}
	if ((rc = mkdir_p(state_dir)) < 0) {
		seterr(err, errlen, "state_dir %s: %s", state_dir, strerror(-rc));
		return NULL;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, JOURNAL_DB_NAME) >= sizeof(path)) {
		seterr(err, errlen, "state_dir %s: path too long", state_dir);
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&j->lock, NULL);
	pthread_mutex_init(&j->qlock, NULL);
	pthread_mutex_init(&j->rlock, NULL);
	pthread_mutex_init(&j->hlock, NULL);
	pthread_cond_init(&j->qcond, NULL);
	pthread_cond_init(&j->qdone, NULL);
	j->node = node_id;
	j->clock = clock;

	switch (try_open(path, node_id, &j->db, &clean, &built, why, sizeof(why))) {
	case OPEN_OK:
		break;
	case OPEN_FAIL:
		seterr(err, errlen, "%s", why);
		goto fail;
	case OPEN_DAMAGED:
		if ((rc = move_aside(path, moved, sizeof(moved))) < 0) {
			seterr(err, errlen, "%s (and moving it aside failed: %s)", why, strerror(-rc));
			goto fail;
		}
		log_err("journal database damaged (%s); moved to %s, starting a new one "
			"(the catalog will be rebuilt from the backing tree)", why, moved);
		if (try_open(path, node_id, &j->db, &clean, &built, why, sizeof(why)) != OPEN_OK) {
			seterr(err, errlen, "%s", why);
			goto fail;
		}
		clean = 0;
		break;
	}
	for (int i = 0; i < NSTMT; i++) {
		if (sqlite3_prepare_v3(j->db, jstmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &j->st[i], NULL) != SQLITE_OK) {
			seterr(err, errlen, "%s: preparing statement %d: %s", path, i,
			       sqlite3_errmsg(j->db));
			goto fail;
		}
	}
	/* Restore seq and the HLC floor: the meta row, and the tables too in
	 * case a future pruning or an old version left meta behind. */
	char sql[160];
	if (single_int(j->db, "SELECT last_seq FROM meta", &v) == SQLITE_OK)
		j->seq = (uint64_t)v;
	snprintf(sql, sizeof(sql), "SELECT coalesce(max(seq), 0) FROM journal WHERE origin = %u",
		 (unsigned)node_id);
	if (single_int(j->db, sql, &v) == SQLITE_OK && (uint64_t)v > j->seq)
		j->seq = (uint64_t)v;
	/* HLC floor: after a clean stop meta.last_hlc is exact and our last
	 * journal row (an index lookup) is enough; after a crash also scan
	 * both tables (the start-up check is a full walk anyway). */
	char last_sql[160];
	snprintf(last_sql, sizeof(last_sql),
		 "SELECT coalesce(max(hlc), 0) FROM journal WHERE origin = %u AND seq = %" PRIu64,
		 (unsigned)node_id, j->seq);
	const char *hlc_sql[] = { "SELECT last_hlc FROM meta", last_sql,
				  "SELECT coalesce(max(hlc), 0) FROM journal",
				  "SELECT coalesce(max(hlc), 0) FROM catalog" };
	size_t nq = clean ? 2 : 4;
	for (size_t i = 0; i < nq; i++)
		if (single_int(j->db, hlc_sql[i], &v) == SQLITE_OK && (hlc_t)v > j->last_hlc)
			j->last_hlc = (hlc_t)v;
	if (clock)
		hlc_observe(clock, j->last_hlc);
	j->catalog_built = built != 0;
	/* From now until journal_close(j, 1) a stop is unclean. */
	if (sqlite3_exec(j->db, "UPDATE meta SET clean = 0", NULL, NULL, NULL) != SQLITE_OK) {
		seterr(err, errlen, "%s: %s", path, sqlite3_errmsg(j->db));
		goto fail;
	}
	if (clean_out)
		*clean_out = clean && built;
	return j;
fail:
	journal_free(j);
	return NULL;
}

void journal_set_node_name(struct journal *j, const char *name)
{
	pthread_mutex_lock(&j->lock);
	snprintf(j->node_name, sizeof(j->node_name), "%s", name ? name : "");
	pthread_mutex_unlock(&j->lock);
}

int journal_catalog_built(struct journal *j)
{
	pthread_mutex_lock(&j->lock);
	int b = j->catalog_built;
	pthread_mutex_unlock(&j->lock);
	return b;
}

void journal_seq_floor(struct journal *j, uint64_t floor)
{
	pthread_mutex_lock(&j->lock);
	if (j->seq < floor)
		j->seq = floor;
	pthread_mutex_unlock(&j->lock);
}

uint64_t journal_last_seq(struct journal *j)
{
	uint64_t s;
	if (j->async) {
		pthread_mutex_lock(&j->qlock);
		s = j->qseq;
		pthread_mutex_unlock(&j->qlock);
		return s;
	}
	pthread_mutex_lock(&j->lock);
	s = j->seq;
	pthread_mutex_unlock(&j->lock);
	return s;
}

static int bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

static int insert_journal_row(struct journal *j, const struct jentry *e)
{
	sqlite3_stmt *s = jst(j, S_JINS);
	uint8_t h[16];
	sqlite3_bind_int(s, 1, e->origin);
	sqlite3_bind_int64(s, 2, (int64_t)e->seq);
	sqlite3_bind_int64(s, 3, (int64_t)e->hlc);
	sqlite3_bind_int(s, 4, (int)e->op);
	sqlite3_bind_text(s, 5, e->path, -1, SQLITE_STATIC);
	bind_text_or_null(s, 6, e->path2);
	bind_text_or_null(s, 7, e->xname);
	sqlite3_bind_int64(s, 8, e->flags);
	if (e->has_st) {
		sqlite3_bind_int64(s, 9, (int64_t)e->st.st_mode);
		sqlite3_bind_int64(s, 10, (int64_t)e->st.st_uid);
		sqlite3_bind_int64(s, 11, (int64_t)e->st.st_gid);
		sqlite3_bind_int64(s, 12, (int64_t)e->st.st_size);
		sqlite3_bind_int64(s, 13, mtime_ns_of(&e->st));
	}
	if (e->has_hash) {
		hash_to_bytes(&e->hash, h);
		sqlite3_bind_blob(s, 14, h, 16, SQLITE_TRANSIENT);
	}
	return jexec(j, S_JINS);
}

static const char *stored_text(const char *t, char **pos, size_t *left, int *fits)
{
	if (!t)
		return NULL;
	size_t n = strlen(t);
	if (n + 1 > *left) {
		*fits = 0;
		return NULL;
	}
	char *out = *pos;
	memcpy(out, t, n + 1);
	*pos += n + 1;
	*left -= n + 1;
	return out;
}

/* What insert_journal_row stores of e and jcursor_next reads back. */
int jentry_as_stored(const struct jentry *in, struct jentry *out, char *strbuf, size_t strcap)
{
	char *pos = strbuf;
	size_t left = strcap;
	int fits = 1;
	memset(out, 0, sizeof(*out));
	out->origin = in->origin;
	out->seq = in->seq;
	out->hlc = in->hlc;
	out->op = in->op;
	out->path = stored_text(in->path, &pos, &left, &fits);
	out->path2 = stored_text(in->path2, &pos, &left, &fits);
	out->xname = stored_text(in->xname, &pos, &left, &fits);
	out->flags = in->flags;
	if (in->has_st) {
		out->has_st = 1;
		out->st.st_mode = in->st.st_mode;
		out->st.st_uid = in->st.st_uid;
		out->st.st_gid = in->st.st_gid;
		out->st.st_size = in->st.st_size;
		int64_t ns = mtime_ns_of(&in->st);
		out->st.st_mtim.tv_sec = ns / 1000000000;
		out->st.st_mtim.tv_nsec = ns % 1000000000;
	}
	if (in->has_hash) {
		uint8_t h[16];
		hash_to_bytes(&in->hash, h);
		out->has_hash = 1;
		hash_from_bytes(h, &out->hash);
	}
	return fits && out->path;
}

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_NOMEM: return -ENOMEM;
	default: return -EIO;
	}
}

int journal_record_locked(struct journal *j, struct jentry *e)
{
	const char *bad = jentry_invalid(e, 0);
	int rc;

	if (bad) {
		/* a caller's bug: say so, but do not flood the log */
		if (j->rejected < 10)
			log_err("journal: rejected %s entry for '%s': %s%s", jop_name(e->op),
				e->path ? e->path : "(null)", bad,
				j->rejected == 9 ? " (further rejections not logged)" : "");
		j->rejected++;
		return -EINVAL;
	}
	e->origin = j->node;
	e->seq = j->seq + 1;
	e->hlc = j->clock ? hlc_now(j->clock) : j->last_hlc + 1;
	if ((rc = jexec(j, S_BEGIN)) != SQLITE_OK)
		goto fail;
	j->mt_defer = 1;
	rc = journal_write_entry(j, e);
	j->mt_defer = 0;
	if (rc != SQLITE_OK || (rc = mtree_txn_end(j)) != SQLITE_OK)
		goto rollback;
	/* meta.last_seq/last_hlc are not touched here (one page less to write
	 * per op): journal_open takes the maximum of meta and the journal
	 * rows, and journal_close stores them. */
	if ((rc = jexec(j, S_COMMIT)) != SQLITE_OK)
		goto rollback;
	mtree_txn_done(j, 1);
	j->seq = e->seq;
	if (e->hlc > j->last_hlc)
		j->last_hlc = e->hlc;
	if (j->failing) {
		log_notice("journal: recording works again (seq %" PRIu64 ")", e->seq);
		j->failing = 0;
	}
	return 0;
rollback:
	jexec(j, S_ROLLBACK);
	mtree_txn_done(j, 0);
fail:
	if (!j->failing) {
		log_err("journal: cannot record %s '%s': %s (further failures not logged until one succeeds)",
			jop_name(e->op), e->path, sqlite3_errstr(rc));
		j->failing = 1;
	}
	e->seq = 0;
	return map_rc(rc);
}

int journal_write_entry(struct journal *j, const struct jentry *e)
{
	int rc = insert_journal_row(j, e);
	return rc == SQLITE_OK ? catalog_apply(j, e) : rc;
}

int journal_record(struct journal *j, struct jentry *e)
{
	if (j->async)
		return journal_enqueue(j, e);
	pthread_mutex_lock(&j->lock);
	int rc = journal_record_locked(j, e);
	pthread_mutex_unlock(&j->lock);
	return rc;
}

void journal_close(struct journal *j, int clean)
{
	if (!j)
		return;
	journal_stop_writer(j);
	pthread_mutex_lock(&j->lock);
	if (mtree_sync(j) != SQLITE_OK) /* else rebuilt at the next start */
		log_err("journal: cannot write the digest tree: %s", sqlite3_errmsg(j->db));
	sqlite3_stmt *m = jst(j, S_META_LAST);
	sqlite3_bind_int64(m, 1, (int64_t)j->seq);
	sqlite3_bind_int64(m, 2, (int64_t)j->last_hlc);
	if (jexec(j, S_META_LAST) != SQLITE_OK)
		log_err("journal: cannot store the last seq and hlc: %s", sqlite3_errmsg(j->db));
	if (clean && sqlite3_exec(j->db, "UPDATE meta SET clean = 1", NULL, NULL, NULL) != SQLITE_OK)
		log_err("journal: cannot mark the clean stop: %s", sqlite3_errmsg(j->db));
	pthread_mutex_unlock(&j->lock);
	journal_free(j);
}
