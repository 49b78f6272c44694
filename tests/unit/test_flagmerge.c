/* test_flagmerge.c: mhafs/flagmerge.c: Maildir flag names, the stamps'
 * codec, the per-flag merge in the cases issue 19 names and their mirror
 * images, and a simulation of two nodes that change one message's flags
 * while apart and then meet each other's changes in random orders, as the
 * live apply path does: they must end equal, with every flag at its latest
 * change. */
#include "flagmerge.h"
#include "tcheck.h"

#include <stdlib.h>

static uint64_t F(const char *letters)
{
	uint64_t m;
	char name[80];
	snprintf(name, sizeof(name), "1.M1P1.h:2,%s", letters);
	if (!mflags_parse(name, &m))
		return ~0ULL;
	return m;
}

static void test_names(void)
{
	uint64_t m;
	char out[128];
	CHECK(mflags_parse("1.M1P1.h,S=10,W=12", &m) && m == 0);
	CHECK(mflags_parse("1.M1P1.h:2,", &m) && m == 0);
	CHECK(mflags_parse("1.M1P1.h:2,SF", &m) && m == F("FS"));
	CHECK(mflags_parse("1.M1P1.h:2,Sab", &m) && m == (F("S") | F("a") | F("b")));
	CHECK(!mflags_parse("1.M1P1.h:1,experimental", &m));
	CHECK(!mflags_parse("1.M1P1.h:2,S,x", &m));
	CHECK(!mflags_parse("1.M1P1.h:2,S1", &m));
	CHECK_INT(mflags_name("1.M1P1.h,S=10:2,S", F("zSFa"), out, sizeof(out)), 0);
	CHECK_STR(out, "1.M1P1.h,S=10:2,FSaz");
	CHECK_INT(mflags_name("1.M1P1.h", 0, out, sizeof(out)), 0);
	CHECK_STR(out, "1.M1P1.h:2,");
	CHECK_INT(mflags_name("1.M1P1.h", F("S"), out, 8), -1);
}

static void test_codec(void)
{
	struct fregs r = { 0 }, d;
	uint8_t buf[FREGS_MAX_BYTES];
	struct fstamp s1 = { 0x1122334455667788ULL, 2 }, s0 = { 5, 1 };
	fregs_note(&r, F("S"), F("Fa"), &s1);
	CHECK_INT(__builtin_popcountll(r.known), 3);
	fregs_note(&r, 0, F("S"), &s0); /* older: S keeps s1 */
	CHECK(r.st[18].hlc == s1.hlc);
	size_t n = fregs_encode(&r, buf, sizeof(buf));
	CHECK_INT(n, 33);
	CHECK_INT(fregs_decode(buf, n, &d), 0);
	CHECK(d.known == r.known && d.st[5].hlc == s1.hlc && d.st[5].node == 2);
	CHECK_INT(fregs_decode(buf, n - 1, &d), -1);
	buf[0] = '#';
	CHECK_INT(fregs_decode(buf, n, &d), -1);
	CHECK(d.known == 0);
	buf[0] = buf[11]; /* the same letter twice */
	CHECK_INT(fregs_decode(buf, n, &d), -1);
	CHECK_INT(fregs_encode(&r, buf, 20), 0);
	struct fregs none = { 0 };
	CHECK_INT(fregs_encode(&none, buf, sizeof(buf)), 0);
}

/* One node's view of the message: flags, their stamps, last change. */
struct node {
	uint64_t mask;
	struct fregs regs;
	struct fstamp last;
};

struct change {
	uint64_t src, dst;
	struct fstamp s;
};

static void local_change(struct node *n, struct change *c, uint64_t to, uint64_t hlc, uint16_t id)
{
	c->src = n->mask;
	c->dst = to;
	c->s = (struct fstamp){ hlc, id };
	fregs_note(&n->regs, n->mask, to, &c->s);
	n->mask = to;
	n->last = c->s;
}

/* What apply.c does with a peer's flag rename, and what the catalog then
 * records of it. */
static void meet(struct node *n, const struct change *c)
{
	uint64_t m = merge_flags_change(n->mask, &n->regs, &n->last, c->src, c->dst, &c->s);
	if (m != n->mask) {
		fregs_note(&n->regs, n->mask, m, &c->s);
		n->mask = m;
		if (fstamp_cmp(&c->s, &n->last) > 0)
			n->last = c->s;
	}
}

/* Both nodes start at base; node 1 makes change to1 at hlc h1, node 2 to2
 * at h2; each meets the other's.  Both must end at want. */
