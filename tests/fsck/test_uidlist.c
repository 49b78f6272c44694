/* test_uidlist.c: dovecot-uidlist parsing and writing, and the semantic
 * merge: common entries keep their UIDs, colliding UIDs are reassigned
 * above both next UIDs, UIDVALIDITY is preserved, next UID is right, and
 * over any sequence of versions meeting, no UID ever names another
 * message on a node; and the removal of Dovecot's index between two
 * raises of the index drop mark. */
#define _GNU_SOURCE
#include "uidlist.h"
#include "smallfile.h"
#include "tcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define GUID_A "3085f01b7f11094c501100008c4a11c1"
#define GUID_B "aaaaf01b7f11094c501100008c4a11c1"

static int parse(const char *s, struct uidlist *u)
{
	char err[256] = "";
	int rc = uidlist_parse(s, strlen(s), u, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "parse: %s\n", err);
	return rc;
}

static int bad(const char *s)
{
	struct uidlist u;
	char err[256] = "";
	int rc = uidlist_parse(s, strlen(s), &u, err, sizeof(err));
	uidlist_free(&u);
	return rc < 0 && err[0];
}

/* The UID of base in u, or 0. */
static uint32_t uid_of(const struct uidlist *u, const char *base)
{
	for (size_t i = 0; i < u->n; i++)
		if (!strcmp(u->rec[i].base, base))
			return u->rec[i].uid;
	return 0;
}

static int ascending(const struct uidlist *u)
{
	for (size_t i = 1; i < u->n; i++)
		if (u->rec[i].uid <= u->rec[i - 1].uid)
			return 0;
	return 1;
}

static void test_parse_format(void)
{
	struct uidlist u;
	const char *text = "3 V1275660208 N5 G" GUID_A " Xfoo\n"
			   "1 :1.M1P1.h,S=10\n"
			   "3 W1300 S1200 :3.M3P3.h\n"
			   "4 :4.M4P4.h:2,S\n";
	CHECK_INT(parse(text, &u), 0);
	CHECK_INT(u.uidvalidity, 1275660208);
	CHECK_INT(u.nextuid, 5);
	CHECK_STR(u.guid, GUID_A);
	CHECK_STR(u.hdr_ext, "Xfoo");
	CHECK_INT(u.n, 3);
	CHECK_STR(u.rec[0].base, "1.M1P1.h,S=10");
	CHECK(u.rec[0].ext == NULL);
	CHECK_STR(u.rec[1].ext, "W1300 S1200");
	CHECK_STR(u.rec[2].base, "4.M4P4.h");   /* flags are not part of it */
	char *out;
	size_t len;
	CHECK_INT(uidlist_format(&u, &out, &len), 0);
	CHECK_STR(out, "3 V1275660208 N5 G" GUID_A " Xfoo\n"
		       "1 :1.M1P1.h,S=10\n"
		       "3 W1300 S1200 :3.M3P3.h\n"
		       "4 :4.M4P4.h\n");
	CHECK_INT(len, strlen(out));
	free(out);
	uidlist_free(&u);

	/* Records appended after the header was written raise the next UID. */
	CHECK_INT(parse("3 V7 N2\n1 :a\n2 :b\n5 :c\n", &u), 0);
	CHECK_INT(uidlist_next(&u), 6);
	uidlist_free(&u);

	/* Version 1, as Courier and old Dovecot wrote it. */
	CHECK_INT(parse("1 99 3\n1 one:2,S\n2 two\n", &u), 0);
	CHECK_INT(u.uidvalidity, 99);
	CHECK_INT(u.n, 2);
	CHECK_STR(u.rec[0].base, "one");
	CHECK_STR(u.rec[1].base, "two");
	uidlist_free(&u);

	CHECK(bad(""));
	CHECK(bad("2 V1 N1\n"));
	CHECK(bad("3 N5\n"));                     /* no UIDVALIDITY */
	CHECK(bad("3 V0 N5\n"));
	CHECK(bad("3 V1 N5 Gxyz\n"));
	CHECK(bad("3 V1 N5\n2 :a\n1 :b\n"));      /* not ascending */
	CHECK(bad("3 V1 N5\n2 :a\n2 :b\n"));
	CHECK(bad("3 V1 N5\nx :a\n"));
	CHECK(bad("3 V1 N5\n0 :a\n"));
	CHECK(bad("3 V1 N5\n1 a\n"));             /* v3 needs the ':' */
	CHECK(bad("3 V1 N5\n1 :a/b\n"));
	CHECK(bad("3 V1 N5\n1 :\n"));
	CHECK(bad("3 V1 N5\n1 w1 :a\n"));         /* keys are A-Z */
	CHECK(bad("3 V1 N5\n99999999999 :a\n"));
}

