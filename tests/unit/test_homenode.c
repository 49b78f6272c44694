/* test_homenode.c: the home-node map (lib/homenode.c).  Frozen hash
 * vectors (the Lua passdb script must give the same), the share of each
 * weight, that a departing node takes only its own users, case, the
 * fall-back when no node is up, and the nodes file parser's errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "homenode.h"
#include "tcheck.h"

static struct hn_node node(unsigned id, const char *name, unsigned w, enum hn_state s)
{
	struct hn_node n;
	memset(&n, 0, sizeof(n));
	n.id = id;
	snprintf(n.name, sizeof(n.name), "%s", name);
	snprintf(n.address, sizeof(n.address), "192.0.2.%u", 10 + id);
	n.weight = w;
	n.state = s;
	return n;
}

static void vectors(void)
{
	/* frozen: change them only with the Lua script (conf/mhafs-home.lua) */
	static const struct { const char *login; unsigned id; uint64_t h; } v[] = {
		{ "alice@d1.test", 1, 0xc1c9f53445bf3ac5ULL },
		{ "alice@d1.test", 2, 0x7731707c22fffac2ULL },
		{ "bob@d1.test", 1, 0x022897b3035a167cULL },
		{ "bob@d1.test", 2, 0x7308cb6a17a3a25fULL },
		{ "carol@d2.test", 1, 0x61d8fea47dea0ab1ULL },
		{ "carol@d2.test", 2, 0x299cdca441a4d080ULL },
		{ "alice@d1.test", 3, 0x31f3cfabb05b58f8ULL },
		{ "", 1, 0xd6a46123302a7b82ULL },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t h = homenode_hash(v[i].login, v[i].id);
		t_checks++;
		if (h != v[i].h) {
			t_failed++;
			fprintf(stderr, "FAIL: hash(%s, %u) = 0x%016llx, expected 0x%016llx\n", v[i].login,
				v[i].id, (unsigned long long)h, (unsigned long long)v[i].h);
		}
	}
	/* scores: -1/log(u), printed with %.17g */
	char buf[64];
	snprintf(buf, sizeof(buf), "%.17g", homenode_score(0xc1c9f53445bf3ac5ULL, 1));
	CHECK_STR(buf, "3.5918503738818979");
	snprintf(buf, sizeof(buf), "%.17g", homenode_score(0x7731707c22fffac2ULL, 2));
	CHECK_STR(buf, "2.6163203346667441");
	/* alice: n1 (3.59) beats n2 (1.31) at equal weights; bob: n2 */
	struct hn_node ns[2] = { node(1, "n1", 1, HN_UP), node(2, "n2", 1, HN_UP) };
	size_t idx = 9;
	CHECK_INT(homenode_pick(ns, 2, 1, "alice@d1.test", &idx), 0);
	CHECK_INT(idx, 0);
	CHECK_INT(homenode_pick(ns, 2, 1, "bob@d1.test", &idx), 0);
	CHECK_INT(idx, 1);
	/* the extremes: the lowest hash scores near 0; the highest rounds u
	 * to 1.0 (2^53 - 0.5 is not a double), log(u) = 0, score -inf: that
	 * node loses (Lua computes the same IEEE doubles) */
	double lo = homenode_score(0, 1), hi = homenode_score(~0ULL, 256);
	CHECK(lo > 0 && lo < 0.03);
	CHECK(hi < 0 && isinf(hi));
	CHECK(homenode_score(~0ULL - (1ULL << 12), 1) > 1e15);
}

static void case_insensitive(void)
{
	CHECK(homenode_hash("Alice@D1.Test", 7) == homenode_hash("alice@d1.test", 7));
	/* only ASCII A-Z folds: bytes >= 0x80 are kept */
	CHECK(homenode_hash("\xc3\x84x", 1) != homenode_hash("\xc3\xa4x", 1));
	CHECK(homenode_hash("a", 1) != homenode_hash("a", 2));
	CHECK(homenode_hash("a", 12) != homenode_hash("a1", 2)); /* the 0 byte separates */
}

static void shares(void)
{
	struct hn_node ns[2] = { node(1, "n1", 2, HN_UP), node(2, "n2", 1, HN_UP) };
	unsigned cnt[2] = { 0, 0 };
	char login[64];
	const unsigned N = 30000;
	for (unsigned i = 0; i < N; i++) {
		size_t idx;
		snprintf(login, sizeof(login), "user%u@example.test", i);
		if (homenode_pick(ns, 2, 1, login, &idx) == 0)
			cnt[idx]++;
	}
	double p1 = 100.0 * cnt[0] / N, p2 = 100.0 * cnt[1] / N;
	printf("# weights 2:1 over %u logins: n1 %.2f%%, n2 %.2f%%\n", N, p1, p2);
	CHECK(p1 > 66.667 - 1 && p1 < 66.667 + 1);
	CHECK(p2 > 33.333 - 1 && p2 < 33.333 + 1);
	CHECK_INT(cnt[0] + cnt[1], N);
}

/* Three nodes; n2 leaves (down, then drain): only n2's users move, and
 * they spread over the others; back up, everyone is home again. */