static void pair(const char *base, const char *to1, uint64_t h1, const char *to2, uint64_t h2,
		 const char *want)
{
	struct node a = { F(base), { 0 }, { 1, 1 } }, b = a;
	struct change ca, cb;
	local_change(&a, &ca, F(to1), h1, 1);
	local_change(&b, &cb, F(to2), h2, 2);
	meet(&a, &cb);
	meet(&b, &ca);
	if (a.mask != F(want) || b.mask != F(want)) {
		t_failed++;
		fprintf(stderr, "FAIL: base %s, node 1 -> %s at %llu, node 2 -> %s at %llu: "
			"node 1 %llx, node 2 %llx, want %llx\n", base, to1, (unsigned long long)h1,
			to2, (unsigned long long)h2, (unsigned long long)a.mask,
			(unsigned long long)b.mask, (unsigned long long)F(want));
	}
	t_checks++;
}

static void test_cases(void)
{
	/* +\Seen here, +\Flagged there: both, whichever was later */
	pair("", "S", 10, "F", 20, "FS");
	pair("", "S", 20, "F", 10, "FS");
	pair("", "F", 10, "S", 20, "FS"); /* mirror: the nodes swapped */
	/* -\Seen here, +\Flagged there: \Flagged */
	pair("S", "", 10, "FS", 20, "F");
	pair("S", "", 20, "FS", 10, "F");
	pair("S", "FS", 10, "", 20, "F");
	/* one flag set here and cleared there: the later change */
	pair("", "S", 10, "S", 20, "S");  /* the same change on both */
	pair("S", "", 10, "FS", 20, "F");
	pair("T", "", 10, "ST", 20, "S");
	/* keywords merge the same way */
	pair("S", "Sa", 10, "Sb", 20, "Sab");
	pair("Sab", "Sb", 20, "Sabc", 10, "Sbc");
	/* unchanged on one side: the other side's change */
	pair("S", "S", 10, "FRS", 20, "FRS");
	pair("RS", "FRS", 10, "RS", 20, "FRS");
	/* ties on HLC: the node id decides, the same on both nodes */
	struct node a = { F("S"), { 0 }, { 1, 1 } }, b = a;
	struct change ca, cb, ca2, cb2;
	local_change(&a, &ca, F(""), 10, 1);   /* node 1 clears \Seen */
	local_change(&b, &cb, F("FS"), 5, 2);  /* node 2 flags it */
	local_change(&b, &cb2, F("F"), 10, 2); /* then clears \Seen too, same HLC */
	local_change(&a, &ca2, F("S"), 11, 1); /* node 1 sets \Seen again, later */
	meet(&a, &cb);
	meet(&a, &cb2);
	meet(&b, &ca);
	meet(&b, &ca2);
	CHECK(a.mask == F("FS") && b.mask == F("FS"));
}

/* Random changes on two nodes while apart; each node meets the other's
 * changes in order (the journal's order), interleaved with its own at
 * random.  Both end equal, every flag at its latest change. */
static void test_simulation(void)
{
	unsigned seed = 19;
	for (int round = 0; round < 2000; round++) {
		uint64_t start = (uint64_t)rand_r(&seed) & F("DFRSTab");
		struct node n[2] = { { start, { 0 }, { 1, 1 } }, { start, { 0 }, { 1, 1 } } };
		struct change ch[2][8];
		int nch[2] = { 0, 0 }, met[2] = { 0, 0 };
		uint64_t latest_val = start, hlc = 2;
		/* each node's own changes, in HLC order across the pair */
		int total = 2 + rand_r(&seed) % 12;
		for (int k = 0; k < total; k++) {
			int who = rand_r(&seed) % 2;
			if (nch[who] == 8)
				who = !who;
			uint64_t flip = ((uint64_t)rand_r(&seed) & F("DFRSTab"));
			if (!flip)
				flip = F("S");
			/* with the peer's changes met at random points too */
			while (met[who] < nch[!who] && rand_r(&seed) % 2)
				meet(&n[who], &ch[!who][met[who]++]);
			local_change(&n[who], &ch[who][nch[who]++], n[who].mask ^ flip, hlc,
				     (uint16_t)(who + 1));
			for (int i = 0; i < MFLAG_N; i++)
				if ((flip >> i) & 1) /* the latest change of flag i */
					latest_val = (latest_val & ~(1ULL << i)) |
						     (n[who].mask & (1ULL << i));
			hlc += 1 + rand_r(&seed) % 3;
		}
		for (int w = 0; w < 2; w++)
			while (met[w] < nch[!w])
				meet(&n[w], &ch[!w][met[w]++]);
		t_checks++;
		if (n[0].mask != n[1].mask || n[0].mask != latest_val) {
			t_failed++;
			fprintf(stderr, "FAIL: round %d: node 1 %llx, node 2 %llx, latest changes %llx\n",
				round, (unsigned long long)n[0].mask, (unsigned long long)n[1].mask,
				(unsigned long long)latest_val);
		}
	}
}

int main(void)
{
	test_names();
	test_codec();
	test_cases();
	test_simulation();
	return t_done("test_flagmerge");
}
