/* catalog.c: the catalog table, the current state of every replicated
 * path, and what each journaled operation does to it (catalog_apply, a
 * table of handlers indexed by op).  Runs inside journal_record's
 * transaction, under its lock. */
#include "journal_int.h"
#include "flagmerge.h"
#include "maildir_key.h"
#include "mtree.h"

#include <stdlib.h>
#include <string.h>

char kind_of_mode(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return 'd';
	case S_IFLNK: return 'l';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	case S_IFIFO: return 'p';
	case S_IFSOCK: return 's';
	default: return 'f';
	}
}

int64_t mtime_ns_of(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

void crow_from_stat(struct crow *r, const struct stat *st)
{
	r->kind = kind_of_mode((uint32_t)st->st_mode);
	r->mode = (uint32_t)st->st_mode;
	r->uid = (uint32_t)st->st_uid;
	r->gid = (uint32_t)st->st_gid;
	r->size = (int64_t)st->st_size;
	r->mtime_ns = mtime_ns_of(st);
	r->ino = (uint64_t)st->st_ino;
}

/* Columns in CAT_COLS order from col0: kind .. deleted. */
int catalog_row_read(sqlite3_stmt *s, int c, struct crow *r)
{
	const unsigned char *k = sqlite3_column_text(s, c);
	r->kind = k && k[0] ? (char)k[0] : '?';
	r->mode = (uint32_t)sqlite3_column_int64(s, c + 1);
	r->uid = (uint32_t)sqlite3_column_int64(s, c + 2);
	r->gid = (uint32_t)sqlite3_column_int64(s, c + 3);
	r->size = sqlite3_column_int64(s, c + 4);
	r->mtime_ns = sqlite3_column_int64(s, c + 5);
	r->ino = (uint64_t)sqlite3_column_int64(s, c + 6);
	r->has_hash = 0;
	if (sqlite3_column_type(s, c + 7) == SQLITE_BLOB && sqlite3_column_bytes(s, c + 7) == 16) {
		hash_from_bytes(sqlite3_column_blob(s, c + 7), &r->hash);
		r->has_hash = 1;
	}
	r->hlc = (hlc_t)sqlite3_column_int64(s, c + 8);
	r->origin = (uint16_t)sqlite3_column_int(s, c + 9);
	r->deleted = sqlite3_column_int(s, c + 10);
	return 0;
}

int catalog_get(struct journal *j, const char *path, struct crow *r)
{
	sqlite3_stmt *s = jst(j, S_CGET);
	sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		catalog_row_read(s, 0, r);
		sqlite3_reset(s);
		return 1;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -rc;
}

/* Write the row at path.  The digest tree follows the row: the old one
 * out, the new in.  known: the caller has read the old row in this
 * transaction (old, or NULL when there is none), so it is not read again. */
static int put_row(struct journal *j, const char *path, const struct crow *r, int known,
		   const struct crow *old)
{
	char kind[2] = { r->kind, '\0' };
	uint8_t h[16];
	int64_t dkey, bkt;
	int rc;
	if (!j->mt_suspended) {
		struct crow got;
		if (!known) {
			rc = catalog_get(j, path, &got);
			if (rc < 0)
				return -rc;
			old = rc == 1 ? &got : NULL;
		}
		if ((rc = mtree_change(j, path, old, r)) != SQLITE_OK)
			return rc;
	}
	mtree_row_keys(path, &dkey, &bkt);
	sqlite3_stmt *s = jst(j, S_CPUT);
	sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, kind, 1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, r->mode);
	sqlite3_bind_int64(s, 4, r->uid);
	sqlite3_bind_int64(s, 5, r->gid);
	sqlite3_bind_int64(s, 6, r->size);
	sqlite3_bind_int64(s, 7, r->mtime_ns);
	sqlite3_bind_int64(s, 8, (int64_t)r->ino);
	if (r->has_hash) {
		hash_to_bytes(&r->hash, h);
		sqlite3_bind_blob(s, 9, h, 16, SQLITE_TRANSIENT);
	}
	sqlite3_bind_int64(s, 10, (int64_t)r->hlc);
	sqlite3_bind_int(s, 11, r->origin);
	sqlite3_bind_int(s, 12, r->deleted);
	sqlite3_bind_int64(s, 13, dkey);
	sqlite3_bind_int64(s, 14, bkt);
	rc = jexec(j, S_CPUT);
	/* a row put directly (the start-up check) takes its digests along */
	if (rc == SQLITE_OK && !j->mt_suspended && !j->mt_defer)
		rc = mtree_flush(j);
	return rc;
}

