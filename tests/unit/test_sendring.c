/* test_sendring.c: the sender's copy of the last committed entries
 * (journal_committed_next, journal_async.c) must give exactly what
 * reading the database back (jcursor_next) gives -- every field the
 * journal stores and nothing it does not (a stat's inode, nlink), with
 * the same mtime split -- must answer "nothing after" only at the end of
 * what is committed, and must leave to the database what it does not
 * hold (older entries, and everything before the writer runs). */
#include "tjournal.h"

#include <errno.h>
#include <string.h>

#include "journal_repl.h"

#define N_ENTRIES 1500 /* more than the writer keeps, so some come from the database */

static struct hlc clk;

static int rec(struct journal *j, int i)
{
	char p[128], q[128];
	struct jentry e;
	memset(&e, 0, sizeof(e));
	snprintf(p, sizeof(p), "u/cur/%d.M1P1.h:2,", i);
	snprintf(q, sizeof(q), "u/cur/%d.M1P1.h:2,S", i);
	e.path = p;
	switch (i % 5) {
	case 0: /* a message, with what a FUSE op's stat carries besides */
		e.op = JOP_COMMIT;
		e.path2 = "u/tmp/x";
		e.has_st = 1;
		e.st.st_mode = S_IFREG | 0600;
		e.st.st_uid = 5000 + (uid_t)i;
		e.st.st_gid = 8;
		e.st.st_size = 8192 + i;
		e.st.st_ino = 123456 + (ino_t)i;
		e.st.st_nlink = 1;
		e.st.st_blocks = 24;
		e.st.st_atim.tv_sec = 1700000000;
		e.st.st_mtim.tv_sec = 1700000000 + i;
		e.st.st_mtim.tv_nsec = 123456789;
		e.has_hash = 1;
		hash_buf(p, strlen(p), &e.hash);
		break;
	case 1:
		e.op = JOP_RENAME;
		e.path2 = q;
		break;
	case 2: /* a time before 1970: the row keeps nanoseconds, split back */
		e.op = JOP_SETATTR;
		e.flags = 3;
		e.has_st = 1;
		e.st.st_mode = S_IFREG | 0644;
		e.st.st_mtim.tv_sec = -2;
		e.st.st_mtim.tv_nsec = 500000000;
		break;
	case 3:
		e.op = JOP_SETXATTR;
		e.xname = "user.mhafs-test";
		break;
	default:
		e.op = JOP_UNLINK;
		break;
	}
	return journal_record(j, &e);
}

/* 1 if a and b are the same entry, field by field. */
static int same(const struct jentry *a, const struct jentry *b)
{
	struct jentry x = *a, y = *b;
	int strings = strcmp(a->path, b->path) == 0 &&
		      (!a->path2 == !b->path2) && (!a->path2 || strcmp(a->path2, b->path2) == 0) &&
		      (!a->xname == !b->xname) && (!a->xname || strcmp(a->xname, b->xname) == 0);
	x.path = x.path2 = x.xname = y.path = y.path2 = y.xname = NULL;
	return strings && memcmp(&x, &y, sizeof(x)) == 0;
}

int main(void)
{
	static char sa[JENTRY_MAX_STRBUF], sb[JENTRY_MAX_STRBUF];
	char td[] = "/tmp/mhafs-test-sendring.XXXXXX", err[512];
	struct jentry a, b;
	struct journal_hooks hooks = { 0 };

	hlc_init(&clk, NULL, NULL, 0);
	tmpdir(td);
	struct journal *j = journal_open(td, 3, &clk, NULL, err, sizeof(err));
	struct jcursor *cur = j ? jcursor_open(td, err, sizeof(err)) : NULL;
	if (!j || !cur) {
		fprintf(stderr, "open: %s\n", err);
		rm_rf(td);
		return 99;
	}
	/* written by the caller itself: nothing is known in memory */
	CHECK_INT(rec(j, 0), 0);
	CHECK_INT(journal_committed_next(j, 0, &a, sa, sizeof(sa)), -1);

	CHECK_INT(journal_start_writer(j, &hooks), 0);
	CHECK_INT(journal_committed_next(j, 1, &a, sa, sizeof(sa)), 0);
	for (int i = 1; i < N_ENTRIES; i++)
		CHECK_INT(rec(j, i), 0);
	journal_flush(j);

	int hits = 0, misses = 0, wrong = 0;
	for (uint64_t after = 0; after < N_ENTRIES; after++) {
		int rm = journal_committed_next(j, after, &a, sa, sizeof(sa));
		int rd = jcursor_next(cur, 3, after, &b, sb, sizeof(sb));
		CHECK_INT(rd, 1);
		if (rm < 0) {
			misses++;
			continue;
		}
		hits++;
		if (rm != 1 || !same(&a, &b)) {
			if (wrong++ < 5)
				fprintf(stderr, "seq %" PRIu64 ": memory %d, database %d (%s)\n", after + 1,
					rm, rd, b.path);
		}
	}
	CHECK_INT(wrong, 0);
	CHECK(hits >= 1000);           /* the recent ones come from memory */
	CHECK(misses >= 1);            /* the oldest from the database */
	CHECK_INT(hits + misses, N_ENTRIES);
	/* the end of the journal: nothing after it, in memory as on disk */
	CHECK_INT(journal_committed_next(j, N_ENTRIES, &a, sa, sizeof(sa)), 0);
	CHECK_INT(jcursor_next(cur, 3, N_ENTRIES, &b, sb, sizeof(sb)), 0);
	/* an entry queued later is found once committed */
	CHECK_INT(rec(j, N_ENTRIES), 0);
	journal_flush(j);
	CHECK_INT(journal_committed_next(j, N_ENTRIES, &a, sa, sizeof(sa)), 1);
	CHECK_INT(jcursor_next(cur, 3, N_ENTRIES, &b, sb, sizeof(sb)), 1);
	CHECK(same(&a, &b));
	/* strings that do not fit are left to the database */
	CHECK_INT(journal_committed_next(j, N_ENTRIES, &a, sa, 8), -1);

	jcursor_close(cur);
	journal_close(j, 1);
	rm_rf(td);
	return t_done("test_sendring");
}