static void test_merge_common_and_new(void)
{
	struct uidlist a, b, m;
	struct uidlist_stats st;
	/* Before the split both had 1..3; then A got x (UID 4), B got y (4). */
	CHECK_INT(parse("3 V100 N5 G" GUID_A "\n1 :m1\n2 :m2\n3 :m3\n4 :x\n", &a), 0);
	CHECK_INT(parse("3 V100 N5 G" GUID_A "\n1 :m1\n2 :m2\n3 :m3\n4 :y\n", &b), 0);
	CHECK_INT(uidlist_merge(&a, &b, 1, NULL, NULL, &m, &st), 0);
	CHECK_INT(m.uidvalidity, 100);
	CHECK_STR(m.guid, GUID_A);
	CHECK_INT(uid_of(&m, "m1"), 1);           /* common entries keep UIDs */
	CHECK_INT(uid_of(&m, "m2"), 2);
	CHECK_INT(uid_of(&m, "m3"), 3);
	/* UID 4 collides: both messages move above both next UIDs (5). */
	CHECK_INT(uid_of(&m, "x"), 5);
	CHECK_INT(uid_of(&m, "y"), 6);
	CHECK_INT(m.nextuid, 7);
	CHECK(ascending(&m));
	CHECK_INT(st.common, 3);
	CHECK_INT(st.collisions, 1);
	CHECK_INT(st.reassigned, 2);
	CHECK_INT(st.uidvalidity_conflict, 0);
	CHECK_INT(m.n, 5);
	/* The merge is symmetric in its outcome for UIDs. */
	struct uidlist m2;
	CHECK_INT(uidlist_merge(&b, &a, 0, NULL, NULL, &m2, &st), 0);
	CHECK_INT(uid_of(&m2, "x"), 5);
	CHECK_INT(uid_of(&m2, "y"), 6);
	uidlist_free(&m2);
	/* Merging the result with itself changes nothing. */
	CHECK_INT(uidlist_merge(&m, &m, 0, NULL, NULL, &m2, &st), 0);
	CHECK_INT(m2.n, m.n);
	CHECK_INT(m2.nextuid, m.nextuid);
	CHECK_INT(st.reassigned, 0);
	uidlist_free(&m2);
	uidlist_free(&m);
	uidlist_free(&a);
	uidlist_free(&b);
}

static void test_merge_above_next(void)
{
	struct uidlist a, b, m;
	struct uidlist_stats st;
	/* A's new entry (UID 9) is above B's next UID: it keeps its UID.
	 * B's entry at 3 is below A's next UID and unknown to A: A's
	 * clients already passed UID 3, so it gets a new one. */
	CHECK_INT(parse("3 V5 N10\n1 :m1\n9 :a9\n", &a), 0);
	CHECK_INT(parse("3 V5 N4\n1 :m1\n3 :b3\n", &b), 0);
	CHECK_INT(uidlist_merge(&a, &b, 0, NULL, NULL, &m, &st), 0);
	CHECK_INT(uid_of(&m, "m1"), 1);
	CHECK_INT(uid_of(&m, "a9"), 9);
	CHECK_INT(uid_of(&m, "b3"), 10);
	CHECK_INT(m.nextuid, 11);
	CHECK_INT(st.collisions, 0);
	CHECK_INT(st.reassigned, 1);
	CHECK(ascending(&m));
	uidlist_free(&m);

	/* B's clients have seen up to UID 49: A's new message goes above. */
	uidlist_free(&b);
	CHECK_INT(parse("3 V5 N50\n1 :m1\n", &b), 0);
	CHECK_INT(uidlist_merge(&a, &b, 0, NULL, NULL, &m, &st), 0);
	CHECK_INT(uid_of(&m, "a9"), 50);
	CHECK_INT(m.nextuid, 51);
	uidlist_free(&m);
	/* With nothing new, the next UID never drops below either side's. */
	uidlist_free(&a);
	CHECK_INT(parse("3 V5 N10\n1 :m1\n", &a), 0);
	CHECK_INT(uidlist_merge(&a, &b, 0, NULL, NULL, &m, &st), 0);
	CHECK_INT(m.nextuid, 50);
	CHECK_INT(uid_of(&m, "m1"), 1);
	uidlist_free(&m);
	uidlist_free(&a);
	uidlist_free(&b);
}

