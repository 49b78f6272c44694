/* test_journal.c: journal_record and its catalog effects for every op
 * (incl. a directory rename with LIKE wildcards in the names, exchange,
 * overwrite, hard-link no-op), rejected entries changing nothing, sequence
 * and HLC assignment, thread safety, speed (printed), the clean flag
 * across close/crash/reopen, node id mismatch, and damaged databases. */
#include "tjournal.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"

static struct hlc clk;
static struct journal *J;

static struct stat mkst(mode_t mode, off_t size, ino_t ino)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_mode = mode;
	st.st_size = size;
	st.st_ino = ino;
	st.st_uid = 1000;
	st.st_gid = 1000;
	st.st_mtim.tv_sec = 1700000000;
	st.st_mtim.tv_nsec = (long)ino;
	return st;
}

/* Record one op; returns journal_record's result, e gets seq and hlc. */
static int rec(struct jentry *e, enum jop op, const char *path, const char *path2,
	       uint32_t flags, const struct stat *st, const char *content)
{
	memset(e, 0, sizeof(*e));
	e->op = op;
	e->path = path;
	e->path2 = path2;
	e->flags = flags;
	if (op == JOP_SETXATTR || op == JOP_REMOVEXATTR)
		e->xname = "user.test";
	if (st) {
		e->st = *st;
		e->has_st = 1;
	}
	if (content) {
		hash_buf(content, strlen(content), &e->hash);
		e->has_hash = 1;
	}
	return journal_record(J, e);
}

#define REC(...) do { struct jentry e_; CHECK_INT(rec(&e_, __VA_ARGS__), 0); } while (0)

static void *writer(void *arg)
{
	char path[64];
	struct stat st = mkst(S_IFREG | 0600, 0, 1);
	for (int k = 0; k < 250; k++) {
		struct jentry e;
		snprintf(path, sizeof(path), "t/%ld-%d", (long)(intptr_t)arg, k);
		if (rec(&e, JOP_CREATE, path, NULL, 0, &st, NULL) != 0)
			return (void *)1;
	}
	return NULL;
}