int catalog_put(struct journal *j, const char *path, const struct crow *r)
{
	return put_row(j, path, r, 0, NULL);
}

int catalog_forget(struct journal *j, const char *path)
{
	struct crow old;
	sqlite3_stmt *s = NULL;
	int rc = catalog_get(j, path, &old);
	if (rc <= 0)
		return rc < 0 ? -rc : SQLITE_OK;
	if (!j->mt_suspended && (rc = mtree_change(j, path, &old, NULL)) != SQLITE_OK)
		return rc;
	rc = sqlite3_prepare_v2(j->db, "DELETE FROM catalog WHERE path = ?1", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(j->db);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_OK && !j->mt_suspended && !j->mt_defer)
		rc = mtree_flush(j);
	return rc;
}

void crows_free(struct crows *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].path);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Append every row of a SELECT (CAT_COLS then path) to out. */
static int collect(sqlite3_stmt *s, struct crows *out)
{
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 16;
			struct crow *v = realloc(out->v, cap * sizeof(*v));
			if (!v) {
				sqlite3_reset(s);
				return SQLITE_NOMEM;
			}
			out->v = v;
			out->cap = cap;
		}
		struct crow *r = &out->v[out->n];
		memset(r, 0, sizeof(*r));
		catalog_row_read(s, 0, r);
		const char *p = (const char *)sqlite3_column_text(s, 11);
		r->path = strdup(p ? p : "");
		if (!r->path) {
			sqlite3_reset(s);
			return SQLITE_NOMEM;
		}
		out->n++;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Bind ?1 path, ?2 "path/", ?3 "path0" (the subtree range). */
static int bind_tree(sqlite3_stmt *s, const char *path, char **lo, char **hi)
{
	*lo = subtree_bound(path, '/');
	*hi = subtree_bound(path, '0');
	if (!*lo || !*hi)
		return SQLITE_NOMEM;
	sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, *lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, *hi, -1, SQLITE_STATIC);
	return SQLITE_OK;
}

int catalog_tree(struct journal *j, const char *path, struct crows *out)
{
	char *lo = NULL, *hi = NULL;
	sqlite3_stmt *s = jst(j, S_CTREE);
	int rc = bind_tree(s, path, &lo, &hi);
	if (rc == SQLITE_OK)
		rc = collect(s, out);
	sqlite3_clear_bindings(s);
	free(lo);
	free(hi);
	return rc;
}

int catalog_children(sqlite3_stmt *child, sqlite3_stmt *root, const char *dir, struct crows *out)
{
	if (dir[0] == '\0') {
		sqlite3_reset(root);
		return collect(root, out);
	}
	char *lo = subtree_bound(dir, '/'), *hi = subtree_bound(dir, '0');
	int rc = SQLITE_NOMEM;
	if (lo && hi) {
		sqlite3_reset(child);
		sqlite3_bind_text(child, 1, lo, -1, SQLITE_STATIC);
		sqlite3_bind_text(child, 2, hi, -1, SQLITE_STATIC);
		rc = collect(child, out);
		sqlite3_clear_bindings(child);
	}
	free(lo);
	free(hi);
	return rc;
}

/* Tombstone path and its subtree.  live: its live rows, read in this
 * transaction by the caller (catalog_tree), or NULL to read them here. */
static int tomb_tree(struct journal *j, const char *path, const struct jentry *e,
		     const struct crows *live)
{
	char *lo = NULL, *hi = NULL;
	int rc = SQLITE_OK;
	if (!j->mt_suspended) {
		/* every live row of the subtree leaves the digest tree */
		struct crows t = { 0 };
		if (!live) {
			rc = catalog_tree(j, path, &t);
			live = &t;
		}
		for (size_t i = 0; rc == SQLITE_OK && i < live->n; i++)
			rc = mtree_change(j, live->v[i].path, &live->v[i], NULL);
		crows_free(&t);
		if (rc != SQLITE_OK)
			return rc;
	}
	sqlite3_stmt *s = jst(j, S_CTOMB_TREE);
	rc = bind_tree(s, path, &lo, &hi);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 4, (int64_t)e->hlc);
		sqlite3_bind_int(s, 5, e->origin);
		rc = jexec(j, S_CTOMB_TREE);
	}
	sqlite3_clear_bindings(s);
	free(lo);
	free(hi);
	return rc;
}

