/* journal_repl.c: the replicator's side of the journal database (see
 * journal_repl.h).  Uses the journal's internals (journal_int.h) for the
 * catalog update so that a peer's entry changes the catalog exactly as a
 * local one would. */
#include "journal_repl.h"
#include "mtree.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal_int.h"
#include "log.h"
#include "maildir_key.h"

static const char progress_sql[] =
	"CREATE TABLE IF NOT EXISTS peer_progress("
	" origin INTEGER PRIMARY KEY, applied_seq INTEGER NOT NULL)";

/* Under j->lock.  Kept per journal, not per database pointer: a journal
 * closed and opened again may get the same pointer for a new database.
 * The upsert every receiver batch ends with is prepared once, here (its
 * table may not exist before): parsing it per batch was about 6 % of a
 * receiving node's CPU. */
static int ensure_progress(struct journal *j)
{
	if (j->progress_ready)
		return SQLITE_OK;
	int rc = sqlite3_exec(j->db, progress_sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK && !j->progress_put)
		rc = sqlite3_prepare_v3(j->db,
					"INSERT INTO peer_progress(origin, applied_seq) VALUES (?1, ?2)"
					" ON CONFLICT(origin) DO UPDATE SET applied_seq ="
					" max(applied_seq, excluded.applied_seq)", -1,
					SQLITE_PREPARE_PERSISTENT, &j->progress_put, NULL);
	if (rc == SQLITE_OK)
		j->progress_ready = 1;
	return rc;
}

static int errno_of(int rc)
{
	return (rc & 0xff) == SQLITE_FULL ? -ENOSPC : -EIO;
}

int journal_apply_begin(struct journal *j)
{
	journal_flush(j); /* this node's queued entries come first */
	pthread_mutex_lock(&j->lock);
	j->ap_rc = ensure_progress(j);
	if (j->ap_rc == SQLITE_OK)
		j->ap_rc = jexec(j, S_BEGIN);
	j->ap_origin = 0;
	j->ap_seq = 0;
	j->ap_hlc = 0;
	j->ap_open = j->ap_rc == SQLITE_OK;
	j->mt_defer = 1; /* the digest tree is written off this path (mtree.h) */
	return j->ap_rc == SQLITE_OK ? 0 : errno_of(j->ap_rc);
}

int journal_apply_add(struct journal *j, const struct jentry *e, int update_catalog)
{
	if (j->ap_rc != SQLITE_OK)
		return errno_of(j->ap_rc);
	if (j->clock)
		hlc_update(j->clock, e->hlc);
	if (update_catalog == JAR_UNLESS_GONE) {
		struct crow row;
		if (catalog_get(j, e->path, &row) == 1 && row.deleted && row.hlc > e->hlc) {
			update_catalog = JAR_SKIP;
			log_info("journal: %s from node %u: gone here since by a later change; its "
				 "tombstone stays", e->path, e->origin);
		}
	}
	int rc = update_catalog ? catalog_apply(j, e) : SQLITE_OK;
	if (rc != SQLITE_OK) {
		j->ap_rc = rc;
		log_err("journal: cannot record peer entry %u/%" PRIu64 " (%s): %s", e->origin, e->seq,
			e->path, sqlite3_errstr(rc));
		return errno_of(rc);
	}
	/* one stream, one origin: its resume point is the last entry */
	j->ap_origin = e->origin;
	if (e->seq > j->ap_seq)
		j->ap_seq = e->seq;
	if (e->hlc > j->ap_hlc)
		j->ap_hlc = e->hlc;
	return 0;
}