static void test_merge_uidvalidity(void)
{
	struct uidlist a, b, m;
	struct uidlist_stats st;
	/* The two differ: the newer file's UIDVALIDITY and UIDs win; the
	 * other side's own entries are given new UIDs. */
	CHECK_INT(parse("3 V111 N3 G" GUID_A "\n1 :m1\n2 :onlya\n", &a), 0);
	CHECK_INT(parse("3 V222 N4 G" GUID_B "\n1 :onlyb\n3 :m1\n", &b), 0);
	CHECK_INT(uidlist_merge(&a, &b, 1, NULL, NULL, &m, &st), 0);
	CHECK_INT(st.uidvalidity_conflict, 1);
	CHECK_INT(st.guid_conflict, 1);
	CHECK_INT(m.uidvalidity, 222);
	CHECK_STR(m.guid, GUID_B);
	CHECK_INT(uid_of(&m, "m1"), 3);
	CHECK_INT(uid_of(&m, "onlyb"), 1);
	CHECK_INT(uid_of(&m, "onlya"), 4);
	CHECK_INT(m.nextuid, 5);
	CHECK(ascending(&m));
	uidlist_free(&m);
	CHECK_INT(uidlist_merge(&a, &b, 0, NULL, NULL, &m, &st), 0);
	CHECK_INT(m.uidvalidity, 111);
	CHECK_STR(m.guid, GUID_A);
	CHECK_INT(uid_of(&m, "m1"), 1);
	CHECK_INT(uid_of(&m, "onlya"), 2);
	CHECK_INT(uid_of(&m, "onlyb"), 4);
	uidlist_free(&m);
	uidlist_free(&a);
	uidlist_free(&b);

	/* Same UIDVALIDITY, one GUID missing: the present one is kept. */
	CHECK_INT(parse("3 V7 N2\n1 :m1\n", &a), 0);
	CHECK_INT(parse("3 V7 N2 G" GUID_B "\n1 :m1\n", &b), 0);
	CHECK_INT(uidlist_merge(&a, &b, 0, NULL, NULL, &m, &st), 0);
	CHECK_INT(st.uidvalidity_conflict, 0);
	CHECK_INT(st.guid_conflict, 0);
	CHECK_STR(m.guid, GUID_B);
	uidlist_free(&m);
	uidlist_free(&a);
	uidlist_free(&b);
}

static int keep_not_gone(const char *base, void *arg)
{
	return strcmp(base, (const char *)arg) != 0;
}

static void test_merge_disagree_and_keep(void)
{
	struct uidlist a, b, m;
	struct uidlist_stats st;
	/* One message, two different UIDs, one of them at or above the other
	 * side's next UID (a later decision): that one stands; an expunged
	 * message's entry is dropped; the newer side's extension fields. */
	CHECK_INT(parse("3 V9 N4\n1 :m1\n2 W10 :m2\n3 :dead\n", &a), 0);
	CHECK_INT(parse("3 V9 N5\n1 :m1\n4 W11 :m2\n", &b), 0);
	CHECK_INT(uidlist_merge(&a, &b, 1, keep_not_gone, "dead", &m, &st), 0);
	CHECK_INT(uid_of(&m, "m1"), 1);
	CHECK_INT(uid_of(&m, "m2"), 4);
	CHECK_INT(uid_of(&m, "dead"), 0);
	CHECK_INT(st.dropped, 1);
	CHECK_INT(m.n, 2);
	CHECK_STR(m.rec[1].ext, "W11");
	CHECK_INT(m.nextuid, 5);
	uidlist_free(&m);
	uidlist_free(&a);
	uidlist_free(&b);
}