/* A tombstone for a path the catalog never saw still records the delete. */
static int tombstone(struct journal *j, const struct jentry *e, char kind, int tree)
{
	struct crow r;
	int rc = catalog_get(j, e->path, &r);
	if (rc < 0)
		return -rc;
	if (rc == 0) {
		memset(&r, 0, sizeof(r));
		r.kind = kind;
	}
	struct crow old = r;
	int had = rc == 1;
	r.deleted = 1;
	r.hlc = e->hlc;
	r.origin = e->origin;
	if ((rc = put_row(j, e->path, &r, 1, had ? &old : NULL)) != SQLITE_OK)
		return rc;
	return tree ? tomb_tree(j, e->path, e, NULL) : SQLITE_OK;
}

/* Row for a newly created object. */
static int op_create(struct journal *j, const struct jentry *e)
{
	struct crow r;
	memset(&r, 0, sizeof(r));
	if (e->has_st) {
		crow_from_stat(&r, &e->st);
	} else {
		r.kind = e->op == JOP_MKDIR ? 'd' : e->op == JOP_SYMLINK ? 'l' : 'f';
		r.mode = r.kind == 'd' ? S_IFDIR : r.kind == 'l' ? S_IFLNK : S_IFREG;
	}
	if (e->has_hash) {
		r.hash = e->hash;
		r.has_hash = 1;
	} else if (e->op == JOP_SYMLINK) {
		hash_buf(e->path2, strlen(e->path2), &r.hash);
		r.has_hash = 1;
		if (!e->has_st)
			r.size = (int64_t)strlen(e->path2);
	} else if (e->op == JOP_CREATE && (!e->has_st || e->st.st_size == 0)) {
		hash_buf("", 0, &r.hash);
		r.has_hash = 1;
	}
	r.hlc = e->hlc;
	r.origin = e->origin;
	return catalog_put(j, e->path, &r);
}

/* A Maildir message's removal from its folder, kept per (folder, base
 * name) with where it went, or for no known move whether the file carried
 * \Deleted (see the removal table). */
static int note_removal(struct journal *j, const struct jentry *e)
{
	size_t flen, blen;
	const char *base;
	if (!maildir_split(e->path, &flen, &base, &blen))
		return SQLITE_OK;
	sqlite3_stmt *s = jst(j, S_RPUT);
	sqlite3_bind_text(s, 1, e->path, (int)flen, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, base, (int)blen, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (int64_t)e->hlc);
	sqlite3_bind_int(s, 4, e->origin);
	if (e->path2)
		sqlite3_bind_text(s, 5, e->path2, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 6, !e->path2 && mflags_deleted(e->path));
	return jexec(j, S_RPUT);
}

/* Bind a message's (folder, base name) to ?1, ?2; 0 if path is none. */
static int bind_message_key(sqlite3_stmt *s, const char *path)
{
	size_t flen, blen;
	const char *base;
	if (!maildir_split(path, &flen, &base, &blen))
		return 0;
	sqlite3_bind_text(s, 1, path, (int)flen, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, base, (int)blen, SQLITE_STATIC);
	return 1;
}

int flagreg_get(struct journal *j, const char *path, struct fregs *r)
{
	memset(r, 0, sizeof(*r));
	sqlite3_stmt *s = jst(j, S_FGET);
	if (!bind_message_key(s, path))
		return 0;
	int rc = sqlite3_step(s), found = 0;
	if (rc == SQLITE_ROW) {
		/* a row we cannot read counts as none: the merge falls back to
		 * the versions' own stamps */
		found = fregs_decode(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0), r) == 0;
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
	sqlite3_reset(s);
	return rc == SQLITE_OK ? found : -rc;
}

/* A rename that changes only a message's flags (same folder, same base
 * name; new/ to cur/ included) stamps each flag it changed. */