static void departure(void)
{
	struct hn_node ns[3] = { node(1, "n1", 3, HN_UP), node(2, "n2", 2, HN_UP), node(3, "n3", 1, HN_UP) };
	enum { N = 5000 };
	static size_t before[N];
	char login[64];
	for (unsigned i = 0; i < N; i++) {
		snprintf(login, sizeof(login), "u%u", i);
		CHECK_INT(homenode_pick(ns, 3, 1, login, &before[i]), 0);
	}
	for (int st = HN_DRAIN; st <= HN_DOWN; st++) {
		ns[1].state = (enum hn_state)st;
		unsigned moved = 0, wrong = 0, to[3] = { 0, 0, 0 };
		for (unsigned i = 0; i < N; i++) {
			size_t idx, nat;
			snprintf(login, sizeof(login), "u%u", i);
			homenode_pick(ns, 3, 1, login, &idx);
			homenode_pick_all(ns, 3, login, &nat);
			if (idx != before[i]) {
				moved++;
				to[idx]++;
				if (before[i] != 1)
					wrong++;
			}
			if (nat != before[i])
				wrong++;
		}
		CHECK_INT(wrong, 0);
		CHECK_INT(to[1], 0);
		CHECK(moved > N / 4 && to[0] > 0 && to[2] > 0);
	}
	ns[1].state = HN_UP;
	unsigned changed = 0;
	for (unsigned i = 0; i < N; i++) {
		size_t idx;
		snprintf(login, sizeof(login), "u%u", i);
		homenode_pick(ns, 3, 1, login, &idx);
		changed += idx != before[i];
	}
	CHECK_INT(changed, 0);
}

static void fallback(void)
{
	struct hn_node ns[2] = { node(1, "n1", 1, HN_DOWN), node(2, "n2", 1, HN_DRAIN) };
	size_t idx = 9;
	CHECK_INT(homenode_pick(ns, 2, 2, "alice@d1.test", &idx), 1);
	CHECK_INT(idx, 1);
	CHECK_INT(homenode_pick(ns, 2, 1, "alice@d1.test", &idx), 1);
	CHECK_INT(idx, 0);
	CHECK_INT(homenode_pick(ns, 2, 3, "alice@d1.test", &idx), -1);
	CHECK_INT(homenode_pick(ns, 0, 1, "alice@d1.test", &idx), -1);
	/* one node up: it serves everyone, never a drained or down one */
	ns[0].state = HN_UP;
	for (int i = 0; i < 200; i++) {
		char login[32];
		snprintf(login, sizeof(login), "x%d", i);
		CHECK_INT(homenode_pick(ns, 2, 2, login, &idx), 0);
		CHECK_INT(idx, 0);
	}
}

