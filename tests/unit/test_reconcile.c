/* test_reconcile.c: the digest tree (mtree.c) and the reconciliation walk
 * (reconcile.c) on two journals that hold the same store and then diverge
 * in planted ways: the walk must report each planted difference, with both
 * sides' rows, and nothing else; changes that are each node's own (HLC,
 * origin, a directory's mtime) must not count; its work must follow the
 * differences; and the stored digests must equal a recomputation, also
 * after a schema-1 database is upgraded. */
#include "tjournal.h"

#include <errno.h>
#include <string.h>

#include "journal_repl.h"
#include "mtree.h"
#include "reconcile.h"

static struct hlc clk;
static struct journal *A, *B;

static struct stat mkst(mode_t mode, off_t size, long mtime)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_mode = mode;
	st.st_size = size;
	st.st_mtim.tv_sec = mtime;
	return st;
}

/* Journal one op on j; content names the file's content (its hash). */
static int rec(struct journal *j, enum jop op, const char *path, const char *path2, mode_t mode,
	       const char *content, long mtime)
{
	struct jentry e;
	memset(&e, 0, sizeof(e));
	e.op = op;
	e.path = path;
	e.path2 = path2;
	if (mode) {
		e.has_st = 1;
		e.st = mkst(mode, content ? (off_t)strlen(content) : 0, mtime);
	}
	if (content) {
		e.has_hash = 1;
		hash_buf(content, strlen(content), &e.hash);
	}
	if (op == JOP_SETXATTR)
		e.xname = "user.x";
	int rc = journal_record(j, &e);
	if (rc < 0)
		fprintf(stderr, "record %s %s: %d\n", jop_name(op), path, rc);
	return rc;
}

static void both(enum jop op, const char *path, const char *path2, mode_t mode, const char *content,
		 long mtime)
{
	CHECK_INT(rec(A, op, path, path2, mode, content, mtime), 0);
	CHECK_INT(rec(B, op, path, path2, mode, content, mtime), 0);
}

/* What the walk reported: "path L/R" with L, R one of live, tomb, none. */
struct seen {
	char lines[64][256];
	int n;
};

static const char *state(const struct crow *r)
{
	return !r ? "none" : r->deleted ? "tomb" : "live";
}

static int on_diff(void *arg, const char *path, const struct crow *l, const struct crow *r)
{
	struct seen *s = arg;
	if (s->n < 64)
		snprintf(s->lines[s->n], sizeof(s->lines[0]), "%s %s/%s", path, state(l), state(r));
	s->n++;
	return 0;
}

static int has(const struct seen *s, const char *line)
{
	for (int i = 0; i < s->n && i < 64; i++)
		if (strcmp(s->lines[i], line) == 0)
			return 1;
	return 0;
}

static int index_of(const struct seen *s, const char *line)
{
	for (int i = 0; i < s->n && i < 64; i++)
		if (strcmp(s->lines[i], line) == 0)
			return i;
	return -1;
}

/* The open journals write their waiting digest-tree deltas, as mhafs does
 * before anything reads the tree (mtree.h). */
static void sync_open(void)
{
	if (A)
		CHECK_INT(journal_mtree_sync(A), 0);
	if (B)
		CHECK_INT(journal_mtree_sync(B), 0);
}

static int walk(const char *sa, const char *sb, struct seen *seen, struct rc_stats *st)
{
	struct rc_source l, r;
	sync_open();
	sqlite3 *da = db_reader(sa), *dbb = db_reader(sb);
	memset(seen, 0, sizeof(*seen));
	CHECK_INT(rc_source_db(&l, da), 0);
	CHECK_INT(rc_source_db(&r, dbb), 0);
	int rc = reconcile_walk(&l, &r, on_diff, seen, st);
	rc_source_db_free(&l);
	rc_source_db_free(&r);
	sqlite3_close(da);
	sqlite3_close(dbb);
	return rc;
}

