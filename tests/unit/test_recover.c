/* test_recover.c: journal_recover and journal_check on a temporary tree:
 * the first run builds the catalog without journaling (hashes, node-local
 * paths skipped, a path longer than PATH_MAX); after an unclean stop an
 * unjournaled file, a deleted cataloged file and a changed one show up as
 * exactly those stats and journal rows; then a removed subtree (deepest
 * first), a file replaced by a directory, a mode change and a touch; and
 * the read-only check with and without content hashing. */
#include "tjournal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/time.h>

#include "log.h"

static char B[4200], S[4200];
static struct hlc clk;
static char *local_pats[] = { "dovecot.index*", "dovecot.list.index*", "*.lock", "tmp/" };
#define NLOCAL 4

static void put(const char *rel, const char *content)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/%s", B, rel);
	FILE *f = fopen(p, "w");
	if (!f) {
		perror(p);
		exit(99);
	}
	fputs(content, f);
	fclose(f);
}

static void mk(const char *rel)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/%s", B, rel);
	if (mkdir(p, 0755) < 0) {
		perror(p);
		exit(99);
	}
}

static void rm(const char *rel)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/%s", B, rel);
	rm_rf(p);
}

static struct journal *reopen(int expect_clean)
{
	char err[512];
	int clean = -1;
	struct journal *j = journal_open(S, 1, &clk, &clean, err, sizeof(err));
	if (!j) {
		fprintf(stderr, "journal_open: %s\n", err);
		exit(1);
	}
	CHECK_INT(clean, expect_clean);
	return j;
}

/* journal_check into a string; returns the number of differences. */
static long check(int fd, int verify, char **out)
{
	char err[512];
	size_t len;
	FILE *m = open_memstream(out, &len);
	long n = journal_check(S, fd, local_pats, NLOCAL, verify, m, err, sizeof(err));
	fclose(m);
	if (n < 0)
		fprintf(stderr, "journal_check: %s\n", err);
	return n;
}

static long long jcount(sqlite3 *db)
{
	return q_int(db, "SELECT count(*) FROM journal", NULL);
}