int journal_apply_end(struct journal *j)
{
	int rc = j->ap_rc;
	j->mt_defer = 0;
	if (rc == SQLITE_OK && j->ap_seq) {
		sqlite3_stmt *up = j->progress_put;
		sqlite3_reset(up);
		sqlite3_bind_int(up, 1, j->ap_origin);
		sqlite3_bind_int64(up, 2, (int64_t)j->ap_seq);
		rc = sqlite3_step(up) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(j->db);
		sqlite3_reset(up);
	}
	if (rc == SQLITE_OK && j->ap_hlc > j->last_hlc) {
		sqlite3_stmt *m = jst(j, S_META_LAST);
		sqlite3_bind_int64(m, 1, (int64_t)j->seq);
		sqlite3_bind_int64(m, 2, (int64_t)j->ap_hlc);
		rc = jexec(j, S_META_LAST);
		if (rc == SQLITE_OK)
			j->last_hlc = j->ap_hlc;
	}
	if (rc == SQLITE_OK)
		rc = mtree_txn_end(j);
	if (rc == SQLITE_OK && j->ap_open)
		rc = jexec(j, S_COMMIT);
	if (rc != SQLITE_OK && j->ap_open)
		jexec(j, S_ROLLBACK);
	mtree_txn_done(j, rc == SQLITE_OK);
	j->ap_open = 0;
	pthread_mutex_unlock(&j->lock);
	if (rc != SQLITE_OK) {
		log_err("journal: cannot record the peer's entries up to %u/%" PRIu64 ": %s", j->ap_origin,
			j->ap_seq, sqlite3_errstr(rc));
		return errno_of(rc);
	}
	return 0;
}

int journal_apply_remote(struct journal *j, const struct jentry *e, int update_catalog)
{
	int rc = journal_apply_begin(j);
	if (rc == 0)
		rc = journal_apply_add(j, e, update_catalog);
	int end = journal_apply_end(j);
	return rc < 0 ? rc : end;
}

uint64_t journal_applied_seq(struct journal *j, uint16_t origin)
{
	sqlite3_stmt *s = NULL;
	uint64_t v = 0;
	pthread_mutex_lock(&j->lock);
	if (ensure_progress(j) == SQLITE_OK &&
	    sqlite3_prepare_v2(j->db, "SELECT applied_seq FROM peer_progress WHERE origin = ?1", -1, &s,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_int(s, 1, origin);
		if (sqlite3_step(s) == SQLITE_ROW)
			v = (uint64_t)sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&j->lock);
	return v;
}

int journal_prune(struct journal *j, uint64_t upto)
{
	sqlite3_stmt *s = NULL;
	int rc;
	pthread_mutex_lock(&j->lock);
	rc = sqlite3_prepare_v2(j->db, "DELETE FROM journal WHERE origin = ?1 AND seq <= ?2", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int(s, 1, j->node);
		sqlite3_bind_int64(s, 2, (int64_t)upto);
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(j->db);
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&j->lock);
	return rc == SQLITE_OK ? 0 : errno_of(rc);
}

/* ---- the read cursor ---- */

struct jcursor {
	sqlite3 *db;
	sqlite3_stmt *next, *moved, *backlog, *same_ino;
};

struct jcursor *jcursor_open(const char *state_dir, char *err, size_t errlen)
{
	char path[4200];
	struct jcursor *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s", state_dir, JOURNAL_DB_NAME);
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	journal_count_statements(c->db);
	sqlite3_busy_timeout(c->db, 5000);
	if (sqlite3_prepare_v2(c->db,
			       "SELECT origin, seq, hlc, op, path, path2, xname, flags, mode, uid, gid,"
			       " size, mtime_ns, hash FROM journal WHERE origin = ?1 AND seq > ?2"
			       " ORDER BY seq LIMIT 1", -1, &c->next, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db,
			       "SELECT seq, op, path2 FROM journal WHERE origin = ?1 AND seq > ?2"
			       " AND path = ?3 AND op IN (6, 7, 13) ORDER BY seq LIMIT 1", -1, &c->moved,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db,
			       "SELECT count(*), coalesce(sum(CASE WHEN hash IS NOT NULL THEN size END), 0)"
			       " FROM journal WHERE origin = ?1 AND seq > ?2", -1, &c->backlog,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db,
			       "SELECT path FROM catalog WHERE ino = ?1 AND deleted = 0 AND path != ?2"
			       " AND hash = ?3 AND hlc < ?4 LIMIT 1", -1, &c->same_ino, NULL) != SQLITE_OK)
		goto fail;
	return c;
fail:
	snprintf(err, errlen, "%s: %s", path, c->db ? sqlite3_errmsg(c->db) : "cannot open");
	jcursor_close(c);
	return NULL;
}

void jcursor_close(struct jcursor *c)
{
	if (!c)
		return;
	sqlite3_finalize(c->next);
	sqlite3_finalize(c->moved);
	sqlite3_finalize(c->backlog);
	sqlite3_finalize(c->same_ino);
	sqlite3_close(c->db);
	free(c);
}

/* Copy column col's text into strbuf; NULL for SQL NULL. */
static const char *take_text(sqlite3_stmt *s, int col, char **pos, size_t *left)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	if (!t)
		return NULL;
	size_t n = (size_t)sqlite3_column_bytes(s, col);
	if (n + 1 > *left)
		return NULL;
	char *out = *pos;
	memcpy(out, t, n);
	out[n] = '\0';
	*pos += n + 1;
	*left -= n + 1;
	return out;
}