static long verify(const char *sdir)
{
	sync_open();
	sqlite3 *db = db_reader(sdir);
	long bad = mtree_verify(db, stderr);
	sqlite3_close(db);
	return bad;
}

static void populate(void)
{
	char p[256];
	both(JOP_MKDIR, "u1", NULL, S_IFDIR | 0700, NULL, 0);
	both(JOP_MKDIR, "u1/cur", NULL, S_IFDIR | 0700, NULL, 0);
	both(JOP_MKDIR, "u1/new", NULL, S_IFDIR | 0700, NULL, 0);
	both(JOP_MKDIR, "u2", NULL, S_IFDIR | 0700, NULL, 0);
	both(JOP_MKDIR, "u2/cur", NULL, S_IFDIR | 0700, NULL, 0);
	for (int i = 0; i < 20; i++) {
		snprintf(p, sizeof(p), "u1/cur/%d.M1P1.h:2,S", 1000 + i);
		both(JOP_COMMIT, p, NULL, S_IFREG | 0600, p, 1700000000 + i);
	}
	/* a big directory: the walk must not list it whole */
	for (int i = 0; i < 2000; i++) {
		snprintf(p, sizeof(p), "u2/cur/%d.M2P2.h:2,", 5000 + i);
		both(JOP_COMMIT, p, NULL, S_IFREG | 0600, p, 1700000000 + i);
	}
	both(JOP_WRITE, "u1/dovecot-uidlist", NULL, S_IFREG | 0600, "3 V1 N21", 1700000100);
	both(JOP_SYMLINK, "u1/link", "cur", 0, NULL, 0);
}

/* Tombstone collection: only tombstones the peer has (its own, or ours up
 * to the acknowledged HLC) and older than the hold go; live rows and the
 * digest tree stay. */
