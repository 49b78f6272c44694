/* mtree.c: the catalog's digest tree (see mtree.h): leaf hashes, the
 * delta queue applied in the catalog's transaction, the full rebuild (new
 * or upgraded database, catalog rebuilt from the store), the verification
 * behind `mhactl check`, and the reads the reconciliation walk makes. */
#include "mtree.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

/* ---- keys and leaves ---- */

uint64_t mtree_dkey(const char *dir, size_t len)
{
	return hash64(dir, len) & (uint64_t)INT64_MAX;
}

unsigned mtree_bucket(const char *name, size_t len)
{
	return (unsigned)(hash64(name, len) >> 52);
}

int mtree_node_valid(unsigned node)
{
	unsigned level = MT_LEVEL(node);
	return level <= MT_LEVELS && MT_PREFIX(node) < (1u << (4 * level));
}

void mtree_node_range(uint16_t node, unsigned *lo, unsigned *hi)
{
	unsigned shift = 4 * (MT_LEVELS - MT_LEVEL(node));
	*lo = MT_PREFIX(node) << shift;
	*hi = (MT_PREFIX(node) + 1) << shift;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

void mtree_leaf(const char *path, const struct crow *r, struct hash128 *out)
{
	uint8_t buf[JENTRY_MAX_PATH + 64];
	size_t n = strnlen(path, JENTRY_MAX_PATH);
	memcpy(buf, path, n);
	buf[n++] = 0;
	buf[n++] = (uint8_t)r->kind;
	put_le(buf + n, r->mode, 4);
	n += 4;
	/* a directory's size is each file system's own */
	put_le(buf + n, r->kind == 'd' ? 0 : (uint64_t)r->size, 8);
	n += 8;
	buf[n++] = r->has_hash ? 1 : 0;
	if (r->has_hash) {
		hash_to_bytes(&r->hash, buf + n);
		n += 16;
	}
	if (r->kind == 'f') {
		put_le(buf + n, (uint64_t)r->mtime_ns, 8);
		n += 8;
	}
	hash_buf(buf, n, out);
}

void mtree_row_keys(const char *path, int64_t *dkey, int64_t *bkt)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	const char *name = slash ? slash + 1 : path;
	*dkey = (int64_t)mtree_dkey(path, dlen);
	*bkt = (int64_t)mtree_bucket(name, strlen(name));
}

/* ---- an in-memory map (dkey, node) -> (xor, count and nchild deltas) ---- */

struct mt_slot {
	uint64_t dkey;
	uint32_t node, used; /* used: 1 occupied, 2 also seen (verify) */
	uint64_t hi, lo;
	int64_t count, nchild;
};

struct mt_map {
	struct mt_slot *v;
	size_t cap, n;
};