static int note_flags(struct journal *j, const struct jentry *e)
{
	size_t fl1, bl1, fl2, bl2;
	const char *b1, *b2;
	uint64_t from, to;
	struct fregs r;
	uint8_t buf[FREGS_MAX_BYTES];
	if (!maildir_split(e->path, &fl1, &b1, &bl1) || !maildir_split(e->path2, &fl2, &b2, &bl2) ||
	    fl1 != fl2 || bl1 != bl2 || memcmp(e->path, e->path2, fl1) != 0 || memcmp(b1, b2, bl1) != 0)
		return SQLITE_OK;
	if (!mflags_parse(b1, &from) || !mflags_parse(b2, &to) || from == to)
		return SQLITE_OK;
	int rc = flagreg_get(j, e->path, &r);
	if (rc < 0)
		return -rc;
	struct fstamp st = { e->hlc, e->origin };
	fregs_note(&r, from, to, &st);
	size_t n = fregs_encode(&r, buf, sizeof(buf));
	sqlite3_stmt *s = jst(j, S_FPUT);
	bind_message_key(s, e->path);
	sqlite3_bind_blob(s, 3, buf, (int)n, SQLITE_STATIC);
	return jexec(j, S_FPUT);
}

static int op_unlink(struct journal *j, const struct jentry *e)
{
	int rc = tombstone(j, e, 'f', 0);
	if (rc != SQLITE_OK || (e->flags & JOP_UNLINK_RESTATED))
		return rc; /* the walk re-stating a tombstone removed nothing of a user's */
	if ((rc = note_removal(j, e)) != SQLITE_OK)
		return rc;
	/* gone from its folder: its flags' stamps with it (a message that
	 * comes back there is new mail, or a copy whose flags start over) */
	sqlite3_stmt *s = jst(j, S_FDEL);
	return bind_message_key(s, e->path) ? jexec(j, S_FDEL) : SQLITE_OK;
}

static int op_rmdir(struct journal *j, const struct jentry *e)
{
	return tombstone(j, e, 'd', 1);
}

/* Re-root rows from prefix "from" to "to" and write them live.  dest_known:
 * the row at "to" itself was read in this transaction (dest, or NULL for
 * none) and nothing wrote it since. */
