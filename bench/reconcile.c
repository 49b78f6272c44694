/* bench/reconcile.c: the cost of the reconciliation walk against the
 * number of differences.  Builds a catalog of synthetic rows (no files) in
 * a Maildir layout, MAILBOXES x MESSAGES messages (default 1000 x 1000 =
 * 1,000,000), copies it as the second node's, then plants differences in
 * the second one through the journal (so the digest tree is maintained
 * row by row as mhafs does): a quarter each of new mail missing on the
 * other side, flag renames, expunges (tombstone against live) and the same
 * name with different content.  After 1,000 and then 10,000 planted
 * changes it walks the two trees and prints the time, the digests and rows
 * compared and the requests a remote peer would have answered, beside the
 * rows a full scan compares (and the time of one, for scale).
 *
 *   bench/reconcile [-m MAILBOXES] [-n MESSAGES] [-d DIR]
 *
 * Not part of make check.  About a minute and 400 MB of disk under DIR
 * (default /tmp) at the default size on a small machine. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "journal_int.h"
#include "mtree.h"
#include "reconcile.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die(const char *what, const char *why)
{
	fprintf(stderr, "bench/reconcile: %s: %s\n", what, why);
	exit(1);
}

static void msg_name(char *buf, size_t len, int box, int i, const char *flags)
{
	snprintf(buf, len, "u%04d/Maildir/cur/%d.M%dP%d.bench:2,%s", box, 1700000000 + i, i, box, flags);
}

static int ins(sqlite3_stmt *s, const char *path, char kind, uint32_t mode, int64_t size, int64_t mtime,
	       const char *content)
{
	int64_t dk, b;
	uint8_t hb[16];
	char k[2] = { kind, 0 };
	mtree_row_keys(path, &dk, &b);
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, k, 1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, mode);
	sqlite3_bind_int64(s, 4, size);
	sqlite3_bind_int64(s, 5, mtime);
	if (content) {
		struct hash128 h;
		hash_buf(content, strlen(content), &h);
		hash_to_bytes(&h, hb);
		sqlite3_bind_blob(s, 6, hb, 16, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_null(s, 6);
	}
	sqlite3_bind_int64(s, 7, dk);
	sqlite3_bind_int64(s, 8, b);
	return sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
}

/* The first node's catalog, in one transaction, then its digest tree. */
static void build(const char *state, int boxes, int msgs)
{
	char err[512], path[4400];
	sqlite3 *db;
	sqlite3_stmt *s;
	struct journal *j = journal_open(state, 1, NULL, NULL, err, sizeof(err));
	if (!j)
		die("journal_open", err);
	journal_close(j, 1);
	snprintf(path, sizeof(path), "%s/journal.db", state);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die(path, sqlite3_errmsg(db));
	sqlite3_exec(db, "PRAGMA synchronous = OFF; BEGIN", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(db, "INSERT INTO catalog(path, kind, mode, uid, gid, size, mtime_ns, ino,"
			       " hash, hlc, origin, deleted, dkey, bkt)"
			       " VALUES (?1, ?2, ?3, 8, 8, ?4, ?5, 0, ?6, 1, 1, 0, ?7, ?8)", -1, &s,
			       NULL) != SQLITE_OK)
		die("prepare", sqlite3_errmsg(db));
	for (int b = 0; b < boxes; b++) {
		const char *dirs[] = { "", "/Maildir", "/Maildir/cur", "/Maildir/new" };
		for (int d = 0; d < 4; d++) {
			snprintf(path, sizeof(path), "u%04d%s", b, dirs[d]);
			ins(s, path, 'd', S_IFDIR | 0700, 4096, 0, NULL);
		}
		for (int i = 0; i < msgs; i++) {
			msg_name(path, sizeof(path), b, i, "S");
			if (ins(s, path, 'f', S_IFREG | 0600, 2000 + i, (1700000000LL + i) * 1000000000LL, path) < 0)
				die("insert", sqlite3_errmsg(db));
		}
	}
	sqlite3_finalize(s);
	if (mtree_rebuild(db) != SQLITE_OK || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		die("digest tree", sqlite3_errmsg(db));
	sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	sqlite3_close(db);
}

static void copy_state(const char *from, const char *to)
{
	char cmd[9000];
	mkdir(to, 0700);
	snprintf(cmd, sizeof(cmd), "cp '%s/journal.db' '%s/journal.db'", from, to);
	if (system(cmd) != 0)
		die("copy", cmd);
	/* the copy belongs to node 2 */
	snprintf(cmd, sizeof(cmd), "%s/journal.db", to);
	sqlite3 *db;
	if (sqlite3_open(cmd, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "UPDATE meta SET node_id = 2", NULL, NULL, NULL) != SQLITE_OK)
		die(cmd, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static int record(struct journal *j, enum jop op, const char *p, const char *p2, const char *content)
{
	struct jentry e;
	memset(&e, 0, sizeof(e));
	e.op = op;
	e.path = p;
	e.path2 = p2;
	if (content) {
		e.has_st = e.has_hash = 1;
		e.st.st_mode = S_IFREG | 0600;
		e.st.st_size = (off_t)strlen(content);
		e.st.st_mtim.tv_sec = 1800000000;
		hash_buf(content, strlen(content), &e.hash);
	}
	return journal_record(j, &e);
}

/* Plant changes [from, to) in the second catalog, spread over mailboxes. */
static void plant(struct journal *j, int from, int to, int boxes, int msgs)
{
	char p[4400], p2[4400];
	for (int k = from; k < to; k++) {
		int box = (int)(((uint64_t)k * 7919u) % (uint64_t)boxes);
		int i = (int)(((uint64_t)k * 104729u / (uint64_t)boxes) % (uint64_t)msgs);
		int rc;
		msg_name(p, sizeof(p), box, i, "S");
		switch (k % 4) {
		case 0: /* new mail only this side has */
			snprintf(p2, sizeof(p2), "u%04d/Maildir/new/%d.Mnew%d.bench", box, 1800000000 + k, k);
			rc = record(j, JOP_COMMIT, p2, NULL, p2);
			break;
		case 1: /* flags changed */
			msg_name(p2, sizeof(p2), box, i, "RS");
			rc = record(j, JOP_RENAME, p, p2, NULL);
			break;
		case 2: /* expunged */
			rc = record(j, JOP_UNLINK, p, NULL, NULL);
			break;
		default: /* same name, different content */
			rc = record(j, JOP_WRITE, p, NULL, "different content");
			break;
		}
		if (rc < 0)
			die("planting a difference", strerror(-rc));
	}
}

struct count {
	uint64_t n;
};

static int on_diff(void *arg, const char *path, const struct crow *l, const struct crow *r)
{
	(void)path;
	(void)l;
	(void)r;
	((struct count *)arg)->n++;
	return 0;
}

static sqlite3 *reader(const char *state)
{
	char p[4400];
	sqlite3 *db;
	snprintf(p, sizeof(p), "%s/journal.db", state);
	if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die(p, sqlite3_errmsg(db));
	return db;
}

static uint64_t rows(sqlite3 *db)
{
	sqlite3_stmt *s;
	uint64_t n = 0;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM catalog", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void walk(const char *sa, const char *sb, int planted)
{
	sqlite3 *a = reader(sa), *b = reader(sb);
	struct rc_source l, r;
	struct rc_stats st;
	struct count c = { 0 };
	if (rc_source_db(&l, a) < 0 || rc_source_db(&r, b) < 0)
		die("reader", "cannot prepare");
	double t0 = now_s();
	int rc = reconcile_walk(&l, &r, on_diff, &c, &st);
	double t = now_s() - t0;
	if (rc < 0)
		die("walk", strerror(-rc));
	uint64_t full = rows(a) + rows(b);
	printf("%6d planted: walk %7.3f s, %7" PRIu64 " differing paths, %8" PRIu64 " digests + %8" PRIu64
	       " rows compared, %6" PRIu64 " requests; full scan compares %" PRIu64 " rows (%.1fx the walk)\n",
	       planted, t, c.n, st.nodes, st.entries, st.requests, full,
	       (double)full / (double)(st.entries + st.nodes));
	rc_source_db_free(&l);
	rc_source_db_free(&r);
	sqlite3_close(a);
	sqlite3_close(b);
}

/* For scale: read both catalogs whole in path order and merge them. */
static void full_scan(const char *sa, const char *sb)
{
	sqlite3 *a = reader(sa), *b = reader(sb);
	sqlite3_stmt *x, *y;
	const char *q = "SELECT path, hash, deleted FROM catalog ORDER BY path";
	if (sqlite3_prepare_v2(a, q, -1, &x, NULL) != SQLITE_OK || sqlite3_prepare_v2(b, q, -1, &y, NULL) != SQLITE_OK)
		die("full scan", "prepare");
	double t0 = now_s();
	uint64_t n = 0, diff = 0;
	int ra = sqlite3_step(x), rb = sqlite3_step(y);
	while (ra == SQLITE_ROW || rb == SQLITE_ROW) {
		int c = ra != SQLITE_ROW ? 1 : rb != SQLITE_ROW ? -1
			: strcmp((const char *)sqlite3_column_text(x, 0), (const char *)sqlite3_column_text(y, 0));
		n++;
		if (c != 0 || sqlite3_column_int(x, 2) != sqlite3_column_int(y, 2) ||
		    sqlite3_column_bytes(x, 1) != sqlite3_column_bytes(y, 1) ||
		    memcmp(sqlite3_column_blob(x, 1), sqlite3_column_blob(y, 1), (size_t)sqlite3_column_bytes(x, 1)))
			diff++;
		if (c <= 0)
			ra = sqlite3_step(x);
		if (c >= 0)
			rb = sqlite3_step(y);
	}
	printf("full scan for scale: %.3f s, %" PRIu64 " paths merged, %" PRIu64 " differ\n", now_s() - t0, n, diff);
	sqlite3_finalize(x);
	sqlite3_finalize(y);
	sqlite3_close(a);
	sqlite3_close(b);
}

int main(int argc, char **argv)
{
	int boxes = 1000, msgs = 1000, o;
	const char *base = "/tmp";
	char top[4200], sa[4300], sb[4300], err[512], cmd[4400];
	while ((o = getopt(argc, argv, "m:n:d:")) != -1) {
		switch (o) {
		case 'm': boxes = atoi(optarg); break;
		case 'n': msgs = atoi(optarg); break;
		case 'd': base = optarg; break;
		default:
			fprintf(stderr, "usage: bench/reconcile [-m MAILBOXES] [-n MESSAGES] [-d DIR]\n");
			return 2;
		}
	}
	if (boxes < 1 || msgs < 10 || boxes > 100000 || msgs > 100000) {
		fprintf(stderr, "bench/reconcile: -m 1..100000, -n 10..100000\n");
		return 2;
	}
	snprintf(top, sizeof(top), "%s/mhafs-bench-reconcile.XXXXXX", base);
	if (!mkdtemp(top))
		die(top, strerror(errno));
	snprintf(sa, sizeof(sa), "%s/a", top);
	snprintf(sb, sizeof(sb), "%s/b", top);

	double t0 = now_s();
	build(sa, boxes, msgs);
	printf("catalog of %d mailboxes x %d messages (%llu rows) and its digest tree built in %.1f s\n",
	       boxes, msgs, (unsigned long long)boxes * (msgs + 4), now_s() - t0);
	copy_state(sa, sb);
	struct journal *j = journal_open(sb, 2, NULL, NULL, err, sizeof(err));
	if (!j)
		die("journal_open", err);
	walk(sa, sb, 0);
	int done = 0;
	const int steps[] = { 1000, 10000 };
	for (size_t k = 0; k < 2; k++) {
		t0 = now_s();
		plant(j, done, steps[k], boxes, msgs);
		printf("planted %d changes in %.1f s (%.0f us each, digest tree kept row by row)\n",
		       steps[k] - done, now_s() - t0, (now_s() - t0) * 1e6 / (steps[k] - done));
		done = steps[k];
		walk(sa, sb, done);
	}
	journal_close(j, 1);
	full_scan(sa, sb);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "bench/reconcile: could not remove %s\n", top);
	return 0;
}