int jcursor_next(struct jcursor *c, uint16_t origin, uint64_t after, struct jentry *e,
		 char *strbuf, size_t strcap)
{
	sqlite3_stmt *s = c->next;
	sqlite3_reset(s);
	sqlite3_bind_int(s, 1, origin);
	sqlite3_bind_int64(s, 2, (int64_t)after);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return -EIO;
	memset(e, 0, sizeof(*e));
	char *pos = strbuf;
	size_t left = strcap;
	e->origin = (uint16_t)sqlite3_column_int(s, 0);
	e->seq = (uint64_t)sqlite3_column_int64(s, 1);
	e->hlc = (hlc_t)sqlite3_column_int64(s, 2);
	e->op = (enum jop)sqlite3_column_int(s, 3);
	e->path = take_text(s, 4, &pos, &left);
	e->path2 = take_text(s, 5, &pos, &left);
	e->xname = take_text(s, 6, &pos, &left);
	e->flags = (uint32_t)sqlite3_column_int64(s, 7);
	if (sqlite3_column_type(s, 8) != SQLITE_NULL) {
		e->has_st = 1;
		e->st.st_mode = (mode_t)sqlite3_column_int64(s, 8);
		e->st.st_uid = (uid_t)sqlite3_column_int64(s, 9);
		e->st.st_gid = (gid_t)sqlite3_column_int64(s, 10);
		e->st.st_size = (off_t)sqlite3_column_int64(s, 11);
		int64_t ns = sqlite3_column_int64(s, 12);
		e->st.st_mtim.tv_sec = ns / 1000000000;
		e->st.st_mtim.tv_nsec = ns % 1000000000;
	}
	if (sqlite3_column_type(s, 13) == SQLITE_BLOB && sqlite3_column_bytes(s, 13) == 16) {
		e->has_hash = 1;
		hash_from_bytes(sqlite3_column_blob(s, 13), &e->hash);
	}
	sqlite3_reset(s);
	return e->path ? 1 : -EIO;
}

int jcursor_moved(struct jcursor *c, uint16_t origin, uint64_t after, const char *path,
		  char *out, size_t outlen)
{
	char cur[4200];
	int moved = 0;
	snprintf(cur, sizeof(cur), "%s", path);
	for (int hops = 0; hops < 64; hops++) {
		sqlite3_stmt *s = c->moved;
		sqlite3_reset(s);
		sqlite3_bind_int(s, 1, origin);
		sqlite3_bind_int64(s, 2, (int64_t)after);
		sqlite3_bind_text(s, 3, cur, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW)
			return -EIO;
		int op = sqlite3_column_int(s, 1);
		after = (uint64_t)sqlite3_column_int64(s, 0);
		if (op == JOP_UNLINK) {
			sqlite3_reset(s);
			return 0;
		}
		const unsigned char *p2 = sqlite3_column_text(s, 2);
		if (op == JOP_COMMIT || !p2) {
			sqlite3_reset(s);
			return 0; /* another file replaced it: its content is gone */
		}
		snprintf(cur, sizeof(cur), "%s", (const char *)p2);
		moved = 1;
		sqlite3_reset(s);
	}
	sqlite3_reset(c->moved);
	if (!moved || strlen(cur) >= outlen)
		return 0;
	strcpy(out, cur);
	return 1;
}

int jcursor_backlog(struct jcursor *c, uint16_t origin, uint64_t after, uint64_t *ops, uint64_t *bytes)
{
	sqlite3_stmt *s = c->backlog;
	sqlite3_reset(s);
	sqlite3_bind_int(s, 1, origin);
	sqlite3_bind_int64(s, 2, (int64_t)after);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_reset(s);
		return -EIO;
	}
	*ops = (uint64_t)sqlite3_column_int64(s, 0);
	*bytes = (uint64_t)sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	return 0;
}