static void parse_ok(void)
{
	const char *txt = "# mhafs nodes file, written by heartbeatd: read by the Dovecot passdb script and mhactl user\n"
			  "self 2\n"
			  "node 1 n1 192.0.2.11 4 up\n"
			  "node 2 n2 2001:db8::12 256 drain\n";
	struct hn_table t;
	char err[256] = "";
	CHECK_INT(homenode_parse(txt, strlen(txt), "f", &t, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(t.self_id, 2);
	CHECK_INT(t.n, 2);
	CHECK_STR(t.nodes[1].address, "2001:db8::12");
	CHECK_INT(t.nodes[1].weight, 256);
	CHECK_INT(t.nodes[1].state, HN_DRAIN);
	CHECK_INT(homenode_find(&t, 1), 0);
	CHECK_INT(homenode_find(&t, 3), -1);
	char out[1024];
	CHECK_INT(homenode_format(&t, out, sizeof(out)), (long long)strlen(txt));
	CHECK_STR(out, txt);
	CHECK_INT(homenode_format(&t, out, 20), -1);
	CHECK_INT((long long)t.stamp, 0);
	/* a stamp round-trips, after self */
	const char *st = "# mhafs nodes file, written by heartbeatd: read by the Dovecot passdb script and mhactl user\n"
			 "self 1\nstamp 1796531097123456\nnode 1 n1 192.0.2.11 1 up\n";
	CHECK_INT(homenode_parse(st, strlen(st), "f", &t, err, sizeof(err)), 0);
	CHECK(t.stamp == 1796531097123456ULL);
	CHECK_INT(homenode_format(&t, out, sizeof(out)), (long long)strlen(st));
	CHECK_STR(out, st);
	CHECK_INT(homenode_parse(txt, strlen(txt), "f", &t, err, sizeof(err)), 0);
	/* last line without a newline is accepted */
	CHECK_INT(homenode_parse(txt, strlen(txt) - 1, "f", &t, err, sizeof(err)), 0);
	/* the file itself */
	char path[] = "/tmp/test_homenode.XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_INT(write(fd, txt, strlen(txt)), (long long)strlen(txt));
		close(fd);
		CHECK_INT(homenode_read(path, &t, err, sizeof(err)), 0);
		CHECK_INT(t.n, 2);
		unlink(path);
		CHECK_INT(homenode_read(path, &t, err, sizeof(err)), -1);
		CHECK_HAS(err, "No such file");
	}
}

static void parse_bad(void)
{
	static const struct { const char *txt, *msg; } v[] = {
		{ "self 1\nnode 1 a 192.0.2.1 1 up\nnode 2 b 192.0.2.2 1 sideways\n", "f:3: state 'sideways'" },
		{ "self 1\nnode 1 a 192.0.2.1 0 up\n", "f:2: weight '0' is not 1..256" },
		{ "self 1\nnode 1 a 192.0.2.1 257 up\n", "f:2: weight '257'" },
		{ "self 1\nnode 1 a 192.0.2.1 01 up\n", "f:2: weight '01'" },
		{ "self 1\nnode 01 a 192.0.2.1 1 up\n", "f:2: '01' is not a node id" },
		{ "self 1\nnode 0 a 192.0.2.1 1 up\n", "f:2: '0' is not a node id" },
		{ "self 1\nnode 65536 a 192.0.2.1 1 up\n", "f:2: '65536' is not a node id" },
		{ "self 1\nnode 1 a host.example 1 up\n", "f:2: 'host.example' is not an IPv4" },
		{ "self 1\nnode 1 a/b 192.0.2.1 1 up\n", "f:2: node name 'a/b'" },
		{ "self 1\nnode 1 a  192.0.2.1 1 up\n", "f:2: fields must be separated by single spaces" },
		{ "self 1\nnode 1 a 192.0.2.1 1 up \n", "f:2: fields must be separated" },
		{ "self 1\nnode 1 a 192.0.2.1 1\n", "f:2: expected 'node <id>" },
		{ "self 1\nnode 1 a 192.0.2.1 1 up extra\n", "f:2: expected 'node <id>" },
		{ "self 1\nnode\t1 a 192.0.2.1 1 up\n", "f:2: control character" },
		{ "self 1\r\nnode 1 a 192.0.2.1 1 up\n", "f:1: control character" },
		{ "self 1\n\nnode 1 a 192.0.2.1 1 up\n", "f:2: empty line" },
		{ "self 1\nnode 1 a 192.0.2.1 1 up\nnode 1 b 192.0.2.2 1 up\n", "f:3: node id 1 given twice" },
		{ "self 1\nnode 1 a 192.0.2.1 1 up\nnode 2 a 192.0.2.2 1 up\n", "f:3: node name a given twice" },
		{ "self 1\nself 1\nnode 1 a 192.0.2.1 1 up\n", "f:2: 'self' given twice" },
		{ "self x\nnode 1 a 192.0.2.1 1 up\n", "f:1: self: 'x'" },
		{ "self\n", "f:1: expected 'self <id>'" },
		{ "nodes 1 a 192.0.2.1 1 up\n", "f:1: unknown record 'nodes' (expected self, stamp or node)" },
		{ "node 1 a 192.0.2.1 1 up\n", "f: no 'self' line" },
		{ "self 3\nnode 1 a 192.0.2.1 1 up\n", "f: self 3 is not one of the node lines" },
		{ "", "f: no 'self' line" },
		{ "self 1\nstamp 0\nnode 1 a 192.0.2.1 1 up\n", "f:2: expected 'stamp <1..2^63-1>'" },
		{ "self 1\nstamp 012\nnode 1 a 192.0.2.1 1 up\n", "f:2: expected 'stamp" },
		{ "self 1\nstamp 9223372036854775808\nnode 1 a 192.0.2.1 1 up\n", "f:2: expected 'stamp" },
		{ "self 1\nstamp -1\nnode 1 a 192.0.2.1 1 up\n", "f:2: expected 'stamp" },
		{ "self 1\nstamp 5 6\nnode 1 a 192.0.2.1 1 up\n", "f:2: expected 'stamp" },
		{ "self 1\nstamp 5\nstamp 5\nnode 1 a 192.0.2.1 1 up\n", "f:3: 'stamp' given twice" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct hn_table t;
		char err[256] = "";
		t_checks++;
		if (homenode_parse(v[i].txt, strlen(v[i].txt), "f", &t, err, sizeof(err)) != -1) {
			t_failed++;
			fprintf(stderr, "FAIL: case %zu accepted\n", i);
			continue;
		}
		CHECK_HAS(err, v[i].msg);
	}
	/* a NUL inside a line */
	struct hn_table t;
	char err[256] = "";
	CHECK_INT(homenode_parse("self 1\nno\0de", 12, "f", &t, err, sizeof(err)), -1);
	CHECK_HAS(err, "f:2: NUL byte");
	/* too many nodes */
	char big[4096];
	size_t off = (size_t)snprintf(big, sizeof(big), "self 1\n");
	for (unsigned i = 1; i <= HN_MAX_NODES + 1; i++)
		off += (size_t)snprintf(big + off, sizeof(big) - off, "node %u n%u 192.0.2.%u 1 up\n", i, i, i);
	CHECK_INT(homenode_parse(big, off, "f", &t, err, sizeof(err)), -1);
	CHECK_HAS(err, "more than 16 nodes");
}

int main(void)
{
	vectors();
	case_insensitive();
	shares();
	departure();
	fallback();
	parse_ok();
	parse_bad();
	return t_done("test_homenode");
}