/* Mutated files never crash the parser; what parses writes back to text
 * that parses to the same list (ASan/UBSan builds check the memory). */
static void test_mutations(void)
{
	const char *seed = "3 V1275660208 N9 G" GUID_A " Xa\n1 :a,S=1\n3 W1 S2 :b:2,S\n8 :c\n";
	size_t len = strlen(seed);
	unsigned x = 12345;
	int parsed = 0, roundtrips = 0;
	for (int i = 0; i < 3000; i++) {
		char buf[128];
		memcpy(buf, seed, len);
		for (int k = 0; k < 1 + i % 4; k++) {
			x = x * 1103515245 + 12345;
			size_t pos = (x >> 8) % len;
			x = x * 1103515245 + 12345;
			buf[pos] = (char)(x >> 16);
		}
		size_t n = len - (i % 7 == 0 ? (x >> 4) % len : 0);
		struct uidlist u, v;
		char err[128];
		if (uidlist_parse(buf, n, &u, err, sizeof(err)) == 0) {
			parsed++;
			char *out;
			size_t olen;
			if (uidlist_format(&u, &out, &olen) == 0) {
				if (uidlist_parse(out, olen, &v, err, sizeof(err)) == 0 && v.n == u.n &&
				    v.uidvalidity == u.uidvalidity && uidlist_next(&v) == uidlist_next(&u))
					roundtrips++;
				uidlist_free(&v);
				free(out);
			}
		}
		uidlist_free(&u);
	}
	CHECK(parsed > 100);
	CHECK_INT(roundtrips, parsed);
}

/* Formatted result of merging x and y (y newer when y_newer). */
static char *merged_text(const struct uidlist *x, const struct uidlist *y, int y_newer)
{
	struct uidlist m;
	struct uidlist_stats st;
	char *out = NULL;
	size_t len;
	if (uidlist_merge(x, y, y_newer, NULL, NULL, &m, &st) < 0 || uidlist_format(&m, &out, &len) < 0)
		out = NULL;
	uidlist_free(&m);
	return out;
}

/* Live replication merges on both nodes and then merges the results
 * again: the merge must be symmetric and absorbing, or the nodes would
 * trade ever-new versions. */
static void test_merge_symmetric_absorbing(void)
{
	struct uidlist a, b, m;
	CHECK_INT(parse("3 V7 N4\n1 :m1\n2 :m2\n3 :only-a\n", &a), 0);
	CHECK_INT(parse("3 V7 N5\n1 :m1\n2 :m2\n3 :only-b\n4 :b4\n", &b), 0);
	char *ab = merged_text(&a, &b, 1), *ba = merged_text(&b, &a, 0);
	CHECK(ab && ba && strcmp(ab, ba) == 0);
	CHECK_INT(parse(ab, &m), 0);
	char *am = merged_text(&a, &m, 1), *mb = merged_text(&m, &b, 0), *mm = merged_text(&m, &m, 1);
	CHECK(am && strcmp(am, ab) == 0);
	CHECK(mb && strcmp(mb, ab) == 0);
	CHECK(mm && strcmp(mm, ab) == 0);
	free(ab);
	free(ba);
	free(am);
	free(mb);
	free(mm);
	uidlist_free(&m);
	uidlist_free(&a);
	uidlist_free(&b);
}