static int one_int(struct journal *j, const char *sql, int bind_node, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc;
	pthread_mutex_lock(&j->lock);
	rc = sqlite3_prepare_v2(j->db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK) {
		if (bind_node)
			sqlite3_bind_int(s, 1, j->node);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(s, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&j->lock);
	return rc == SQLITE_OK ? 0 : -EIO;
}

int journal_pruned_through(struct journal *j, uint64_t *through)
{
	int64_t v = 0;
	int rc = one_int(j, "SELECT coalesce(max(through), 0) FROM pruned", 0, &v);
	*through = (uint64_t)v;
	return rc;
}

int journal_catalog_live(struct journal *j, uint64_t *n)
{
	int64_t v = 0;
	int rc = one_int(j, "SELECT count(*) FROM catalog WHERE deleted = 0", 0, &v);
	*n = (uint64_t)v;
	return rc;
}

int journal_baseline_row(struct journal *j, int root_fd, const char *path, uint32_t mode, uint32_t uid,
			 uint32_t gid, int64_t size, int64_t mtime_ns, uint64_t ino, const struct hash128 *hash)
{
	static __thread char target[JENTRY_MAX_PATH + 1];
	struct jentry e;
	memset(&e, 0, sizeof(e));
	e.path = path;
	e.has_st = 1;
	e.st.st_mode = (mode_t)mode;
	e.st.st_uid = (uid_t)uid;
	e.st.st_gid = (gid_t)gid;
	e.st.st_size = (off_t)size;
	e.st.st_mtim.tv_sec = mtime_ns / 1000000000;
	e.st.st_mtim.tv_nsec = mtime_ns % 1000000000;
	e.st.st_ino = (ino_t)ino; /* the catalog row keeps its inode (hard links, mhactl check) */
	switch (mode & S_IFMT) {
	case S_IFDIR:
		e.op = JOP_MKDIR;
		break;
	case S_IFREG:
		e.op = JOP_WRITE; /* the sender reads and hashes the content */
		if (hash) {
			e.has_hash = 1;
			e.hash = *hash;
		}
		break;
	case S_IFLNK: {
		ssize_t n = readlinkat(root_fd, path, target, sizeof(target) - 1);
		if (n < 0)
			return 0; /* gone since: its removal is journaled */
		target[n] = '\0';
		e.op = JOP_SYMLINK;
		e.path2 = target;
		break;
	}
	default:
		e.op = JOP_MKNOD;
		break;
	}
	int rc = journal_record(j, &e);
	return rc < 0 ? rc : 1;
}

long journal_baseline(struct journal *j, const char *state_dir, int root_fd,
		      int (*tick)(void *arg, long count), void *arg)
{
	char path[4200];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long count = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", state_dir, JOURNAL_DB_NAME);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, 5000);
	/* a parent's path sorts before its children's ("a" < "a/b") */
	if (sqlite3_prepare_v2(db,
			       "SELECT path, mode, uid, gid, size, mtime_ns, hash, ino FROM catalog"
			       " WHERE deleted = 0 ORDER BY path", -1, &s, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -EIO;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (count % 512 == 0 && tick && tick(arg, count) < 0) {
			rc = -ECANCELED;
			break;
		}
		const char *p = (const char *)sqlite3_column_text(s, 0);
		if (!p)
			continue;
		struct hash128 h;
		int has_hash = sqlite3_column_type(s, 6) == SQLITE_BLOB && sqlite3_column_bytes(s, 6) == 16;
		if (has_hash)
			hash_from_bytes(sqlite3_column_blob(s, 6), &h);
		rc = journal_baseline_row(j, root_fd, p, (uint32_t)sqlite3_column_int64(s, 1),
					  (uint32_t)sqlite3_column_int64(s, 2), (uint32_t)sqlite3_column_int64(s, 3),
					  sqlite3_column_int64(s, 4), sqlite3_column_int64(s, 5),
					  (uint64_t)sqlite3_column_int64(s, 7), has_hash ? &h : NULL);
		if (rc < 0)
			break;
		count += rc;
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	if (rc < 0)
		return rc;
	return count;
}

/* Run one collection statement (?1 before, ?2 this node, ?3 acked_hlc,
 * ?4 limit) under the lock: SQLite rc, the count of rows removed in *n. */
static int gc_step(struct journal *j, const char *sql, hlc_t before, hlc_t acked_hlc, long limit,
		   long *n)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(j->db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, (int64_t)before);
		sqlite3_bind_int(s, 2, j->node);
		sqlite3_bind_int64(s, 3, (int64_t)acked_hlc);
		sqlite3_bind_int64(s, 4, limit);
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(j->db);
		*n = sqlite3_changes(j->db);
	}
	sqlite3_finalize(s);
	return rc;
}

long journal_gc_tombstones(struct journal *j, hlc_t before, hlc_t acked_hlc, long limit)
{
	long n = 0, removals = 0;
	journal_flush(j);
	pthread_mutex_lock(&j->lock);
	int rc = gc_step(j, "DELETE FROM catalog WHERE path IN (SELECT path FROM catalog WHERE deleted = 1"
			 " AND hlc < ?1 AND (origin != ?2 OR hlc <= ?3) LIMIT ?4)", before, acked_hlc, limit, &n);
	/* a removal is consulted only while the peer's entries of the same
	 * time may still arrive, as for tombstones */
	if (rc == SQLITE_OK)
		rc = gc_step(j, "DELETE FROM removal WHERE (folder, base) IN (SELECT folder, base"
			     " FROM removal WHERE hlc < ?1 AND (origin != ?2 OR hlc <= ?3) LIMIT ?4)",
			     before, acked_hlc, limit, &removals);
	pthread_mutex_unlock(&j->lock);
	return rc == SQLITE_OK ? n : errno_of(rc);
}

int journal_catalog_hlc(void *arg, const char *path, hlc_t *hlc, uint16_t *origin)
{
	struct journal *j = arg;
	struct crow row;
	journal_flush(j);
	pthread_mutex_lock(&j->lock);
	int rc = catalog_get(j, path, &row);
	pthread_mutex_unlock(&j->lock);
	if (rc != 1)
		return -ENOENT;
	*hlc = row.hlc;
	*origin = row.origin;
	return 0;
}

int journal_mtree_sync(struct journal *j)
{
	journal_flush(j);
	pthread_mutex_lock(&j->lock);
	int rc = mtree_sync(j);
	pthread_mutex_unlock(&j->lock);
	return rc == SQLITE_OK ? 0 : errno_of(rc);
}

int journal_flag_regs(void *arg, const char *path, struct fregs *r)
{
	struct journal *j = arg;
	journal_flush(j);
	pthread_mutex_lock(&j->lock);
	int rc = flagreg_get(j, path, r);
	pthread_mutex_unlock(&j->lock);
	return rc < 0 ? errno_of(-rc) : rc;
}

int journal_message_removal(void *arg, const char *path, hlc_t *hlc, uint16_t *origin, char *dest,
			    size_t destlen, int *deleted)
{
	struct journal *j = arg;
	size_t flen, blen;
	const char *base;
	if (!maildir_split(path, &flen, &base, &blen))
		return 0;
	journal_flush(j);
	pthread_mutex_lock(&j->lock);
	sqlite3_stmt *s = jst(j, S_RGET);
	sqlite3_bind_text(s, 1, path, (int)flen, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, base, (int)blen, SQLITE_STATIC);
	int rc = sqlite3_step(s), found = 0;
	if (rc == SQLITE_ROW) {
		const unsigned char *d = sqlite3_column_text(s, 2);
		*hlc = (hlc_t)sqlite3_column_int64(s, 0);
		*origin = (uint16_t)sqlite3_column_int(s, 1);
		*deleted = sqlite3_column_int(s, 3) != 0;
		found = snprintf(dest, destlen, "%s", d ? (const char *)d : "") < (int)destlen;
		rc = found ? SQLITE_OK : SQLITE_TOOBIG;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
	sqlite3_reset(s);
	pthread_mutex_unlock(&j->lock);
	return rc == SQLITE_OK ? found : errno_of(rc);
}

int jcursor_same_inode(struct jcursor *c, uint64_t ino, const char *path, const struct hash128 *h,
		       hlc_t before, char *out, size_t outlen)
{
	uint8_t hb[16];
	sqlite3_stmt *s = c->same_ino;
	sqlite3_reset(s);
	hash_to_bytes(h, hb);
	sqlite3_bind_int64(s, 1, (int64_t)ino);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(s, 3, hb, 16, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 4, (int64_t)before);
	int found = 0;
	if (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *p = sqlite3_column_text(s, 0);
		found = p && (size_t)sqlite3_column_bytes(s, 0) < outlen;
		if (found)
			strcpy(out, (const char *)p);
	}
	sqlite3_reset(s);
	return found;
}