int main(void)
{
	char base[] = "/tmp/mhafs-test-recover.XXXXXX", hx[HASH128_HEX], *out = NULL;
	struct recover_stats rs;
	struct journal *j;

	tmpdir(base);
	snprintf(B, sizeof(B), "%s/backing", base);
	snprintf(S, sizeof(S), "%s/state", base);
	hlc_init(&clk, NULL, NULL, 0);
	log_init("test_recover", 1, LOG_WARNING);

	/* The store. */
	mkdir(B, 0755);
	mk("u"); mk("u/Maildir"); mk("u/Maildir/cur"); mk("u/Maildir/new"); mk("u/Maildir/tmp");
	put("u/Maildir/cur/m1", "one");
	put("u/Maildir/cur/m2", "two");
	put("u/Maildir/cur/m3", "three");
	put("u/Maildir/dovecot-uidlist", "3 V1 N4\n");
	put("u/Maildir/dovecot.index", "local");
	put("u/Maildir/dovecot-uidlist.lock", "local");
	put("u/Maildir/tmp/t1", "local");
	mk("gone"); mk("gone/b");
	put("gone/a", "a");
	put("gone/b/c", "c");
	put("pct%_ name", "odd");
	char lp[4400];
	snprintf(lp, sizeof(lp), "%s/u/link", B);
	CHECK(symlink("Maildir/cur", lp) == 0);
	/* A path longer than PATH_MAX: 25 levels of 200-byte names. */
	char name[201], longrel[6000] = "";
	memset(name, 'n', 200);
	name[200] = '\0';
	int dfd = open(B, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 25; i++) {
		CHECK(mkdirat(dfd, name, 0755) == 0);
		int nfd = openat(dfd, name, O_RDONLY | O_DIRECTORY);
		close(dfd);
		dfd = nfd;
		strcat(longrel, i ? "/" : "");
		strcat(longrel, name);
	}
	int lf = openat(dfd, "deep", O_WRONLY | O_CREAT, 0644);
	CHECK(lf >= 0 && write(lf, "deep", 4) == 4);
	close(lf);
	close(dfd);
	strcat(longrel, "/deep");
	CHECK(strlen(longrel) > 4096);
	int bfd = open(B, O_RDONLY | O_DIRECTORY);

	/* 1. First start: build the catalog, journal nothing. */
	j = reopen(0);
	CHECK_INT(journal_recover(j, bfd, local_pats, NLOCAL, &rs), 0);
	/* u, Maildir, cur, new, tmp? no: tmp is local; m1 m2 m3 uidlist, gone,
	 * gone/b, gone/a, gone/b/c, "pct%_ name", u/link, 25 dirs, deep */
	long long expect = 4 + 4 + 4 + 1 + 1 + 25 + 1;
	CHECK_INT(rs.scanned, expect);
	CHECK_INT(rs.added, expect);
	CHECK_INT(rs.changed, 0);
	CHECK_INT(rs.removed, 0);
	sqlite3 *db = db_reader(S);
	CHECK_INT(jcount(db), 0);
	CHECK_INT(q_int(db, "SELECT count(*) FROM catalog WHERE deleted = 0", NULL), expect);
	CHECK_STR(cat(db, "u/Maildir/cur/m1").hash, hex_of("one", hx));
	CHECK_STR(cat(db, "u/link").hash, hex_of("Maildir/cur", hx));
	CHECK(cat(db, "u/link").kind == 'l');
	CHECK(cat(db, "u/Maildir/cur").kind == 'd');
	CHECK(!cat(db, "u/Maildir/tmp").found && !cat(db, "u/Maildir/tmp/t1").found);
	CHECK(!cat(db, "u/Maildir/dovecot.index").found);
	CHECK(!cat(db, "u/Maildir/dovecot-uidlist.lock").found);
	CHECK_STR(cat(db, longrel).hash, hex_of("deep", hx));
	CHECK_STR(cat(db, "pct%_ name").hash, hex_of("odd", hx));
	CHECK_INT(check(bfd, 1, &out), 0);
	free(out);
	journal_close(j, 0); /* as after a crash */

	/* 2. Unjournaled changes while "down": plant, delete, change.  And
	 * m1's row as a peer's flag rename can leave it: no hash, the peer's
	 * inode number (same size and mtime). */
	{
		char p2[4400];
		sqlite3 *w;
		snprintf(p2, sizeof(p2), "%s/journal.db", S);
		CHECK(sqlite3_open(p2, &w) == SQLITE_OK &&
		      sqlite3_exec(w, "UPDATE catalog SET hash = NULL, ino = ino + 1 WHERE path = "
				      "'u/Maildir/cur/m1'; UPDATE mtree_meta SET built = 0",
				   NULL, NULL, NULL) == SQLITE_OK);
		sqlite3_close(w);
		CHECK(cat(db, "u/Maildir/cur/m1").found && !cat(db, "u/Maildir/cur/m1").hash[0]);
	}
	put("u/Maildir/new/planted", "planted");
	rm("u/Maildir/cur/m2");
	put("u/Maildir/cur/m3", "three, longer");
	put("u/Maildir/tmp/t2", "local, ignored");
	put("u/Maildir/dovecot.index.log", "local, ignored");
	CHECK_INT(check(bfd, 0, &out), 4);
	CHECK_HAS(out, "hash u/Maildir/cur/m1:"); /* the row has none */
	CHECK_HAS(out, "extra u/Maildir/new/planted:");
	CHECK_HAS(out, "missing u/Maildir/cur/m2:");
	CHECK_HAS(out, "changed u/Maildir/cur/m3:");
	free(out);

	j = reopen(0);
	CHECK_INT(journal_recover(j, bfd, local_pats, NLOCAL, &rs), 0);
	CHECK_INT(rs.added, 1);
	CHECK_INT(rs.removed, 1);
	CHECK_INT(rs.changed, 1);
	CHECK_INT(rs.scanned, expect);
	/* a message gone without a journaled expunge is not journaled as one:
	 * its row goes, no tombstone (the peer's copy comes back); a message
	 * no entry made is recorded in the catalog, not journaled as new (a
	 * peer's entry the crash kept from the catalog: the walk decides) */
	CHECK_INT(jcount(db), 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM journal WHERE path = 'u/Maildir/new/planted'", NULL), 0);
	CHECK_INT(q_int(db, "SELECT count(*) FROM journal WHERE path = 'u/Maildir/cur/m2'", NULL), 0);
	CHECK_INT(q_int(db, "SELECT op FROM journal WHERE path = 'u/Maildir/cur/m3'", NULL), JOP_WRITE);
	CHECK_INT(q_int(db, "SELECT size FROM journal WHERE path = 'u/Maildir/cur/m3'", NULL), 13);
	CHECK_INT(q_int(db, "SELECT count(*) FROM journal WHERE origin = 1 AND seq = 1", NULL), 1);
	CHECK_STR(cat(db, "u/Maildir/new/planted").hash, hex_of("planted", hx));
	CHECK_STR(cat(db, "u/Maildir/cur/m3").hash, hex_of("three, longer", hx));
	CHECK(!cat(db, "u/Maildir/cur/m2").found);
	/* m1 journaled nothing (a fresh HLC would beat the peer's later
	 * changes to it) and its row has its hash again */
	CHECK_INT(q_int(db, "SELECT count(*) FROM journal WHERE path = 'u/Maildir/cur/m1'", NULL), 0);
	CHECK_STR(cat(db, "u/Maildir/cur/m1").hash, hex_of("one", hx));
	CHECK_INT(check(bfd, 1, &out), 0);
	free(out);
	/* Nothing changed: a second run finds nothing and journals nothing. */
	CHECK_INT(journal_recover(j, bfd, local_pats, NLOCAL, &rs), 0);
	CHECK(rs.added == 0 && rs.removed == 0 && rs.changed == 0);
	CHECK_INT(jcount(db), 1);
	journal_close(j, 0);

	/* 3. A removed subtree, a file replaced by a directory, a mode change
	 * and a touch without a content change. */
	rm("gone");
	rm("u/Maildir/dovecot-uidlist");
	mk("u/Maildir/dovecot-uidlist");
	char p[4400];
	snprintf(p, sizeof(p), "%s/u/Maildir/cur", B);
	chmod(p, 0750);
	snprintf(p, sizeof(p), "%s/u/Maildir/cur/m1", B);
	struct timeval tv[2] = { { 1600000000, 0 }, { 1600000000, 0 } };
	utimes(p, tv);
	j = reopen(0);
	CHECK_INT(journal_recover(j, bfd, local_pats, NLOCAL, &rs), 0);
	CHECK_INT(rs.removed, 4);
	CHECK_INT(rs.changed, 3);
	CHECK_INT(rs.added, 0);
	/* deepest first: gone/b/c before gone/b before gone */
	long long s_c = q_int(db, "SELECT seq FROM journal WHERE path = 'gone/b/c' AND op = 6", NULL);
	long long s_b = q_int(db, "SELECT seq FROM journal WHERE path = 'gone/b' AND op = 2", NULL);
	long long s_g = q_int(db, "SELECT seq FROM journal WHERE path = 'gone' AND op = 2", NULL);
	CHECK(s_c > 0 && s_c < s_b && s_b < s_g);
	CHECK(cat(db, "gone/a").deleted && cat(db, "gone").deleted);
	CHECK_INT(q_int(db, "SELECT count(*) FROM journal WHERE path = 'u/Maildir/dovecot-uidlist'"
			" AND op IN (6, 1)", NULL), 2);
	CHECK(cat(db, "u/Maildir/dovecot-uidlist").kind == 'd');
	CHECK_INT(q_int(db, "SELECT op FROM journal WHERE path = 'u/Maildir/cur'", NULL), JOP_SETATTR);
	CHECK_INT(cat(db, "u/Maildir/cur").mode & 0777, 0750);
	CHECK_INT(q_int(db, "SELECT op FROM journal WHERE path = 'u/Maildir/cur/m1'", NULL), JOP_SETATTR);
	CHECK_INT(cat(db, "u/Maildir/cur/m1").mtime_ns, 1600000000LL * 1000000000);
	CHECK_STR(cat(db, "u/Maildir/cur/m1").hash, hex_of("one", hx));
	CHECK_INT(jcount(db), 1 + 4 + 4);
	CHECK_INT(check(bfd, 1, &out), 0);
	free(out);
	journal_close(j, 1);

	/* 4. Content changed behind our back with size, mtime and inode kept:
	 * only the hashing check sees it. */
	snprintf(p, sizeof(p), "%s/u/Maildir/cur/m1", B);
	int fd = open(p, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, "ONE", 3, 0) == 3);
	close(fd);
	utimes(p, tv);
	CHECK_INT(check(bfd, 0, &out), 0);
	free(out);
	CHECK_INT(check(bfd, 1, &out), 1);
	CHECK_HAS(out, "hash u/Maildir/cur/m1:");
	free(out);

	/* An interrupted build (catalog_built still 0, rows already there):
	 * the next start builds again, bringing the rows up to date without
	 * journaling anything. */
	{
		char p2[4400];
		sqlite3 *w;
		snprintf(p2, sizeof(p2), "%s/journal.db", S);
		CHECK(sqlite3_open(p2, &w) == SQLITE_OK &&
		      sqlite3_exec(w, "UPDATE meta SET catalog_built = 0", NULL, NULL, NULL) == SQLITE_OK);
		sqlite3_close(w);
		put("u/Maildir/new/while-building", "wb");
		rm("u/Maildir/cur/m3");
		long long before = jcount(db);
		j = reopen(0);
		CHECK_INT(journal_recover(j, bfd, local_pats, NLOCAL, &rs), 0);
		CHECK_INT(rs.added, 1);
		CHECK_INT(rs.removed, 1);
		CHECK_INT(rs.changed, 1); /* m1, whose content changed in step 4 */
		CHECK_INT(jcount(db), before);
		CHECK(cat(db, "u/Maildir/cur/m3").deleted);
		CHECK_STR(cat(db, "u/Maildir/new/while-building").hash, hex_of("wb", hx));
		CHECK_STR(cat(db, "u/Maildir/cur/m1").hash, hex_of("ONE", hx));
		CHECK_INT(journal_catalog_built(j), 1);
		journal_close(j, 1);
		CHECK_INT(check(bfd, 1, &out), 0);
		free(out);
	}

	/* Queue areas (.mhafs-queue/NODE/, tools/mhafs-queue) after an
	 * unclean stop of node "n1": another node's queue file is left to its
	 * owner (no entry, no row; a row whose file is gone is forgotten), its
	 * own and one of an area it has taken over are journaled. */
	{
		mk(".mhafs-queue"); mk(".mhafs-queue/n1"); mk(".mhafs-queue/n1/incoming");
		mk(".mhafs-queue/n2"); mk(".mhafs-queue/n2/incoming"); mk(".mhafs-queue/n2/active");
		mk(".mhafs-queue/n3"); mk(".mhafs-queue/n3/deferred");
		put(".mhafs-queue/n2/active/Q0", "recorded, then moved by n2");
		/* recorded as a replicated file would be (no name: no rule) */
		j = reopen(1);
		CHECK_INT(journal_recover(j, bfd, local_pats, NLOCAL, &rs), 0);
		journal_close(j, 0);
		CHECK(cat(db, ".mhafs-queue/n2/active/Q0").found);
		long long n2_entries = q_int(db, "SELECT count(*) FROM journal WHERE path LIKE '.mhafs-queue/n2/%'", NULL);
		rm(".mhafs-queue/n2/active/Q0");
		put(".mhafs-queue/n2/incoming/Q1", "n2's queue file");
		put(".mhafs-queue/n1/incoming/Q2", "n1's queue file");
		put(".mhafs-queue/n3/TAKEOVER", "taken over by n1 at 2026-12-06T12:00:00Z\nmessages 1\n");
		put(".mhafs-queue/n3/deferred/Q4", "n3's, run by n1's takeover");
		j = reopen(0);
		journal_set_node_name(j, "n1");
		CHECK_INT(journal_recover(j, bfd, local_pats, NLOCAL, &rs), 0);
		CHECK_INT(q_int(db, "SELECT count(*) FROM journal WHERE path LIKE '.mhafs-queue/n2/%'", NULL), n2_entries);
		CHECK(!cat(db, ".mhafs-queue/n2/incoming/Q1").found);
		CHECK(!cat(db, ".mhafs-queue/n2/active/Q0").found);
		CHECK_INT(q_int(db, "SELECT op FROM journal WHERE path = '.mhafs-queue/n1/incoming/Q2'", NULL), JOP_WRITE);
		CHECK_INT(q_int(db, "SELECT op FROM journal WHERE path = '.mhafs-queue/n3/deferred/Q4'", NULL), JOP_WRITE);
		journal_close(j, 1);
	}

	/* A catalog that was never built is an error for check, not "clean". */
	char err[512];
	char s2[4300];
	snprintf(s2, sizeof(s2), "%s/state-new", base);
	struct journal *j2 = journal_open(s2, 1, &clk, NULL, err, sizeof(err));
	journal_close(j2, 1);
	FILE *null = fopen("/dev/null", "w");
	CHECK_INT(journal_check(s2, bfd, local_pats, NLOCAL, 0, null, err, sizeof(err)), -1);
	CHECK_HAS(err, "not been built");
	CHECK_INT(journal_check("/nonexistent", bfd, local_pats, NLOCAL, 0, null, err, sizeof(err)), -1);
	fclose(null);

	sqlite3_close(db);
	close(bfd);
	rm_rf(base);
	return t_done("test_recover");
}