static int put_moved(struct journal *j, const struct crows *rows, const char *from,
		     const char *to, const struct jentry *e, int dest_known, const struct crow *dest)
{
	size_t fl = strlen(from), tl = strlen(to);
	for (size_t i = 0; i < rows->n; i++) {
		struct crow r = rows->v[i];
		size_t rest = strlen(r.path) - fl;
		char *np = malloc(tl + rest + 1);
		if (!np)
			return SQLITE_NOMEM;
		memcpy(np, to, tl);
		memcpy(np + tl, r.path + fl, rest + 1);
		if (rest == 0 && e->has_st && e->op == JOP_RENAME &&
		    !(e->flags & JOP_RENAME_EXCHANGE))
			crow_from_stat(&r, &e->st);
		r.hlc = e->hlc;
		r.origin = e->origin;
		r.deleted = 0;
		int rc = put_row(j, np, &r, rest == 0 && dest_known, dest);
		free(np);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int op_rename(struct journal *j, const struct jentry *e)
{
	struct crows a = { 0 }, b = { 0 };
	int xchg = (e->flags & JOP_RENAME_EXCHANGE) != 0;
	int rc;

	if (strcmp(e->path, e->path2) == 0)
		return SQLITE_OK;
	if ((rc = catalog_tree(j, e->path, &a)) != SQLITE_OK)
		goto out;
	if (xchg && (rc = catalog_tree(j, e->path2, &b)) != SQLITE_OK)
		goto out;
	/* Two hard links of one file: rename(2) does nothing. */
	struct crow d;
	const struct crow *dest = NULL;
	int dest_known = 0, synth = 0;
	if (!xchg && a.n == 1 && a.v[0].kind == 'f') {
		int got = catalog_get(j, e->path2, &d);
		if (got == 1 && !d.deleted && d.kind == 'f' && d.ino == a.v[0].ino && d.ino != 0)
			goto out;
		/* the source is a file: tombstoning it below leaves the row at
		 * path2 as read here */
		dest_known = got >= 0;
		dest = got == 1 ? &d : NULL;
	}
	if (a.n == 0 && e->has_st) {
		synth = 1;
		/* The source was never cataloged: take the object from st. */
		struct crow r;
		memset(&r, 0, sizeof(r));
		crow_from_stat(&r, &e->st);
		r.path = strdup(e->path);
		if (!r.path) {
			rc = SQLITE_NOMEM;
			goto out;
		}
		a.v = malloc(sizeof(r));
		if (!a.v) {
			free(r.path);
			rc = SQLITE_NOMEM;
			goto out;
		}
		a.v[0] = r;
		a.n = a.cap = 1;
	}
	/* the live rows at the source are a's (none when a was made from st);
	 * an exchange's second subtree is read again after the first's
	 * tombstones */
	struct crows none = { 0 };
	if ((rc = tomb_tree(j, e->path, e, synth ? &none : &a)) != SQLITE_OK)
		goto out;
	if (xchg && (rc = tomb_tree(j, e->path2, e, NULL)) != SQLITE_OK)
		goto out;
	if ((rc = put_moved(j, &a, e->path, e->path2, e, dest_known, dest)) != SQLITE_OK)
		goto out;
	if (xchg)
		rc = put_moved(j, &b, e->path2, e->path, e, 0, NULL);
	else
		rc = note_flags(j, e);
out:
	crows_free(&a);
	crows_free(&b);
	return rc;
}

static int op_link(struct journal *j, const struct jentry *e)
{
	struct crow r;
	int rc = catalog_get(j, e->path, &r);
	if (rc < 0)
		return -rc;
	if (rc == 0 || r.deleted) {
		memset(&r, 0, sizeof(r));
		r.kind = 'f';
		r.mode = S_IFREG;
	}
	if (e->has_st)
		crow_from_stat(&r, &e->st);
	if (e->has_hash) {
		r.hash = e->hash;
		r.has_hash = 1;
	}
	r.hlc = e->hlc;
	r.origin = e->origin;
	r.deleted = 0;
	return catalog_put(j, e->path2, &r);
}

/* SETATTR, WRITE, COMMIT, SETXATTR, REMOVEXATTR: update the row at path. */
static int op_update(struct journal *j, const struct jentry *e)
{
	struct crow r;
	int rc;
	/* st and hash define the whole row (a delivery's commit, a closed
	 * write): no need to read the old one. */
	if (e->has_st && e->has_hash) {
		memset(&r, 0, sizeof(r));
		crow_from_stat(&r, &e->st);
		r.hash = e->hash;
		r.has_hash = 1;
		r.hlc = e->hlc;
		r.origin = e->origin;
		return catalog_put(j, e->path, &r);
	}
	rc = catalog_get(j, e->path, &r);
	if (rc < 0)
		return -rc;
	struct crow old = r;
	int had = rc == 1;
	if (rc == 0 || r.deleted) {
		/* Nothing known about an object whose xattrs changed: leave it. */
		if (!e->has_st && (e->op == JOP_SETXATTR || e->op == JOP_REMOVEXATTR))
			return SQLITE_OK;
		memset(&r, 0, sizeof(r));
		r.kind = 'f';
		r.mode = S_IFREG;
	}
	if (e->has_st)
		crow_from_stat(&r, &e->st);
	if (e->has_hash) {
		r.hash = e->hash;
		r.has_hash = 1;
	} else if (e->op == JOP_WRITE || e->op == JOP_COMMIT ||
		   (e->op == JOP_SETATTR && (e->flags & (1u << 3) /* FUSE_SET_ATTR_SIZE */))) {
		r.has_hash = 0;
	}
	r.hlc = e->hlc;
	r.origin = e->origin;
	r.deleted = 0;
	return put_row(j, e->path, &r, 1, had ? &old : NULL);
}

typedef int (*op_fn)(struct journal *j, const struct jentry *e);

static const op_fn op_table[JOP_MAX + 1] = {
	[JOP_MKDIR] = op_create,
	[JOP_RMDIR] = op_rmdir,
	[JOP_CREATE] = op_create,
	[JOP_MKNOD] = op_create,
	[JOP_SYMLINK] = op_create,
	[JOP_UNLINK] = op_unlink,
	[JOP_RENAME] = op_rename,
	[JOP_LINK] = op_link,
	[JOP_SETATTR] = op_update,
	[JOP_WRITE] = op_update,
	[JOP_SETXATTR] = op_update,
	[JOP_REMOVEXATTR] = op_update,
	[JOP_COMMIT] = op_update,
};

int catalog_apply(struct journal *j, const struct jentry *e)
{
	if ((int)e->op < 1 || (int)e->op > JOP_MAX || !op_table[e->op])
		return SQLITE_MISUSE;
	/* its digest-tree deltas wait for the transaction's end (every
	 * caller sets mt_defer: mtree_txn_end, mtree_txn_done) */
	return op_table[e->op](j, e);
}