/* ---- the property Dovecot's node-local index relies on ----
 * Two nodes start from one list; each, at random, appends a new message
 * (as its Dovecot does), drops one (an expunge) or merges in one of the
 * other node's versions (the latest or an older one: the stream, a walk,
 * a backlog).  However the versions meet, a UID that ever named a message
 * on a node never names another one there later (Dovecot's index and
 * cache are keyed by UID, so that would serve one message's cached
 * headers over another's body), a node's next UID never goes down, and
 * once both have merged each other's latest version they hold the same
 * list. */

#define PROP_NODES 2
#define PROP_STEPS 160
#define PROP_HIST (PROP_STEPS + 2)

static unsigned prop_rand(unsigned *x)
{
	*x = *x * 1103515245u + 12345u;
	return *x >> 8;
}

static void prop_append(struct uidlist *u, const char *base)
{
	uint32_t next = uidlist_next(u);
	u->rec = realloc(u->rec, (u->n + 1) * sizeof(*u->rec));
	if (!u->rec)
		abort();
	u->rec[u->n].uid = next;
	u->rec[u->n].ext = NULL;
	u->rec[u->n].base = strdup(base);
	u->n++;
	u->cap = u->n;
	u->nextuid = next + 1;
}

static void prop_drop(struct uidlist *u, size_t i)
{
	uint32_t next = uidlist_next(u);
	free(u->rec[i].ext);
	free(u->rec[i].base);
	memmove(&u->rec[i], &u->rec[i + 1], (u->n - i - 1) * sizeof(*u->rec));
	u->n--;
	u->nextuid = next; /* Dovecot keeps the header's next UID */
}

static char *prop_text(const struct uidlist *u)
{
	char *out = NULL;
	size_t len;
	if (uidlist_format(u, &out, &len) < 0)
		abort();
	return out;
}

/* Whether every UID in both old and now names the same message. */
static int prop_consistent(const char *old_text, const struct uidlist *now)
{
	struct uidlist old;
	int ok = parse(old_text, &old) == 0;
	for (size_t i = 0; ok && i < old.n; i++)
		for (size_t j = 0; j < now->n; j++)
			if (now->rec[j].uid == old.rec[i].uid && strcmp(now->rec[j].base, old.rec[i].base))
				ok = 0;
	uidlist_free(&old);
	return ok;
}