static void test_gc(const char *sdir)
{
	char err[512];
	struct journal *j = journal_open(sdir, 1, &clk, NULL, err, sizeof(err));
	CHECK(j != NULL);
	if (!j)
		return;
	CHECK_INT(rec(j, JOP_MKDIR, "d", NULL, S_IFDIR | 0700, NULL, 0), 0);
	CHECK_INT(rec(j, JOP_COMMIT, "d/keep", NULL, S_IFREG | 0600, "k", 1), 0);
	CHECK_INT(rec(j, JOP_COMMIT, "d/mine1", NULL, S_IFREG | 0600, "1", 1), 0);
	CHECK_INT(rec(j, JOP_COMMIT, "d/mine2", NULL, S_IFREG | 0600, "2", 1), 0);
	CHECK_INT(rec(j, JOP_COMMIT, "d/theirs", NULL, S_IFREG | 0600, "t", 1), 0);
	struct jentry e;
	memset(&e, 0, sizeof(e));
	e.op = JOP_UNLINK;
	e.path = "d/mine1";
	CHECK_INT(journal_record(j, &e), 0);
	hlc_t first = e.hlc;
	e.path = "d/mine2";
	CHECK_INT(journal_record(j, &e), 0);
	hlc_t second = e.hlc;
	/* the peer's expunge, applied here */
	memset(&e, 0, sizeof(e));
	e.op = JOP_UNLINK;
	e.path = "d/theirs";
	e.origin = 2;
	e.seq = 7;
	e.hlc = hlc_now(&clk);
	CHECK_INT(journal_apply_remote(j, &e, 1), 0);
	hlc_t theirs = e.hlc;
	sqlite3 *db = db_reader(sdir);
	CHECK_INT(q_int(db, "SELECT count(*) FROM catalog WHERE deleted = 1", NULL), 3);
	/* a hold not yet over: nothing */
	CHECK_INT(journal_gc_tombstones(j, first, second, 100), 0);
	/* held long enough, nothing of ours acknowledged: only the peer's */
	CHECK_INT(journal_gc_tombstones(j, theirs + 1, 0, 100), 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM catalog WHERE path = 'd/theirs'", NULL), 0);
	/* ours acknowledged up to the first unlink */
	CHECK_INT(journal_gc_tombstones(j, theirs + 1, first, 100), 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM catalog WHERE path = 'd/mine1'", NULL), 0);
	CHECK_INT(q_int(db, "SELECT deleted FROM catalog WHERE path = 'd/mine2'", NULL), 1);
	CHECK_INT(journal_gc_tombstones(j, theirs + 1, second, 100), 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM catalog WHERE deleted = 1", NULL), 0);
	CHECK_INT(q_int(db, "SELECT count(*) FROM catalog WHERE deleted = 0", NULL), 2);
	/* a message's removal from its folder (a move: where it went) is kept
	 * by folder and base name, and collected with the tombstones */
	CHECK_INT(rec(j, JOP_COMMIT, "m/cur/x:2,S", NULL, S_IFREG | 0600, "x", 1), 0);
	memset(&e, 0, sizeof(e));
	e.op = JOP_UNLINK;
	e.path = "m/cur/x:2,S";
	e.path2 = "m/.A/cur/x:2,S";
	CHECK_INT(journal_record(j, &e), 0);
	hlc_t moved = e.hlc, rh = 0;
	uint16_t ro = 0;
	int del = -1;
	char dest[64];
	CHECK_INT(journal_message_removal(j, "m/new/x", &rh, &ro, dest, sizeof(dest), &del), 1);
	CHECK(rh == moved && ro == 1 && strcmp(dest, "m/.A/cur/x:2,S") == 0 && del == 0);
	CHECK_INT(journal_message_removal(j, "m/.A/cur/x:2,S", &rh, &ro, dest, sizeof(dest), &del), 0);
	CHECK_INT(journal_message_removal(j, "d/keep", &rh, &ro, dest, sizeof(dest), &del), 0);
	CHECK_INT(journal_gc_tombstones(j, moved + 1, moved - 1, 100), 0); /* not acknowledged */
	CHECK_INT(journal_message_removal(j, "m/cur/x:2,", &rh, &ro, dest, sizeof(dest), &del), 1);
	CHECK_INT(journal_gc_tombstones(j, moved + 1, moved, 100), 1);
	CHECK_INT(journal_message_removal(j, "m/cur/x:2,", &rh, &ro, dest, sizeof(dest), &del), 0);
	CHECK_INT(q_int(db, "SELECT count(*) FROM removal", NULL), 0);
	/* with no move known, whether the file carried \Deleted (an IMAP
	 * expunge) or not (a removal of unknown kind) */
	CHECK_INT(rec(j, JOP_COMMIT, "m/cur/y:2,ST", NULL, S_IFREG | 0600, "y", 1), 0);
	CHECK_INT(rec(j, JOP_COMMIT, "m/cur/z:2,S", NULL, S_IFREG | 0600, "z", 1), 0);
	memset(&e, 0, sizeof(e));
	e.op = JOP_UNLINK;
	e.path = "m/cur/y:2,ST";
	CHECK_INT(journal_record(j, &e), 0);
	e.path = "m/cur/z:2,S";
	CHECK_INT(journal_record(j, &e), 0);
	CHECK_INT(journal_message_removal(j, "m/cur/y:2,S", &rh, &ro, dest, sizeof(dest), &del), 1);
	CHECK(del == 1 && dest[0] == '\0');
	CHECK_INT(journal_message_removal(j, "m/cur/z:2,S", &rh, &ro, dest, sizeof(dest), &del), 1);
	CHECK(del == 0 && dest[0] == '\0');
	sqlite3_close(db);
	journal_close(j, 1);
	CHECK_INT(verify(sdir), 0);
}

/* A peer's entry recorded after a local change removed what it made (the
 * receiver records a batch after its syncfs; Dovecot may rename a message
 * out of new/ meanwhile): JAR_UNLESS_GONE keeps the newer tombstone,
 * JAR_RECORD (the object is in the store) records the entry. */
static struct jentry peer_commit(const char *path, uint64_t seq, hlc_t hlc)
{
	struct jentry e;
	memset(&e, 0, sizeof(e));
	e.op = JOP_COMMIT;
	e.path = path;
	e.path2 = "m/tmp/p";
	e.origin = 2;
	e.seq = seq;
	e.hlc = hlc;
	e.has_st = 1;
	e.st = mkst(S_IFREG | 0600, 1, 1700000000);
	e.has_hash = 1;
	hash_buf("p", 1, &e.hash);
	return e;
}

static void test_superseded(const char *sdir)
{
	char err[512];
	struct journal *j = journal_open(sdir, 1, &clk, NULL, err, sizeof(err));
	CHECK(j != NULL);
	if (!j)
		return;
	CHECK_INT(rec(j, JOP_MKDIR, "m", NULL, S_IFDIR | 0700, NULL, 0), 0);
	CHECK_INT(rec(j, JOP_MKDIR, "m/new", NULL, S_IFDIR | 0700, NULL, 0), 0);
	hlc_t applied = hlc_now(&clk);
	struct jentry l;
	memset(&l, 0, sizeof(l));
	l.op = JOP_UNLINK; /* gone again here, recorded first (Dovecot's rename) */
	l.path = "m/new/y";
	CHECK_INT(journal_record(j, &l), 0);
	l.path = "m/new/z";
	CHECK_INT(journal_record(j, &l), 0);
	struct jentry e = peer_commit("m/new/y", 1, applied);
	CHECK_INT(journal_apply_remote(j, &e, JAR_UNLESS_GONE), 0);
	e = peer_commit("m/new/z", 2, applied);
	CHECK_INT(journal_apply_remote(j, &e, JAR_RECORD), 0);
	e = peer_commit("m/new/w", 3, hlc_now(&clk)); /* nothing newer here */
	CHECK_INT(journal_apply_remote(j, &e, JAR_UNLESS_GONE), 0);
	journal_flush(j);
	sqlite3 *db = db_reader(sdir);
	CHECK_INT(q_int(db, "SELECT deleted FROM catalog WHERE path = 'm/new/y'", NULL), 1);
	CHECK_INT(q_int(db, "SELECT deleted FROM catalog WHERE path = 'm/new/z'", NULL), 0);
	CHECK_INT(q_int(db, "SELECT deleted FROM catalog WHERE path = 'm/new/w'", NULL), 0);
	sqlite3_close(db);
	journal_close(j, 1);
}

/* The group-commit writer merges a batch's digest deltas and writes them
 * once: the tree must still equal a recomputation, and equal the tree of
 * the same changes recorded one by one. */
static void test_async(const char *s1, const char *s2)
{
	char err[512], p[128], q[128];
	struct journal *j1 = journal_open(s1, 1, &clk, NULL, err, sizeof(err));
	struct journal *j2 = journal_open(s2, 2, &clk, NULL, err, sizeof(err));
	struct journal_hooks hooks = { 0 };
	CHECK(j1 && j2);
	if (!j1 || !j2)
		return;
	CHECK_INT(journal_start_writer(j1, &hooks), 0);
	for (int k = 0; k < 2; k++) {
		struct journal *j = k ? j2 : j1;
		CHECK_INT(rec(j, JOP_MKDIR, "m", NULL, S_IFDIR | 0700, NULL, 0), 0);
		CHECK_INT(rec(j, JOP_MKDIR, "m/cur", NULL, S_IFDIR | 0700, NULL, 0), 0);
		for (int i = 0; i < 300; i++) {
			snprintf(p, sizeof(p), "m/cur/%d.M1.h:2,", i);
			CHECK_INT(rec(j, JOP_COMMIT, p, NULL, S_IFREG | 0600, p, i), 0);
		}
		for (int i = 0; i < 300; i += 3) {
			snprintf(p, sizeof(p), "m/cur/%d.M1.h:2,", i);
			snprintf(q, sizeof(q), "m/cur/%d.M1.h:2,S", i);
			CHECK_INT(rec(j, JOP_RENAME, p, q, 0, NULL, 0), 0);
			if (i % 2)
				CHECK_INT(rec(j, JOP_UNLINK, q, NULL, 0, NULL, 0), 0);
		}
		/* renames onto a live file and onto a tombstone: the catalog
		 * reuses the destination row it read for the hard-link check */
		for (int i = 1; i + 3 < 300; i += 6) {
			snprintf(p, sizeof(p), "m/cur/%d.M1.h:2,", i);
			snprintf(q, sizeof(q), "m/cur/%d.M1.h:2,", i + 3);
			CHECK_INT(rec(j, JOP_RENAME, p, q, 0, NULL, 0), 0);
		}
		for (int i = 3; i + 2 < 300; i += 6) {
			snprintf(p, sizeof(p), "m/cur/%d.M1.h:2,", i + 2);
			snprintf(q, sizeof(q), "m/cur/%d.M1.h:2,S", i);
			CHECK_INT(rec(j, JOP_RENAME, p, q, 0, NULL, 0), 0);
		}
		/* and a directory with its files */
		CHECK_INT(rec(j, JOP_MKDIR, "m/d", NULL, S_IFDIR | 0700, NULL, 0), 0);
		CHECK_INT(rec(j, JOP_COMMIT, "m/d/x", NULL, S_IFREG | 0600, "m/d/x", 1), 0);
		CHECK_INT(rec(j, JOP_RENAME, "m/d", "m/e", 0, NULL, 0), 0);
	}
	journal_flush(j1);
	journal_close(j1, 1);
	journal_close(j2, 1);
	CHECK_INT(verify(s1), 0);
	CHECK_INT(verify(s2), 0);
	struct seen s;
	struct rc_stats st;
	CHECK_INT(walk(s1, s2, &s, &st), 0);
	CHECK_INT(s.n, 0);
}

int main(void)
{
	char ta[] = "/tmp/mhafs-test-reconcile.XXXXXX";
	char sa[4300], sb[4300], err[512];
	struct seen s;
	struct rc_stats st;

	hlc_init(&clk, NULL, NULL, 0);
	tmpdir(ta);
	snprintf(sa, sizeof(sa), "%s/a", ta);
	snprintf(sb, sizeof(sb), "%s/b", ta);
	A = journal_open(sa, 1, &clk, NULL, err, sizeof(err));
	B = journal_open(sb, 2, &clk, NULL, err, sizeof(err));
	if (!A || !B) {
		fprintf(stderr, "journal_open: %s\n", err);
		return 99;
	}
	populate();

	/* Same state, different HLCs and origins: nothing differs. */
	CHECK_INT(walk(sa, sb, &s, &st), 0);
	CHECK_INT(s.n, 0);
	CHECK_INT(st.nodes, 1);
	CHECK_INT(verify(sa), 0);
	CHECK_INT(verify(sb), 0);

	/* Each node's own: an xattr stamp (HLC only), a directory's mtime. */
	CHECK_INT(rec(A, JOP_SETXATTR, "u1/cur/1003.M1P1.h:2,S", NULL, 0, NULL, 0), 0);
	CHECK_INT(rec(B, JOP_SETATTR, "u2/cur", NULL, S_IFDIR | 0700, NULL, 1800000000), 0);
	CHECK_INT(walk(sa, sb, &s, &st), 0);
	CHECK_INT(s.n, 0);

	/* Planted differences. */
	/* 1. new mail on A only */
	CHECK_INT(rec(A, JOP_COMMIT, "u1/new/9001.M9P9.a", NULL, S_IFREG | 0600, "new on a", 1700000500), 0);
	/* 2. a flag change on A only: a rename within cur/ */
	CHECK_INT(rec(A, JOP_RENAME, "u1/cur/1005.M1P1.h:2,S", "u1/cur/1005.M1P1.h:2,RS", 0, NULL, 0), 0);
	/* 3. an expunge on B only: a tombstone there, live here */
	CHECK_INT(rec(B, JOP_UNLINK, "u1/cur/1007.M1P1.h:2,S", NULL, 0, NULL, 0), 0);
	/* 4. the same name with different content, in the big directory */
	CHECK_INT(rec(B, JOP_WRITE, "u2/cur/6234.M2P2.h:2,", NULL, S_IFREG | 0600, "other", 1700001234), 0);
	/* 5. a folder only A has, with two messages */
	CHECK_INT(rec(A, JOP_MKDIR, "u1/.Sent", NULL, S_IFDIR | 0700, NULL, 0), 0);
	CHECK_INT(rec(A, JOP_MKDIR, "u1/.Sent/cur", NULL, S_IFDIR | 0700, NULL, 0), 0);
	CHECK_INT(rec(A, JOP_COMMIT, "u1/.Sent/cur/7.M7.h:2,S", NULL, S_IFREG | 0600, "s7", 1), 0);
	/* 6. a mode change on B */
	CHECK_INT(rec(B, JOP_SETATTR, "u1/dovecot-uidlist", NULL, S_IFREG | 0644, "3 V1 N21", 1700000100), 0);
	/* 7. a folder B removed (rmdir after its messages) and A still has */
	CHECK_INT(rec(B, JOP_UNLINK, "u1/new", NULL, 0, NULL, 0), 0);

	CHECK_INT(walk(sa, sb, &s, &st), 0);
	CHECK(has(&s, "u1/new/9001.M9P9.a live/none"));
	CHECK(has(&s, "u1/cur/1005.M1P1.h:2,S tomb/live"));
	CHECK(has(&s, "u1/cur/1005.M1P1.h:2,RS live/none"));
	CHECK(has(&s, "u1/cur/1007.M1P1.h:2,S live/tomb"));
	CHECK(has(&s, "u2/cur/6234.M2P2.h:2, live/live"));
	CHECK(has(&s, "u1/.Sent live/none"));
	CHECK(has(&s, "u1/.Sent/cur live/none"));
	CHECK(has(&s, "u1/.Sent/cur/7.M7.h:2,S live/none"));
	CHECK(has(&s, "u1/dovecot-uidlist live/live"));
	CHECK(has(&s, "u1/new live/tomb"));
	CHECK_INT(s.n, 10);
	/* a live directory comes before its contents */
	CHECK(index_of(&s, "u1/.Sent live/none") < index_of(&s, "u1/.Sent/cur/7.M7.h:2,S live/none"));
	/* one difference among 2000 names: far fewer rows compared */
	CHECK(st.entries < 300);
	printf("test_reconcile: 10 differences, %" PRIu64 " nodes, %" PRIu64 " entries compared, %"
	       PRIu64 " requests\n", st.nodes, st.entries, st.requests);

	/* The other direction sees the same paths with the rows swapped,
	 * and a removed directory after its contents. */
	CHECK_INT(rec(B, JOP_MKDIR, "u3", NULL, S_IFDIR | 0700, NULL, 0), 0);
	CHECK_INT(rec(B, JOP_COMMIT, "u3/m", NULL, S_IFREG | 0600, "m", 1), 0);
	CHECK_INT(rec(A, JOP_MKDIR, "u3", NULL, S_IFDIR | 0700, NULL, 0), 0);
	CHECK_INT(rec(A, JOP_COMMIT, "u3/m", NULL, S_IFREG | 0600, "m", 1), 0);
	CHECK_INT(rec(B, JOP_RMDIR, "u3", NULL, 0, NULL, 0), 0);
	CHECK_INT(walk(sb, sa, &s, &st), 0);
	CHECK(has(&s, "u1/new/9001.M9P9.a none/live"));
	CHECK(has(&s, "u1/cur/1007.M1P1.h:2,S tomb/live"));
	CHECK(has(&s, "u3 tomb/live"));
	CHECK(has(&s, "u3/m tomb/live"));
	CHECK(index_of(&s, "u3/m tomb/live") < index_of(&s, "u3 tomb/live"));
	CHECK_INT(s.n, 12);

	/* Stored digests equal a recomputation after all that. */
	CHECK_INT(verify(sa), 0);
	CHECK_INT(verify(sb), 0);

	/* Converge B to A through the catalog alone: the walk is then clean. */
	journal_close(B, 1);
	journal_close(A, 1);
	A = B = NULL;

	/* A schema-1 database (no digest tree, no dkey/bkt) is upgraded at
	 * open and walks the same. */
	{
		char p[4400];
		sqlite3 *db;
		snprintf(p, sizeof(p), "%s/journal.db", sb);
		CHECK_INT(sqlite3_open(p, &db), SQLITE_OK);
		CHECK_INT(sqlite3_exec(db, "DROP INDEX catalog_bkt; ALTER TABLE catalog DROP COLUMN dkey;"
				       " ALTER TABLE catalog DROP COLUMN bkt; DROP TABLE mtree; DROP TABLE mtree_meta;"
				       " UPDATE meta SET schema_version = 1", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		B = journal_open(sb, 2, &clk, NULL, err, sizeof(err));
		CHECK(B != NULL);
		if (B)
			journal_close(B, 1);
		B = NULL;
		db = db_reader(sb);
		CHECK_INT(q_int(db, "SELECT schema_version FROM meta", NULL), 2);
		CHECK_INT(q_int(db, "SELECT count(*) FROM catalog WHERE dkey IS NULL", NULL), 0);
		sqlite3_close(db);
		CHECK_INT(verify(sb), 0);
		CHECK_INT(walk(sb, sa, &s, &st), 0);
		CHECK_INT(s.n, 12);
	}

	/* A tampered digest is caught by the verification. */
	{
		char p[4400];
		sqlite3 *db;
		snprintf(p, sizeof(p), "%s/journal.db", sa);
		CHECK_INT(sqlite3_open(p, &db), SQLITE_OK);
		CHECK_INT(sqlite3_exec(db, "UPDATE mtree SET count = count + 1 WHERE (dkey, node) IN"
				       " (SELECT dkey, node FROM mtree WHERE node = 0 LIMIT 1)", NULL, NULL,
				       NULL), SQLITE_OK);
		sqlite3_close(db);
		CHECK_INT(verify(sa), 1);
	}

	/* A rebuild in parts (a large catalog is rebuilt 131,072 rows a
	 * pass, each pass a share of the directories) stores the whole tree
	 * again: here 100 rows a part, about 20 parts, over the tampered one. */
	{
		char p[4400];
		sqlite3 *db;
		snprintf(p, sizeof(p), "%s/journal.db", sa);
		CHECK_INT(sqlite3_open(p, &db), SQLITE_OK);
		CHECK_INT(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
		CHECK_INT(mtree_rebuild_parts(db, 100), SQLITE_OK);
		CHECK_INT(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		CHECK_INT(verify(sa), 0);
	}

	snprintf(sa, sizeof(sa), "%s/gc", ta);
	test_gc(sa);
	snprintf(sa, sizeof(sa), "%s/superseded", ta);
	test_superseded(sa);
	snprintf(sa, sizeof(sa), "%s/async1", ta);
	snprintf(sb, sizeof(sb), "%s/async2", ta);
	test_async(sa, sb);

	rm_rf(ta);
	return t_done("test_reconcile");
}