static size_t slot_of(const struct mt_map *m, uint64_t dkey, uint32_t node)
{
	uint64_t h = (dkey ^ ((uint64_t)node * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
	size_t i = (size_t)(h >> 17) & (m->cap - 1);
	while (m->v[i].used && (m->v[i].dkey != dkey || m->v[i].node != node))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int map_grow(struct mt_map *m)
{
	struct mt_map nm = { .cap = m->cap ? m->cap * 2 : 256 };
	nm.v = calloc(nm.cap, sizeof(*nm.v));
	if (!nm.v)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->v[i].used)
			nm.v[slot_of(&nm, m->v[i].dkey, m->v[i].node)] = m->v[i];
	nm.n = m->n;
	free(m->v);
	*m = nm;
	return 0;
}

static int map_add(struct mt_map *m, uint64_t dkey, uint32_t node, const struct hash128 *leaf,
		   int64_t sign, int64_t child)
{
	if ((m->n + 1) * 10 > m->cap * 7 && map_grow(m) < 0)
		return -ENOMEM;
	struct mt_slot *s = &m->v[slot_of(m, dkey, node)];
	if (!s->used) {
		memset(s, 0, sizeof(*s));
		s->used = 1;
		s->dkey = dkey;
		s->node = node;
		m->n++;
	}
	s->hi ^= leaf->hi;
	s->lo ^= leaf->lo;
	s->count += sign;
	s->nchild += child;
	return 0;
}

static void map_clear(struct mt_map *m)
{
	if (m->n) {
		memset(m->v, 0, m->cap * sizeof(*m->v));
		m->n = 0;
	}
}

/* Add the leaf of the row at path (sign +1) or take it away (-1) at every
 * ancestor directory: the four nodes on the way to the child it is under;
 * with parts > 1, only at the directories whose key is part modulo parts. */
static int add_path(struct mt_map *m, const char *path, const struct hash128 *leaf, int64_t sign,
		    uint64_t parts, uint64_t part)
{
	size_t dlen = 0;
	for (;;) {
		const char *name = dlen ? path + dlen + 1 : path;
		const char *slash = strchr(name, '/');
		size_t nlen = slash ? (size_t)(slash - name) : strlen(name);
		uint64_t dk = mtree_dkey(path, dlen);
		unsigned b = mtree_bucket(name, nlen);
		/* node 0 of the parent also counts its direct children */
		for (unsigned l = 0; l <= MT_LEVELS && (parts < 2 || dk % parts == part); l++)
			if (map_add(m, dk, MT_NODE(l, b >> (4 * (MT_LEVELS - l))), leaf, sign,
				    !slash && l == 0 ? sign : 0) < 0)
				return -ENOMEM;
		if (!slash)
			return 0;
		dlen = (size_t)(slash - path);
	}
}

/* ---- incremental maintenance ---- */

int mtree_change(struct journal *j, const char *path, const struct crow *old, const struct crow *new_row)
{
	struct hash128 lo, ln;
	int ol = old && !old->deleted, nl = new_row && !new_row->deleted;
	if (j->mt_suspended || path[0] == '\0' || (!ol && !nl))
		return SQLITE_OK;
	if (!j->mt_pending && !(j->mt_pending = calloc(1, sizeof(*j->mt_pending))))
		return SQLITE_NOMEM;
	if (ol)
		mtree_leaf(path, old, &lo);
	if (nl)
		mtree_leaf(path, new_row, &ln);
	if (ol && nl && lo.hi == ln.hi && lo.lo == ln.lo)
		return SQLITE_OK; /* only hlc, origin, owner or a directory's mtime changed */
	if ((ol && add_path(j->mt_pending, path, &lo, -1, 1, 0) < 0) ||
	    (nl && add_path(j->mt_pending, path, &ln, +1, 1, 0) < 0))
		return SQLITE_NOMEM;
	return SQLITE_OK;
}

void mtree_discard(struct journal *j)
{
	if (j->mt_pending)
		map_clear(j->mt_pending);
}

void mtree_free(struct journal *j)
{
	if (j->mt_pending)
		free(j->mt_pending->v);
	free(j->mt_pending);
	j->mt_pending = NULL;
	if (j->mt_committed)
		free(j->mt_committed->v);
	free(j->mt_committed);
	j->mt_committed = NULL;
}

static void bind_digest(sqlite3_stmt *s, int col, uint64_t hi, uint64_t lo)
{
	uint8_t b[16];
	struct hash128 h = { hi, lo };
	hash_to_bytes(&h, b);
	sqlite3_bind_blob(s, col, b, 16, SQLITE_TRANSIENT);
}

static void column_digest(sqlite3_stmt *s, int col, struct hash128 *h)
{
	if (sqlite3_column_bytes(s, col) == 16)
		hash_from_bytes(sqlite3_column_blob(s, col), h);
	else
		h->hi = h->lo = 0;
}

/* Add each delta of m to the table, inside the caller's transaction; m is
 * left as it was.  One upsert per node (S_MADD).  A node whose count
 * drops to zero is deleted, as a rebuild would not have it: only a delta
 * of zero or fewer leaves can do that (a stored node has at least one),
 * so only those are followed by the DELETE. */
static int write_deltas(struct journal *j, struct mt_map *m)
{
	int rc = SQLITE_OK;
	for (size_t i = 0; i < m->cap && rc == SQLITE_OK; i++) {
		struct mt_slot *d = &m->v[i];
		if (!d->used || (d->hi == 0 && d->lo == 0 && d->count == 0))
			continue;
		sqlite3_stmt *s = jst(j, S_MADD);
		sqlite3_bind_int64(s, 1, (int64_t)d->dkey);
		sqlite3_bind_int(s, 2, (int)d->node);
		bind_digest(s, 3, d->hi, d->lo);
		sqlite3_bind_int64(s, 4, d->count);
		sqlite3_bind_int64(s, 5, d->nchild);
		rc = jexec(j, S_MADD);
		if (rc != SQLITE_OK || d->count > 0)
			continue;
		s = jst(j, S_MDEL);
		sqlite3_bind_int64(s, 1, (int64_t)d->dkey);
		sqlite3_bind_int(s, 2, (int)d->node);
		rc = jexec(j, S_MDEL);
	}
	return rc;
}

int mtree_flush(struct journal *j)
{
	struct mt_map *m = j->mt_pending;
	if (!m || m->n == 0)
		return SQLITE_OK;
	int rc = write_deltas(j, m);
	map_clear(m);
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mtree_txn_end(struct journal *j)
{
	if (!j->mt_pending || j->mt_pending->n == 0 || (j->mt_committed && j->mt_committed->n))
		return SQLITE_OK;
	return jexec(j, S_MSTALE); /* the first deltas the table lacks */
}

void mtree_txn_done(struct journal *j, int committed)
{
	struct mt_map *m = j->mt_pending;
	if (!m || m->n == 0)
		return;
	if (committed && !j->mt_committed && !(j->mt_committed = calloc(1, sizeof(*j->mt_committed))))
		committed = 0;
	if (committed) {
		struct mt_map *c = j->mt_committed;
		if (c->n == 0)
			j->mt_since_ms = now_ms();
		for (size_t i = 0; i < m->cap; i++) {
			struct mt_slot *d = &m->v[i];
			if (!d->used)
				continue;
			struct hash128 h = { d->hi, d->lo };
			if (map_add(c, d->dkey, d->node, &h, d->count, d->nchild) < 0) {
				/* no memory to keep them: the table stays marked
				 * stale and is rebuilt at the next start */
				log_err("journal: digest tree: out of memory; rebuilt at the next start");
				break;
			}
		}
	}
	map_clear(m);
}

int mtree_sync(struct journal *j)
{
	struct mt_map *c = j->mt_committed;
	if (!c || c->n == 0)
		return SQLITE_OK;
	int rc = jexec(j, S_BEGIN);
	if (rc == SQLITE_OK)
		rc = write_deltas(j, c);
	if (rc == SQLITE_OK)
		rc = jexec(j, S_MBUILT);
	if (rc == SQLITE_OK)
		rc = jexec(j, S_COMMIT);
	if (rc != SQLITE_OK) {
		jexec(j, S_ROLLBACK); /* kept for the next try; the table stays stale */
		return rc;
	}
	map_clear(c);
	return SQLITE_OK;
}

int mtree_sync_due(struct journal *j, int64_t max_ms)
{
	struct mt_map *c = j->mt_committed;
	if (!c || c->n == 0)
		return 0;
	return c->n >= 65536 || now_ms() - j->mt_since_ms >= max_ms;
}

/* ---- full rebuild and verification ---- */

/* Whether a directory on the way to path has its key in the part. */
static int in_part(const char *path, uint64_t parts, uint64_t part)
{
	const char *slash = path;
	if (mtree_dkey(path, 0) % parts == part)
		return 1;
	while ((slash = strchr(slash + 1, '/')))
		if (mtree_dkey(path, (size_t)(slash - path)) % parts == part)
			return 1;
	return 0;
}

/* The tree nodes of the live catalog rows, in m; with parts > 1 only
 * those of the directories whose key is part modulo parts. */
static int compute(sqlite3 *db, struct mt_map *m, uint64_t parts, uint64_t part)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT " CAT_COLS ", path FROM catalog WHERE deleted = 0",
				    -1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct crow r;
		struct hash128 leaf;
		const char *p = (const char *)sqlite3_column_text(s, 11);
		if (!p || !p[0] || (parts > 1 && !in_part(p, parts, part)))
			continue;
		catalog_row_read(s, 0, &r);
		mtree_leaf(p, &r, &leaf);
		if (add_path(m, p, &leaf, +1, parts, part) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Catalog rows a rebuild takes into one in-memory map at most.  The map
 * holds about 1.2 tree nodes a row (a mailbox of 1,000 messages has some
 * 1,150), 48 bytes each at a load under 0.7, and the old array lives on
 * while it doubles: over a million rows in one map the daemon peaked at
 * 153 MiB (bench/memory).  A larger catalog is rebuilt in parts, each the
 * directories whose key falls in it, one scan of the catalog each, so the
 * map stays under about 20 MiB. */
#define REBUILD_PART_ROWS 131072

int mtree_rebuild(sqlite3 *db)
{
	return mtree_rebuild_parts(db, REBUILD_PART_ROWS);
}

int mtree_rebuild_parts(sqlite3 *db, uint64_t part_rows)
{
	struct mt_map m = { 0 };
	sqlite3_stmt *ins = NULL, *cnt = NULL;
	uint64_t parts = 1;
	int rc = exec(db, "DELETE FROM mtree");
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM catalog WHERE deleted = 0", -1, &cnt, NULL);
	if (rc == SQLITE_OK && sqlite3_step(cnt) == SQLITE_ROW)
		parts = 1 + (uint64_t)sqlite3_column_int64(cnt, 0) / (part_rows ? part_rows : 1);
	sqlite3_finalize(cnt);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO mtree(dkey, node, digest, count, nchild)"
					" VALUES (?1, ?2, ?3, ?4, ?5)",
					-1, &ins, NULL);
	for (uint64_t part = 0; rc == SQLITE_OK && part < parts; part++) {
		map_clear(&m);
		rc = compute(db, &m, parts, part);
		for (size_t i = 0; rc == SQLITE_OK && i < m.cap; i++) {
			struct mt_slot *d = &m.v[i];
			if (!d->used || d->count <= 0)
				continue;
			sqlite3_reset(ins);
			sqlite3_bind_int64(ins, 1, (int64_t)d->dkey);
			sqlite3_bind_int(ins, 2, (int)d->node);
			bind_digest(ins, 3, d->hi, d->lo);
			sqlite3_bind_int64(ins, 4, d->count);
			sqlite3_bind_int64(ins, 5, d->nchild);
			rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
		}
	}
	sqlite3_finalize(ins);
	free(m.v);
	if (rc == SQLITE_OK)
		rc = exec(db, "INSERT OR REPLACE INTO mtree_meta(id, built) VALUES (1, 1)");
	return rc;
}

int mtree_mark_stale(sqlite3 *db)
{
	return exec(db, "INSERT OR REPLACE INTO mtree_meta(id, built) VALUES (1, 0)");
}

long mtree_verify(sqlite3 *db, FILE *out)
{
	struct mt_map m = { 0 };
	sqlite3_stmt *s = NULL;
	long bad = 0;
	int rc = compute(db, &m, 1, 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT dkey, node, digest, count, nchild FROM mtree", -1, &s, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint64_t dk = (uint64_t)sqlite3_column_int64(s, 0);
		uint32_t node = (uint32_t)sqlite3_column_int(s, 1);
		struct hash128 h;
		int64_t count = sqlite3_column_int64(s, 3), nchild = sqlite3_column_int64(s, 4);
		column_digest(s, 2, &h);
		struct mt_slot *d = m.cap ? &m.v[slot_of(&m, dk, node)] : NULL;
		int found = d && d->used;
		if (!found || d->hi != h.hi || d->lo != h.lo || d->count != count || d->nchild != nchild) {
			bad++;
			if (out)
				fprintf(out, "digest %016" PRIx64 "/%04x: stored count %" PRId64
					", computed count %" PRId64 "%s\n", dk, node, count,
					found ? d->count : 0,
					found && d->count == count ? " (digest or children differ)" : "");
		}
		if (found)
			d->used = 2;
		rc = SQLITE_OK;
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	for (size_t i = 0; rc == SQLITE_OK && i < m.cap; i++) {
		if (m.v[i].used == 1 && m.v[i].count > 0) {
			bad++;
			if (out)
				fprintf(out, "digest %016" PRIx64 "/%04x: not stored, computed count %" PRId64 "\n",
					m.v[i].dkey, m.v[i].node, m.v[i].count);
		}
	}
	sqlite3_finalize(s);
	free(m.v);
	return rc == SQLITE_OK ? bad : -1;
}

/* ---- schema ---- */

static const char mtree_schema[] =
	"CREATE TABLE IF NOT EXISTS mtree(dkey INTEGER NOT NULL, node INTEGER NOT NULL,"
	" digest BLOB NOT NULL, count INTEGER NOT NULL, nchild INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (dkey, node)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS mtree_meta(id INTEGER PRIMARY KEY CHECK (id = 1),"
	" built INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS catalog_bkt ON catalog(dkey, bkt);";

/* A schema-1 catalog gets its dkey and bkt columns. */
static int upgrade_v1(sqlite3 *db)
{
	sqlite3_stmt *sel = NULL, *up = NULL;
	int rc = exec(db, "ALTER TABLE catalog ADD COLUMN dkey INTEGER");
	if (rc == SQLITE_OK)
		rc = exec(db, "ALTER TABLE catalog ADD COLUMN bkt INTEGER");
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT path FROM catalog", -1, &sel, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "UPDATE catalog SET dkey = ?1, bkt = ?2 WHERE path = ?3", -1, &up, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(sel, 0);
		int64_t dk, b;
		mtree_row_keys(p ? p : "", &dk, &b);
		sqlite3_reset(up);
		sqlite3_bind_int64(up, 1, dk);
		sqlite3_bind_int64(up, 2, b);
		sqlite3_bind_text(up, 3, p ? p : "", -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(up) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	sqlite3_finalize(sel);
	sqlite3_finalize(up);
	if (rc == SQLITE_OK)
		rc = exec(db, "UPDATE meta SET schema_version = 2 WHERE id = 1");
	return rc;
}

/* mt_xor(a, b): the XOR of two 16-byte digests (S_MADD); a value of
 * another size counts as zero, as column_digest reads it. */
static void sql_xor(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint8_t out[16] = { 0 };
	for (int a = 0; a < argc; a++) {
		if (sqlite3_value_bytes(argv[a]) != 16)
			continue;
		const uint8_t *p = sqlite3_value_blob(argv[a]);
		for (int i = 0; p && i < 16; i++)
			out[i] ^= p[i];
	}
	sqlite3_result_blob(ctx, out, 16, SQLITE_TRANSIENT);
}

int mtree_open(sqlite3 *db, int64_t from_version, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int built = -1; /* no row: a new database */
	int rc = sqlite3_create_function_v2(db, "mt_xor", 2,
					    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
					    sql_xor, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = exec(db, "BEGIN IMMEDIATE");
	if (rc == SQLITE_OK && from_version == 1)
		rc = upgrade_v1(db);
	/* a tree from before nchild (development builds): built again */
	if (rc == SQLITE_OK &&
	    sqlite3_table_column_metadata(db, NULL, "mtree", "digest", NULL, NULL, NULL, NULL, NULL) == SQLITE_OK &&
	    sqlite3_table_column_metadata(db, NULL, "mtree", "nchild", NULL, NULL, NULL, NULL, NULL) != SQLITE_OK)
		rc = exec(db, "DROP TABLE mtree; DELETE FROM mtree_meta");
	if (rc == SQLITE_OK)
		rc = exec(db, mtree_schema);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT built FROM mtree_meta WHERE id = 1", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			built = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	int64_t t0 = now_ms();
	if (rc == SQLITE_OK && built != 1)
		rc = mtree_rebuild(db);
	if (rc == SQLITE_OK && built == 0)
		log_notice("journal: the digest tree lagged the catalog (a stop before it was written): "
			   "rebuilt in %lld ms", (long long)(now_ms() - t0));
	if (rc == SQLITE_OK)
		rc = exec(db, "COMMIT");
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "digest tree: %s", sqlite3_errmsg(db));
		exec(db, "ROLLBACK");
	}
	return rc;
}

/* ---- reading ---- */

struct mt_reader {
	sqlite3 *db;
	sqlite3_stmt *one, *range, *entries;
};

struct mt_reader *mt_reader_new(sqlite3 *db)
{
	struct mt_reader *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->db = db;
	if (sqlite3_prepare_v2(db, "SELECT digest, count, nchild FROM mtree WHERE dkey = ?1 AND node = ?2", -1,
			       &m->one, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT node, digest, count FROM mtree WHERE dkey = ?1"
			       " AND node >= ?2 AND node < ?3", -1, &m->range, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT " CAT_COLS ", path FROM catalog WHERE dkey = ?1"
			       " AND bkt >= ?2 AND bkt < ?3 AND path > ?4 ORDER BY path LIMIT ?5", -1,
			       &m->entries, NULL) != SQLITE_OK) {
		mt_reader_free(m);
		return NULL;
	}
	return m;
}

void mt_reader_free(struct mt_reader *m)
{
	if (!m)
		return;
	sqlite3_finalize(m->one);
	sqlite3_finalize(m->range);
	sqlite3_finalize(m->entries);
	free(m);
}

static int read_one(struct mt_reader *m, uint64_t dk, unsigned node, struct mt_digest *d)
{
	memset(d, 0, sizeof(*d));
	sqlite3_reset(m->one);
	sqlite3_bind_int64(m->one, 1, (int64_t)dk);
	sqlite3_bind_int(m->one, 2, (int)node);
	int rc = sqlite3_step(m->one);
	if (rc == SQLITE_ROW) {
		column_digest(m->one, 0, &d->h);
		d->count = (uint64_t)sqlite3_column_int64(m->one, 1);
		d->nchild = (uint64_t)sqlite3_column_int64(m->one, 2);
	}
	sqlite3_reset(m->one);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int mt_read_node(struct mt_reader *m, const char *dir, uint16_t node, struct mt_digest *self,
		 struct mt_digest child[MT_FANOUT])
{
	uint64_t dk = mtree_dkey(dir, strlen(dir));
	int rc = read_one(m, dk, node, self);
	memset(child, 0, sizeof(*child) * MT_FANOUT);
	if (rc != SQLITE_OK || MT_LEVEL(node) >= MT_LEVELS || self->count == 0)
		return rc;
	sqlite3_stmt *s = m->range;
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, (int64_t)dk);
	sqlite3_bind_int(s, 2, (int)MT_CHILD(node, 0));
	sqlite3_bind_int(s, 3, (int)MT_CHILD(node, 0) + MT_FANOUT);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		unsigned i = (unsigned)sqlite3_column_int(s, 0) & (MT_FANOUT - 1);
		column_digest(s, 1, &child[i].h);
		child[i].count = (uint64_t)sqlite3_column_int64(s, 2);
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

void mt_entries_free(struct mt_entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].row.path);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* Whether p is a direct child of dir (dlen bytes; "" is the top). */
static int child_of(const char *p, const char *dir, size_t dlen)
{
	if (dlen) {
		if (strncmp(p, dir, dlen) != 0 || p[dlen] != '/')
			return 0;
		p += dlen + 1;
	}
	return p[0] && !strchr(p, '/');
}

int mt_read_entries(struct mt_reader *m, const char *dir, uint16_t node, const char *after,
		    size_t max, struct mt_entries *out, int *more)
{
	size_t dlen = strlen(dir);
	unsigned lo, hi;
	char *from = malloc(dlen + (after ? strlen(after) : 0) + 2);
	int rc, got = 0;
	if (!from)
		return SQLITE_NOMEM;
	if (dlen)
		sprintf(from, "%s/%s", dir, after ? after : "");
	else
		strcpy(from, after ? after : "");
	mtree_node_range(node, &lo, &hi);
	sqlite3_stmt *s = m->entries;
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, (int64_t)mtree_dkey(dir, dlen));
	sqlite3_bind_int(s, 2, (int)lo);
	sqlite3_bind_int(s, 3, (int)hi);
	sqlite3_bind_text(s, 4, from, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, (int64_t)max + 1);
	*more = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(s, 11);
		if (++got > (int)max) {
			*more = 1;
			continue;
		}
		if (!p || !child_of(p, dir, dlen))
			continue; /* another directory with the same dkey */
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 32;
			struct mt_entry *v = realloc(out->v, cap * sizeof(*v));
			if (!v) {
				rc = SQLITE_NOMEM;
				break;
			}
			out->v = v;
			out->cap = cap;
		}
		struct mt_entry *e = &out->v[out->n];
		memset(e, 0, sizeof(*e));
		catalog_row_read(s, 0, &e->row);
		if (!(e->row.path = strdup(p))) {
			rc = SQLITE_NOMEM;
			break;
		}
		out->n++;
	}
	sqlite3_reset(s);
	free(from);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_ROW ? SQLITE_OK : rc;
	for (size_t i = 0; i < out->n; i++) {
		struct mt_entry *e = &out->v[i];
		if (e->row.kind == 'd' && !e->row.deleted && !e->has_sub) {
			const char *p = e->row.path;
			if ((rc = read_one(m, mtree_dkey(p, strlen(p)), 0, &e->sub)) != SQLITE_OK)
				return rc;
			e->has_sub = 1;
		}
	}
	return SQLITE_OK;
}