static void test_ops(const char *state)
{
	char err[512], h1[HASH128_HEX], h2[HASH128_HEX], hx[HASH128_HEX];
	int clean = -1;
	struct jentry e;
	struct stat dir = mkst(S_IFDIR | 0700, 4096, 10), st;

	J = journal_open(state, 1, &clk, &clean, err, sizeof(err));
	CHECK(J != NULL);
	if (!J) {
		fprintf(stderr, "journal_open: %s\n", err);
		return;
	}
	CHECK_INT(clean, 0);                     /* catalog never built */
	CHECK_INT(journal_catalog_built(J), 0);
	sqlite3 *db = db_reader(state);
	char mode[16];
	CHECK_STR(q_text(db, "PRAGMA journal_mode", mode, sizeof(mode)), "wal");

	/* mkdir: seq 1, origin 1, a live 'd' row with the entry's hlc. */
	CHECK_INT(rec(&e, JOP_MKDIR, "u", NULL, 0, &dir, NULL), 0);
	CHECK_INT(e.seq, 1);
	CHECK_INT(e.origin, 1);
	hlc_t h_first = e.hlc;
	struct trow r = cat(db, "u");
	CHECK(r.found && r.kind == 'd' && !r.deleted && r.hlc == e.hlc && r.origin == 1);
	CHECK_INT(r.mode, S_IFDIR | 0700);
	REC(JOP_MKDIR, "u/Maildir", NULL, 0, &dir, NULL);
	REC(JOP_MKDIR, "u/Maildir/new", NULL, 0, &dir, NULL);
	REC(JOP_MKDIR, "u/Maildir/cur", NULL, 0, &dir, NULL);

	/* create then write: empty hash, then size and content hash. */
	st = mkst(S_IFREG | 0600, 0, 21);
	REC(JOP_CREATE, "u/Maildir/new/m1", NULL, 0, &st, NULL);
	r = cat(db, "u/Maildir/new/m1");
	CHECK(r.found && r.kind == 'f' && r.size == 0);
	CHECK_STR(r.hash, hex_of("", hx));
	st.st_size = 8192;
	REC(JOP_WRITE, "u/Maildir/new/m1", NULL, 0, &st, "message one");
	r = cat(db, "u/Maildir/new/m1");
	CHECK_INT(r.size, 8192);
	CHECK_STR(r.hash, hex_of("message one", h1));
	CHECK_INT(r.ino, 21);
	CHECK_INT(r.mtime_ns, 1700000000LL * 1000000000 + 21);

	/* commit out of tmp/: a row at path only. */
	st = mkst(S_IFREG | 0600, 100, 22);
	REC(JOP_COMMIT, "u/Maildir/new/m2", "u/Maildir/tmp/m2", 0, &st, "message two");
	r = cat(db, "u/Maildir/new/m2");
	CHECK(r.found && !r.deleted && r.size == 100);
	CHECK_STR(r.hash, hex_of("message two", h2));
	CHECK(!cat(db, "u/Maildir/tmp/m2").found);
	/* a commit whose node-local source is unknown */
	REC(JOP_COMMIT, "u/Maildir/new/m9", NULL, 0, &st, "nine");
	CHECK_STR(cat(db, "u/Maildir/new/m9").hash, hex_of("nine", hx));

	/* rename: the row moves (same content), the old path is a tombstone. */
	CHECK_INT(rec(&e, JOP_RENAME, "u/Maildir/new/m1", "u/Maildir/cur/m1:2,S", 0, NULL, NULL), 0);
	r = cat(db, "u/Maildir/cur/m1:2,S");
	CHECK(r.found && !r.deleted && r.size == 8192 && r.hlc == e.hlc);
	CHECK_STR(r.hash, h1);
	r = cat(db, "u/Maildir/new/m1");
	CHECK(r.found && r.deleted && r.hlc == e.hlc);

	/* link copies; setattr updates mode and keeps the hash; a truncate
	 * without a hash clears it; unlink leaves a tombstone. */
	REC(JOP_LINK, "u/Maildir/cur/m1:2,S", "u/Maildir/cur/copy", 0, NULL, NULL);
	r = cat(db, "u/Maildir/cur/copy");
	CHECK(r.found && !r.deleted && r.size == 8192);
	CHECK_STR(r.hash, h1);
	CHECK(!cat(db, "u/Maildir/cur/m1:2,S").deleted);
	st = mkst(S_IFREG | 0640, 8192, 21);
	REC(JOP_SETATTR, "u/Maildir/cur/copy", NULL, 1u << 0, &st, NULL);
	r = cat(db, "u/Maildir/cur/copy");
	CHECK_INT(r.mode, S_IFREG | 0640);
	CHECK_STR(r.hash, h1);
	st.st_size = 10;
	REC(JOP_SETATTR, "u/Maildir/cur/copy", NULL, 1u << 3, &st, NULL);
	r = cat(db, "u/Maildir/cur/copy");
	CHECK_INT(r.size, 10);
	CHECK_STR(r.hash, "");
	CHECK_INT(rec(&e, JOP_UNLINK, "u/Maildir/cur/copy", NULL, 0, NULL, NULL), 0);
	r = cat(db, "u/Maildir/cur/copy");
	CHECK(r.found && r.deleted && r.hlc == e.hlc && r.kind == 'f');
	/* unlink of a path never cataloged still records a tombstone */
	REC(JOP_UNLINK, "u/never-seen", NULL, 0, NULL, NULL);
	CHECK(cat(db, "u/never-seen").deleted);

	/* symlink (hash of the target), mknod, xattr stamps the hlc. */
	REC(JOP_SYMLINK, "u/link", "Maildir/cur", 0, NULL, NULL);
	r = cat(db, "u/link");
	CHECK(r.kind == 'l' && r.size == 11);
	CHECK_STR(r.hash, hex_of("Maildir/cur", hx));
	st = mkst(S_IFIFO | 0600, 0, 30);
	REC(JOP_MKNOD, "u/fifo", NULL, 0, &st, NULL);
	CHECK(cat(db, "u/fifo").kind == 'p');
	CHECK_INT(rec(&e, JOP_SETXATTR, "u/Maildir/new/m2", NULL, 0, NULL, NULL), 0);
	r = cat(db, "u/Maildir/new/m2");
	CHECK(r.hlc == e.hlc && r.size == 100);
	CHECK_STR(r.hash, h2);
	REC(JOP_REMOVEXATTR, "u/Maildir/new/m2", NULL, 0, NULL, NULL);

	/* Directory rename with % and _ in names: only the subtree moves;
	 * "d/a%b.x" (inside the byte range) and "d/aXXb/z" (a LIKE 'd/a%b/%'
	 * match) stay put. */
	REC(JOP_MKDIR, "d", NULL, 0, &dir, NULL);
	REC(JOP_MKDIR, "d/a%b", NULL, 0, &dir, NULL);
	REC(JOP_MKDIR, "d/a%b/sub", NULL, 0, &dir, NULL);
	REC(JOP_MKDIR, "d/aXXb", NULL, 0, &dir, NULL);
	st = mkst(S_IFREG | 0600, 1, 40);
	REC(JOP_WRITE, "d/a%b/x", NULL, 0, &st, "x");
	REC(JOP_WRITE, "d/a%b/sub/y_1", NULL, 0, &st, "y");
	REC(JOP_WRITE, "d/a%b.x", NULL, 0, &st, "sibling");
	REC(JOP_WRITE, "d/aXXb/z", NULL, 0, &st, "z");
	REC(JOP_WRITE, "d/a%b!", NULL, 0, &st, "bang");
	hlc_t sib_hlc = cat(db, "d/a%b.x").hlc;
	REC(JOP_MKDIR, "e", NULL, 0, &dir, NULL);
	CHECK_INT(rec(&e, JOP_RENAME, "d/a%b", "e/moved", 0, NULL, NULL), 0);
	CHECK(cat(db, "e/moved").kind == 'd' && !cat(db, "e/moved").deleted);
	CHECK(!cat(db, "e/moved/sub").deleted && cat(db, "e/moved/sub").found);
	CHECK_STR(cat(db, "e/moved/x").hash, hex_of("x", hx));
	CHECK_STR(cat(db, "e/moved/sub/y_1").hash, hex_of("y", hx));
	CHECK(cat(db, "e/moved/sub/y_1").hlc == e.hlc);
	CHECK(cat(db, "d/a%b").deleted && cat(db, "d/a%b/x").deleted);
	CHECK(cat(db, "d/a%b/sub").deleted && cat(db, "d/a%b/sub/y_1").deleted);
	CHECK(!cat(db, "d/a%b.x").deleted && cat(db, "d/a%b.x").hlc == sib_hlc);
	CHECK(!cat(db, "d/a%b!").deleted);
	CHECK(!cat(db, "d/aXXb/z").deleted);
	CHECK(!cat(db, "e/moved.x").found && !cat(db, "e/moved!").found);
	CHECK_INT(q_int(db, "SELECT count(*) FROM catalog WHERE path >= 'e/moved' AND path < 'e/moved0'"
			" AND deleted = 0", NULL), 4);

	/* rmdir tombstones the directory and anything left below it. */
	REC(JOP_RMDIR, "e/moved", NULL, 0, NULL, NULL);
	CHECK_INT(q_int(db, "SELECT count(*) FROM catalog WHERE path >= 'e/moved' AND path < 'e/moved0'"
			" AND deleted = 0", NULL), 0);
	CHECK(!cat(db, "e").deleted);

	/* RENAME_EXCHANGE swaps two subtrees. */
	REC(JOP_MKDIR, "p", NULL, 0, &dir, NULL);
	REC(JOP_MKDIR, "p/one", NULL, 0, &dir, NULL);
	REC(JOP_MKDIR, "p/two", NULL, 0, &dir, NULL);
	REC(JOP_WRITE, "p/one/c1", NULL, 0, &st, "c1");
	REC(JOP_WRITE, "p/two/c2", NULL, 0, &st, "c2");
	REC(JOP_RENAME, "p/one", "p/two", JOP_RENAME_EXCHANGE, NULL, NULL);
	CHECK_STR(cat(db, "p/one/c2").hash, hex_of("c2", hx));
	CHECK_STR(cat(db, "p/two/c1").hash, hex_of("c1", hx));
	CHECK(cat(db, "p/one/c1").deleted && cat(db, "p/two/c2").deleted);
	CHECK(!cat(db, "p/one/c2").deleted && !cat(db, "p/two/c1").deleted);
	CHECK(!cat(db, "p/one").deleted && !cat(db, "p/two").deleted);
	/* Exchange of two files swaps their content. */
	REC(JOP_RENAME, "p/one/c2", "p/two/c1", JOP_RENAME_EXCHANGE, NULL, NULL);
	CHECK_STR(cat(db, "p/one/c2").hash, hex_of("c1", hx));
	CHECK_STR(cat(db, "p/two/c1").hash, hex_of("c2", hx));

	/* rename over an existing file replaces it; st (if given) wins. */
	struct stat sf1 = mkst(S_IFREG | 0600, 3, 71), sf2 = mkst(S_IFREG | 0600, 3, 72);
	REC(JOP_WRITE, "f1", NULL, 0, &sf1, "one");
	REC(JOP_WRITE, "f2", NULL, 0, &sf2, "two");
	struct stat st3 = mkst(S_IFREG | 0444, 3, 77);
	REC(JOP_RENAME, "f1", "f2", 0, &st3, NULL);
	CHECK_STR(cat(db, "f2").hash, hex_of("one", hx));
	CHECK_INT(cat(db, "f2").ino, 77);
	CHECK_INT(cat(db, "f2").mode, S_IFREG | 0444);
	CHECK(cat(db, "f1").deleted);
	/* rename between two hard links of one file changes nothing */
	struct stat sl = mkst(S_IFREG | 0600, 4, 88);
	REC(JOP_WRITE, "l1", NULL, 0, &sl, "same");
	REC(JOP_LINK, "l1", "l2", 0, &sl, NULL);
	REC(JOP_RENAME, "l1", "l2", 0, NULL, NULL);
	CHECK(!cat(db, "l1").deleted && !cat(db, "l2").deleted);

	/* Rejected entries: -EINVAL, and no journal row, no seq used. */
	long long rows = q_int(db, "SELECT count(*) FROM journal", NULL);
	uint64_t seq = journal_last_seq(J);
	CHECK_INT(rec(&e, JOP_UNLINK, "../x", NULL, 0, NULL, NULL), -EINVAL);
	CHECK_INT(rec(&e, JOP_UNLINK, "/etc/passwd", NULL, 0, NULL, NULL), -EINVAL);
	CHECK_INT(rec(&e, JOP_UNLINK, "a//b", NULL, 0, NULL, NULL), -EINVAL);
	CHECK_INT(rec(&e, JOP_RENAME, "a", NULL, 0, NULL, NULL), -EINVAL);
	CHECK_INT(rec(&e, JOP_RENAME, "a", "b", 3, NULL, NULL), -EINVAL);
	CHECK_INT(rec(&e, JOP_LINK, "a", "../b", 0, NULL, NULL), -EINVAL);
	CHECK_INT(rec(&e, JOP_CREATE, "a", NULL, 7, NULL, NULL), -EINVAL);
	CHECK_INT(rec(&e, (enum jop)0, "a", NULL, 0, NULL, NULL), -EINVAL);
	CHECK_INT(rec(&e, (enum jop)(JOP_MAX + 1), "a", NULL, 0, NULL, NULL), -EINVAL);
	st = mkst(0644, 0, 1); /* no file type */
	CHECK_INT(rec(&e, JOP_CREATE, "a", NULL, 0, &st, NULL), -EINVAL);
	CHECK_INT(q_int(db, "SELECT count(*) FROM journal", NULL), rows);
	CHECK_INT(journal_last_seq(J), seq);
	CHECK(!cat(db, "a").found);

	/* The journal: seq 1..N without gaps, hlc strictly increasing with seq,
	 * every row ours, a write row with its size and hash. */
	CHECK_INT(q_int(db, "SELECT max(seq) FROM journal", NULL), rows);
	CHECK_INT(q_int(db, "SELECT min(seq) FROM journal", NULL), 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM journal a JOIN journal b ON b.seq = a.seq + 1"
			" WHERE b.hlc <= a.hlc", NULL), 0);
	CHECK_INT(q_int(db, "SELECT count(*) FROM journal WHERE origin != 1", NULL), 0);
	CHECK_INT(q_int(db, "SELECT min(hlc) FROM journal", NULL), (long long)h_first);
	CHECK_INT(q_int(db, "SELECT size FROM journal WHERE op = 10 AND path = 'u/Maildir/new/m1'",
			NULL), 8192);
	CHECK_INT(q_int(db, "SELECT length(hash) FROM journal WHERE op = 10 AND path = 'u/Maildir/new/m1'",
			NULL), 16);
	CHECK_INT(q_int(db, "SELECT path2 = 'u/Maildir/cur/m1:2,S' FROM journal WHERE op = 7 LIMIT 1",
			NULL), 1);

	/* Four threads at once: every entry gets its own seq. */
	pthread_t th[4];
	for (long i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, writer, (void *)i);
	int thread_fail = 0;
	for (int i = 0; i < 4; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		thread_fail |= ret != NULL;
	}
	CHECK(!thread_fail);
	CHECK_INT(q_int(db, "SELECT count(DISTINCT seq) FROM journal WHERE path >= 't/' AND path < 't0'",
			NULL), 1000);
	CHECK_INT(journal_last_seq(J), rows + 1000);
	CHECK_INT(q_int(db, "SELECT count(*) FROM catalog WHERE path >= 't/' AND path < 't0'", NULL), 1000);

	/* Speed: a delivery's worth of ops (create, write, commit-rename). */
	struct timespec t0, t1;
	char p1[64], p2[64];
	const int N = 3000;
	st = mkst(S_IFREG | 0600, 8192, 5);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N / 3; i++) {
		snprintf(p1, sizeof(p1), "bench/new/%d", i);
		snprintf(p2, sizeof(p2), "bench/cur/%d:2,S", i);
		REC(JOP_COMMIT, p1, "bench/tmp/x", 0, &st, "body");
		REC(JOP_SETATTR, p1, NULL, 1u << 5, &st, NULL);
		REC(JOP_RENAME, p1, p2, 0, NULL, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / N;
	printf("journal_record: %.1f us per call (%d calls: commit, setattr, rename)\n", us, N);

	sqlite3_close(db);
	uint64_t final_seq = journal_last_seq(J);
	journal_close(J, 1);
	J = NULL;
	/* The close stores the last seq and the clean flag. */
	db = db_reader(state);
	CHECK_INT(q_int(db, "SELECT last_seq FROM meta", NULL), final_seq);
	CHECK_INT(q_int(db, "SELECT clean FROM meta", NULL), 1);
	CHECK_INT(q_int(db, "SELECT last_hlc FROM meta", NULL),
		  q_int(db, "SELECT max(hlc) FROM journal", NULL));
	sqlite3_close(db);
}

static void test_clean_and_crash(const char *state, const char *backing)
{
	char err[512];
	int clean = -1, fd;
	struct jentry e;
	struct recover_stats rs;
	struct stat st = mkst(S_IFREG | 0600, 1, 1);

	/* New database: not clean (catalog never built) until recover builds it. */
	J = journal_open(state, 2, &clk, &clean, err, sizeof(err));
	CHECK(J && clean == 0);
	if (!J)
		return;
	struct stat sd;
	CHECK(stat(state, &sd) == 0 && (sd.st_mode & 0777) == 0700);
	fd = open(backing, O_RDONLY | O_DIRECTORY);
	CHECK_INT(journal_recover(J, fd, NULL, 0, &rs), 0);
	CHECK_INT(journal_catalog_built(J), 1);
	CHECK_INT(rec(&e, JOP_WRITE, "a", NULL, 0, &st, "a"), 0);
	hlc_t last = e.hlc;
	journal_close(J, 1);

	/* Clean close: clean, seq and HLC floor restored. */
	struct hlc c2;
	hlc_init(&c2, NULL, NULL, -3600 * 1000); /* a clock an hour behind */
	J = journal_open(state, 2, &c2, &clean, err, sizeof(err));
	CHECK(J && clean == 1);
	if (!J)
		return;
	CHECK_INT(journal_last_seq(J), 1);
	CHECK_INT(rec(&e, JOP_WRITE, "b", NULL, 0, &st, "b"), 0);
	CHECK_INT(e.seq, 2);
	CHECK(e.hlc > last);
	last = e.hlc;
	journal_close(J, 0);

	/* journal_close(j, 0): not clean. */
	J = journal_open(state, 2, &clk, &clean, err, sizeof(err));
	CHECK(J && clean == 0);
	journal_close(J, 1);

	/* A crash (the process exits without closing) after three records. */
	pid_t pid = fork();
	if (pid == 0) {
		struct hlc c3;
		hlc_init(&c3, NULL, NULL, 0);
		struct journal *cj = journal_open(state, 2, &c3, NULL, err, sizeof(err));
		for (int i = 0; cj && i < 3; i++) {
			struct jentry ce;
			memset(&ce, 0, sizeof(ce));
			ce.op = JOP_MKDIR;
			ce.path = i == 0 ? "c0" : i == 1 ? "c1" : "c2";
			if (journal_record(cj, &ce) != 0)
				_exit(2);
		}
		_exit(cj ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	J = journal_open(state, 2, &c2, &clean, err, sizeof(err));
	CHECK(J && clean == 0);
	if (!J)
		return;
	CHECK_INT(journal_last_seq(J), 5);
	CHECK_INT(rec(&e, JOP_WRITE, "d", NULL, 0, &st, "d"), 0);
	CHECK_INT(e.seq, 6);
	sqlite3 *db = db_reader(state);
	CHECK(e.hlc > (hlc_t)q_int(db, "SELECT max(hlc) FROM journal WHERE seq < 6", NULL));
	CHECK(!cat(db, "c2").deleted && cat(db, "c2").kind == 'd');
	sqlite3_close(db);
	journal_close(J, 1);

	/* Pruning (the replicator deletes acknowledged rows) and then a crash:
	 * the seq must not go back. */
	pid = fork();
	if (pid == 0) {
		struct hlc c4;
		char p[4400];
		sqlite3 *w;
		hlc_init(&c4, NULL, NULL, 0);
		struct journal *cj = journal_open(state, 2, &c4, NULL, err, sizeof(err));
		for (int i = 0; cj && i < 2; i++) {
			struct jentry ce;
			memset(&ce, 0, sizeof(ce));
			ce.op = JOP_MKDIR;
			ce.path = i ? "p1" : "p0";
			if (journal_record(cj, &ce) != 0)
				_exit(2);
		}
		snprintf(p, sizeof(p), "%s/journal.db", state);
		if (sqlite3_open(p, &w) != SQLITE_OK ||
		    sqlite3_exec(w, "DELETE FROM journal WHERE origin = 2", NULL, NULL, NULL) != SQLITE_OK)
			_exit(3);
		sqlite3_close(w);
		_exit(cj ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	J = journal_open(state, 2, &c2, &clean, err, sizeof(err));
	CHECK(J && clean == 0);
	if (!J)
		return;
	db = db_reader(state);
	CHECK_INT(q_int(db, "SELECT count(*) FROM journal", NULL), 0);
	sqlite3_close(db);
	CHECK_INT(journal_last_seq(J), 8);
	CHECK_INT(rec(&e, JOP_WRITE, "e", NULL, 0, &st, "e"), 0);
	CHECK_INT(e.seq, 9);
	journal_close(J, 1);

	/* A journal from before removal.deleted gets the column, its rows
	 * reading 0 (a removal of unknown kind). */
	db = db_writer(state);
	CHECK_INT(sqlite3_exec(db, "INSERT INTO removal VALUES ('m', 'b', 1, 2, NULL, 1);"
			       "ALTER TABLE removal DROP COLUMN deleted", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	J = journal_open(state, 2, &c2, &clean, err, sizeof(err));
	CHECK(J != NULL);
	if (!J)
		return;
	db = db_reader(state);
	CHECK_INT(q_int(db, "SELECT count(*) FROM removal WHERE deleted = 0", NULL), 1);
	sqlite3_close(db);
	journal_close(J, 1);

	/* Another node id on the same database is refused. */
	J = journal_open(state, 3, &clk, &clean, err, sizeof(err));
	CHECK(J == NULL);
	CHECK_HAS(err, "node_id");
	close(fd);
}

static int count_damaged(const char *state)
{
	char pat[4400];
	glob_t g;
	snprintf(pat, sizeof(pat), "%s/journal.db.damaged-*", state);
	int n = glob(pat, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
	int wal = 0;
	for (int i = 0; i < n; i++)
		wal += strstr(g.gl_pathv[i], "-wal") != NULL;
	if (n)
		globfree(&g);
	return n - wal;
}

static void test_damaged(const char *state)
{
	char err[512], p[4400];
	int clean = -1;
	struct jentry e;
	struct stat st = mkst(S_IFREG | 0600, 1, 1);

	/* A file that is not a database at all. */
	mkdir(state, 0700);
	snprintf(p, sizeof(p), "%s/journal.db", state);
	FILE *f = fopen(p, "w");
	for (int i = 0; i < 2000; i++)
		fputs("this is not an SQLite database. ", f);
	fclose(f);
	J = journal_open(state, 4, &clk, &clean, err, sizeof(err));
	CHECK(J != NULL);
	if (!J) {
		fprintf(stderr, "journal_open: %s\n", err);
		return;
	}
	CHECK_INT(clean, 0);
	CHECK_INT(journal_catalog_built(J), 0);
	CHECK_INT(count_damaged(state), 1);
	CHECK_INT(rec(&e, JOP_WRITE, "x", NULL, 0, &st, "x"), 0);
	CHECK_INT(e.seq, 1);
	/* Fill some pages, stop cleanly, then smash a b-tree page. */
	char path[32];
	for (int i = 0; i < 3000; i++) {
		snprintf(path, sizeof(path), "fill/%05d", i);
		REC(JOP_WRITE, path, NULL, 0, &st, path);
	}
	journal_close(J, 1);
	struct stat dbst;
	CHECK(stat(p, &dbst) == 0 && dbst.st_size > 20 * 4096);
	int fd = open(p, O_WRONLY);
	char junk[4096];
	memset(junk, 0xa5, sizeof(junk));
	for (int pg = 2; pg < 12; pg++)
		CHECK(pwrite(fd, junk, sizeof(junk), (off_t)pg * 4096) == (ssize_t)sizeof(junk));
	close(fd);
	sleep(1); /* a distinct damaged-TIMESTAMP name */
	J = journal_open(state, 4, &clk, &clean, err, sizeof(err));
	CHECK(J != NULL);
	if (!J) {
		fprintf(stderr, "journal_open: %s\n", err);
		return;
	}
	CHECK_INT(clean, 0);
	CHECK_INT(count_damaged(state), 2);
	CHECK_INT(journal_last_seq(J), 0);
	CHECK_INT(rec(&e, JOP_WRITE, "y", NULL, 0, &st, "y"), 0);
	journal_close(J, 1);

	/* state_dir that is a file: a clear error, nothing created. */
	snprintf(p, sizeof(p), "%s/journal.db", state);
	J = journal_open(p, 4, &clk, &clean, err, sizeof(err));
	CHECK(J == NULL);
	CHECK_HAS(err, "state_dir");
	J = journal_open(state, 0, &clk, &clean, err, sizeof(err));
	CHECK(J == NULL);
}

/* A full file system: SQLITE_FULL becomes -ENOSPC, the failed entry
 * uses no seq and changes nothing, and recording works again once there is
 * room.  Needs root (a private mount namespace with a small tmpfs). */
static void test_full(const char *dir)
{
	char err[512], fill[4400], path[64];
	struct jentry e;
	struct stat st = mkst(S_IFREG | 0600, 1, 1);
	int rc = 0, i, ok = 0;

	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		printf("test_journal: full file system case skipped (needs root)\n");
		return;
	}
	mkdir(dir, 0700);
	if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") < 0) {
		printf("test_journal: full file system case skipped (tmpfs: %s)\n", strerror(errno));
		return;
	}
	J = journal_open(dir, 5, &clk, NULL, err, sizeof(err));
	CHECK(J != NULL);
	if (!J)
		goto out;
	/* Leave about 400 KiB free (an entry dirties a few more pages since
	 * the digest tree), then record until it fails. */
	snprintf(fill, sizeof(fill), "%s/filler", dir);
	int fd = open(fill, O_WRONLY | O_CREAT, 0600);
	char block[4096];
	memset(block, 'f', sizeof(block));
	for (i = 0; i < 256 - 100; i++)
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			break;
	close(fd);
	for (i = 0; i < 100000; i++) {
		snprintf(path, sizeof(path), "full/%06d/%0*d", i, 40, i);
		rc = rec(&e, JOP_WRITE, path, NULL, 0, &st, path);
		if (rc != 0)
			break;
		ok++;
	}
	CHECK_INT(rc, -ENOSPC);
	CHECK(ok > 10);
	CHECK_INT(journal_last_seq(J), ok);
	/* Free the room: the next entry gets the next seq. */
	unlink(fill);
	CHECK_INT(rec(&e, JOP_WRITE, "after", NULL, 0, &st, "after"), 0);
	CHECK_INT(e.seq, ok + 1);
	sqlite3 *db = db_reader(dir);
	CHECK_INT(q_int(db, "SELECT count(*) FROM journal", NULL), ok + 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM catalog", NULL), ok + 1);
	sqlite3_close(db);
	journal_close(J, 1);
	J = NULL;
	printf("test_journal: disk full after %d entries gave -ENOSPC; recovered\n", ok);
out:
	umount2(dir, MNT_DETACH);
}

int main(void)
{
	char base[] = "/tmp/mhafs-test-journal.XXXXXX";
	char s1[4200], s2[4200], s3[4200], b2[4200];

	tmpdir(base);
	snprintf(s1, sizeof(s1), "%s/state1", base);
	snprintf(s2, sizeof(s2), "%s/deeper/state2", base);
	snprintf(s3, sizeof(s3), "%s/state3", base);
	snprintf(b2, sizeof(b2), "%s/backing2", base);
	mkdir(b2, 0755);
	hlc_init(&clk, NULL, NULL, 0);
	log_init("test_journal", 1, LOG_WARNING);

	test_ops(s1);
	test_clean_and_crash(s2, b2);
	test_damaged(s3);
	snprintf(s3, sizeof(s3), "%s/full", base);
	test_full(s3);
	rm_rf(base);
	return t_done("test_journal");
}