static void test_merge_uid_never_renamed(void)
{
	int runs = 0, merges = 0, bad_uid = 0, lowered = 0, diverged = 0;
	for (unsigned seed = 1; seed <= 60; seed++) {
		unsigned x = seed * 7919u;
		char *hist[PROP_NODES][PROP_HIST];
		size_t nh[PROP_NODES] = { 0, 0 };
		struct uidlist cur[PROP_NODES];
		int msgno = 0;
		for (int n = 0; n < PROP_NODES; n++) {
			CHECK_INT(parse("3 V42 N6 G" GUID_A "\n1 :base1\n2 :base2\n3 :base3\n4 :base4\n5 :base5\n",
					&cur[n]), 0);
			hist[n][nh[n]++] = prop_text(&cur[n]);
		}
		for (int step = 0; step < PROP_STEPS; step++) {
			int n = (int)(prop_rand(&x) % PROP_NODES), peer = 1 - n;
			unsigned what = prop_rand(&x) % 10;
			uint32_t before = uidlist_next(&cur[n]);
			if (what < 4) {
				char name[32];
				snprintf(name, sizeof(name), "new%d.n%d", msgno++, n);
				prop_append(&cur[n], name);
			} else if (what < 6) {
				if (cur[n].n)
					prop_drop(&cur[n], prop_rand(&x) % cur[n].n);
			} else {
				/* mostly the peer's latest version, sometimes an older one */
				size_t k = nh[peer] - 1;
				if (what == 9 && nh[peer] > 1)
					k = prop_rand(&x) % nh[peer];
				struct uidlist theirs, m;
				struct uidlist_stats st;
				CHECK_INT(parse(hist[peer][k], &theirs), 0);
				CHECK_INT(uidlist_merge(&cur[n], &theirs, (int)(prop_rand(&x) & 1), NULL, NULL, &m,
							&st), 0);
				uidlist_free(&theirs);
				uidlist_free(&cur[n]);
				cur[n] = m;
				merges++;
			}
			if (uidlist_next(&cur[n]) < before)
				lowered++;
			for (size_t h = 0; h < nh[n]; h++)
				if (!prop_consistent(hist[n][h], &cur[n]))
					bad_uid++;
			if (nh[n] < PROP_HIST)
				hist[n][nh[n]++] = prop_text(&cur[n]);
		}
		/* the link settles: each merges the other's latest version */
		struct uidlist theirs, m0, m1;
		struct uidlist_stats st;
		CHECK_INT(parse(hist[1][nh[1] - 1], &theirs), 0);
		CHECK_INT(uidlist_merge(&cur[0], &theirs, 1, NULL, NULL, &m0, &st), 0);
		uidlist_free(&theirs);
		CHECK_INT(parse(hist[0][nh[0] - 1], &theirs), 0);
		CHECK_INT(uidlist_merge(&cur[1], &theirs, 0, NULL, NULL, &m1, &st), 0);
		uidlist_free(&theirs);
		char *t0 = prop_text(&m0), *t1 = prop_text(&m1);
		if (strcmp(t0, t1) != 0)
			diverged++;
		for (size_t h = 0; h < nh[0]; h++)
			if (!prop_consistent(hist[0][h], &m0))
				bad_uid++;
		for (size_t h = 0; h < nh[1]; h++)
			if (!prop_consistent(hist[1][h], &m1))
				bad_uid++;
		free(t0);
		free(t1);
		uidlist_free(&m0);
		uidlist_free(&m1);
		for (int n = 0; n < PROP_NODES; n++) {
			uidlist_free(&cur[n]);
			for (size_t h = 0; h < nh[n]; h++)
				free(hist[n][h]);
		}
		runs++;
	}
	CHECK_INT(runs, 60);
	CHECK(merges > 1000);
	CHECK_INT(bad_uid, 0);
	CHECK_INT(lowered, 0);
	CHECK_INT(diverged, 0);
}

/* ---- uidlist_drop_index on a real directory ---- */

/* The index drop mark in state directory sfd, or 0 when there is none. */
static unsigned long long mark_of(int sfd)
{
	char buf[32];
	int fd = openat(sfd, SMALLFILE_DROP_MARK, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strtoull(buf, NULL, 10);
}

static int exists(int dfd, const char *name)
{
	struct stat st;
	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void touch(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "x", 1) != 1) {
		perror(name);
		exit(99);
	}
	close(fd);
}

/* A directory where a file is wanted: unlink and rename onto it fail. */
static void blocker(int dfd, const char *name)
{
	int fd;
	if (mkdirat(dfd, name, 0755) < 0 || (fd = openat(dfd, name, O_RDONLY | O_DIRECTORY)) < 0) {
		perror(name);
		exit(99);
	}
	touch(fd, "in");
	close(fd);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

/* What the callback saw: the names, and the mark at each call. */
struct seen {
	int sfd;
	int n;
	char names[8][32];
	unsigned long long mark[8];
};

static void saw(void *arg, const char *name)
{
	struct seen *s = arg;
	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
		s->mark[s->n] = s->sfd >= 0 ? mark_of(s->sfd) : 0;
	}
	s->n++;
}

/* A fresh mailbox directory dir/name with the uidlist and three index
 * files, and a fresh state directory dir/name.state; fds in *box, *st. */
static void mailbox(const char *dir, const char *name, int *box, int *st)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (mkdir(p, 0755) < 0 || (*box = open(p, O_RDONLY | O_DIRECTORY)) < 0)
		exit(99);
	snprintf(p, sizeof(p), "%s/%s.state", dir, name);
	if (mkdir(p, 0755) < 0 || (*st = open(p, O_RDONLY | O_DIRECTORY)) < 0)
		exit(99);
	touch(*box, "dovecot-uidlist");
	touch(*box, "dovecot.index");
	touch(*box, "dovecot.index.log");
	touch(*box, "dovecot.index.cache");
}

static void test_drop_index(void)
{
	char dir[] = "/tmp/test_uidlist.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(99);
	}
	int box, sfd, rc;
	struct seen s;

	/* the files go, in UIDLIST_INDEX_FILES order, each after the first
	 * mark and before the second; the uidlist stays */
	for (int flags = 0; flags <= (UIDLIST_DROP_SYNC | UIDLIST_DROP_STRICT); flags++) {
		char name[16];
		snprintf(name, sizeof(name), "ok%d", flags);
		mailbox(dir, name, &box, &sfd);
		memset(&s, 0, sizeof(s));
		s.sfd = sfd;
		rc = uidlist_drop_index(box, sfd, flags, saw, &s);
		CHECK_INT(rc, 3);
		CHECK_INT(s.n, 3);
		CHECK_STR(s.names[0], "dovecot.index");
		CHECK_STR(s.names[1], "dovecot.index.log");
		CHECK_STR(s.names[2], "dovecot.index.cache");
		CHECK(s.mark[0] > 0);
		CHECK(mark_of(sfd) > s.mark[2]);
		CHECK(!exists(box, "dovecot.index") && !exists(box, "dovecot.index.log") &&
		      !exists(box, "dovecot.index.cache"));
		CHECK(exists(box, "dovecot-uidlist"));
		/* nothing left: no removal, no mark */
		unsigned long long m = mark_of(sfd);
		CHECK_INT(uidlist_drop_index(box, sfd, flags, saw, &s), 0);
		CHECK_INT(s.n, 3);
		CHECK(mark_of(sfd) == m);
		close(box);
		close(sfd);
	}

	/* no state directory: the index goes, no mark anywhere */
	mailbox(dir, "nomark", &box, &sfd);
	CHECK_INT(uidlist_drop_index(box, -1, UIDLIST_DROP_STRICT, NULL, NULL), 3);
	CHECK(!exists(box, "dovecot.index") && !exists(sfd, SMALLFILE_DROP_MARK));
	close(box);
	close(sfd);

	/* the mark cannot be raised: the live merge removes the index all the
	 * same and says so; strict (mhafsck) leaves it */
	for (int strict = 0; strict <= 1; strict++) {
		mailbox(dir, strict ? "markfail-strict" : "markfail", &box, &sfd);
		blocker(sfd, SMALLFILE_DROP_MARK);
		memset(&s, 0, sizeof(s));
		s.sfd = -1;
		rc = uidlist_drop_index(box, sfd, strict ? UIDLIST_DROP_SYNC | UIDLIST_DROP_STRICT : 0,
					saw, &s);
		CHECK(rc < 0);
		CHECK_INT(s.n, strict ? 0 : 3);
		CHECK(exists(box, "dovecot.index") == strict && exists(box, "dovecot.index.cache") == strict);
		close(box);
		close(sfd);
	}

	/* a file that cannot be removed: the others still go; the error comes
	 * back; the second mark follows, but not when strict */
	for (int strict = 0; strict <= 1; strict++) {
		mailbox(dir, strict ? "rmfail-strict" : "rmfail", &box, &sfd);
		blocker(box, "dovecot.index.log.2");
		memset(&s, 0, sizeof(s));
		s.sfd = sfd;
		rc = uidlist_drop_index(box, sfd, strict ? UIDLIST_DROP_STRICT : 0, saw, &s);
		CHECK_INT(rc, -EISDIR);
		CHECK_INT(s.n, 3);
		CHECK(!exists(box, "dovecot.index.cache") && exists(box, "dovecot.index.log.2"));
		CHECK(s.mark[0] > 0);
		if (strict)
			CHECK(mark_of(sfd) == s.mark[2]);
		else
			CHECK(mark_of(sfd) > s.mark[2]);
		close(box);
		close(sfd);
	}
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	test_parse_format();
	test_merge_common_and_new();
	test_merge_above_next();
	test_merge_uidvalidity();
	test_merge_disagree_and_keep();
	test_merge_symmetric_absorbing();
	test_merge_uid_never_renamed();
	test_mutations();
	test_drop_index();
	return t_done("test_uidlist");
}
