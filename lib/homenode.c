/* homenode.c: the weighted rendezvous hash that gives each login its home
 * node, and the strict parser and writer of the nodes file (homenode.h
 * states the algorithm and the format; the Lua passdb script follows
 * them bit for bit). */
#include "homenode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define TWO_53 9007199254740992.0

static uint64_t fnv_byte(uint64_t h, unsigned char c)
{
	return (h ^ c) * FNV_PRIME;
}

uint64_t homenode_hash(const char *login, unsigned node_id)
{
	uint64_t h = FNV_OFFSET;
	for (const unsigned char *p = (const unsigned char *)login; *p; p++)
		h = fnv_byte(h, (unsigned char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
	h = fnv_byte(h, 0);
	char id[16];
	int n = snprintf(id, sizeof(id), "%u", node_id);
	for (int i = 0; i < n; i++)
		h = fnv_byte(h, (unsigned char)id[i]);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

double homenode_score(uint64_t hash, unsigned weight)
{
	double u = ((double)(hash >> 11) + 0.5) / TWO_53;
	return -(double)weight / log(u);
}

/* The best of nodes[0..n) (all, or only those up); -1 if none counts. */
static long best(const struct hn_node *nodes, size_t n, const char *login, int only_up)
{
	long bi = -1;
	double bs = 0;
	for (size_t i = 0; i < n; i++) {
		if (only_up && nodes[i].state != HN_UP)
			continue;
		double s = homenode_score(homenode_hash(login, nodes[i].id), nodes[i].weight);
		if (bi < 0 || s > bs || (s == bs && nodes[i].id < nodes[bi].id)) {
			bi = (long)i;
			bs = s;
		}
	}
	return bi;
}

int homenode_pick(const struct hn_node *nodes, size_t n, unsigned self_id, const char *login,
		  size_t *idx_out)
{
	long b = best(nodes, n, login, 1);
	if (b >= 0) {
		*idx_out = (size_t)b;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (nodes[i].id == self_id) {
			*idx_out = i;
			return 1;
		}
	return -1;
}

int homenode_pick_all(const struct hn_node *nodes, size_t n, const char *login, size_t *idx_out)
{
	long b = best(nodes, n, login, 0);
	if (b < 0)
		return -1;
	*idx_out = (size_t)b;
	return 0;
}

static const char *const state_names[] = { [HN_UP] = "up", [HN_DRAIN] = "drain", [HN_DOWN] = "down" };

const char *hn_state_name(enum hn_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

int hn_state_parse(const char *s, enum hn_state *out)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (!strcmp(s, state_names[i])) {
			*out = (enum hn_state)i;
			return 0;
		}
	return -1;
}

int homenode_find(const struct hn_table *t, unsigned id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->nodes[i].id == id)
			return (int)i;
	return -1;
}

/* ---- the file ---- */

static int failf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Decimal lo..hi without sign, leading zeros or anything after. */
static int parse_num(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned long v = 0;
	if (!*s || (s[0] == '0' && s[1]) || strlen(s) > 5)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n >= HN_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int addr_ok(const char *s)
{
	unsigned char b[16];
	return strlen(s) < HN_ADDR_MAX && (inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1);
}

/* Split line on single spaces into at most max fields; the count, or -1
 * on an empty field (two spaces, or one at either end). */
static int split(char *line, char **f, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		char *sp = strchr(p, ' ');
		if (sp)
			*sp = '\0';
		if (!*p || n == max)
			return -1;
		f[n++] = p;
		if (!sp)
			return n;
		p = sp + 1;
	}
}

static int parse_line(char *line, const char *name, unsigned ln, struct hn_table *t, int *self_seen,
		      char *err, size_t errlen)
{
	char *f[7];
	int nf = split(line, f, 7);
	if (nf < 0)
		return failf(err, errlen, "%s:%u: fields must be separated by single spaces", name, ln);
	if (!strcmp(f[0], "self")) {
		if (nf != 2)
			return failf(err, errlen, "%s:%u: expected 'self <id>'", name, ln);
		if (*self_seen)
			return failf(err, errlen, "%s:%u: 'self' given twice", name, ln);
		if (parse_num(f[1], 1, 65535, &t->self_id) < 0)
			return failf(err, errlen, "%s:%u: self: '%s' is not a node id (1..65535)", name, ln, f[1]);
		*self_seen = 1;
		return 0;
	}
	if (!strcmp(f[0], "stamp")) {
		char *end;
		errno = 0;
		unsigned long long v = nf == 2 && f[1][0] >= '1' && f[1][0] <= '9' ? strtoull(f[1], &end, 10) : 0;
		if (nf != 2 || !v || errno || *end || v > INT64_MAX)
			return failf(err, errlen, "%s:%u: expected 'stamp <1..2^63-1>'", name, ln);
		if (t->stamp)
			return failf(err, errlen, "%s:%u: 'stamp' given twice", name, ln);
		t->stamp = v;
		return 0;
	}
	if (strcmp(f[0], "node"))
		return failf(err, errlen, "%s:%u: unknown record '%.32s' (expected self, stamp or node)", name, ln, f[0]);
	if (nf != 6)
		return failf(err, errlen, "%s:%u: expected 'node <id> <name> <address> <weight> <state>'", name, ln);
	if (t->n >= HN_MAX_NODES)
		return failf(err, errlen, "%s:%u: more than %d nodes", name, ln, HN_MAX_NODES);
	struct hn_node *nd = &t->nodes[t->n];
	memset(nd, 0, sizeof(*nd));
	if (parse_num(f[1], 1, 65535, &nd->id) < 0)
		return failf(err, errlen, "%s:%u: '%s' is not a node id (1..65535)", name, ln, f[1]);
	if (!name_ok(f[2]))
		return failf(err, errlen, "%s:%u: node name '%.64s' is not 1 to 63 of A-Z a-z 0-9 . _ -", name, ln, f[2]);
	if (!addr_ok(f[3]))
		return failf(err, errlen, "%s:%u: '%.64s' is not an IPv4 or IPv6 address", name, ln, f[3]);
	if (parse_num(f[4], 1, HN_WEIGHT_MAX, &nd->weight) < 0)
		return failf(err, errlen, "%s:%u: weight '%s' is not 1..%d", name, ln, f[4], HN_WEIGHT_MAX);
	if (hn_state_parse(f[5], &nd->state) < 0)
		return failf(err, errlen, "%s:%u: state '%.32s' is not up, drain or down", name, ln, f[5]);
	for (size_t i = 0; i < t->n; i++) {
		if (t->nodes[i].id == nd->id)
			return failf(err, errlen, "%s:%u: node id %u given twice", name, ln, nd->id);
		if (!strcmp(t->nodes[i].name, f[2]))
			return failf(err, errlen, "%s:%u: node name %s given twice", name, ln, f[2]);
	}
	snprintf(nd->name, sizeof(nd->name), "%s", f[2]);
	snprintf(nd->address, sizeof(nd->address), "%s", f[3]);
	t->n++;
	return 0;
}

int homenode_parse(const char *buf, size_t len, const char *name, struct hn_table *t, char *err,
		   size_t errlen)
{
	char line[HN_LINE_MAX];
	unsigned ln = 0;
	int self_seen = 0;
	memset(t, 0, sizeof(*t));
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (buf + off)) : len - off;
		ln++;
		if (l >= sizeof(line))
			return failf(err, errlen, "%s:%u: line too long", name, ln);
		if (memchr(buf + off, '\0', l))
			return failf(err, errlen, "%s:%u: NUL byte", name, ln);
		memcpy(line, buf + off, l);
		line[l] = '\0';
		off += l + (nl ? 1 : 0);
		if (line[0] == '#')
			continue;
		if (!line[0])
			return failf(err, errlen, "%s:%u: empty line", name, ln);
		if (strchr(line, '\r') || strchr(line, '\t'))
			return failf(err, errlen, "%s:%u: control character (fields are separated by one space)", name, ln);
		if (parse_line(line, name, ln, t, &self_seen, err, errlen) < 0)
			return -1;
	}
	if (!self_seen)
		return failf(err, errlen, "%s: no 'self' line", name);
	if (homenode_find(t, t->self_id) < 0)
		return failf(err, errlen, "%s: self %u is not one of the node lines", name, t->self_id);
	return 0;
}

int homenode_read(const char *path, struct hn_table *t, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return failf(err, errlen, "%s: %s", path, strerror(errno));
	char buf[HN_LINE_MAX * (HN_MAX_NODES + 8)];
	size_t n = fread(buf, 1, sizeof(buf), f);
	int bad = ferror(f), more = !bad && fgetc(f) != EOF;
	fclose(f);
	if (bad)
		return failf(err, errlen, "%s: read error", path);
	if (more)
		return failf(err, errlen, "%s: too large for a nodes file", path);
	return homenode_parse(buf, n, path, t, err, errlen);
}

int homenode_format(const struct hn_table *t, char *buf, size_t len)
{
	size_t off = 0;
	int n = snprintf(buf, len, "# mhafs nodes file, written by heartbeatd: read by the Dovecot "
			 "passdb script and mhactl user\nself %u\n", t->self_id);
	if (n < 0 || (size_t)n >= len)
		return -1;
	off = (size_t)n;
	if (t->stamp) {
		n = snprintf(buf + off, len - off, "stamp %" PRIu64 "\n", t->stamp);
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct hn_node *nd = &t->nodes[i];
		n = snprintf(buf + off, len - off, "node %u %s %s %u %s\n", nd->id, nd->name, nd->address,
			     nd->weight, hn_state_name(nd->state));
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	return (int)off;
}

unsigned homenode_sessions(const struct hn_table *t, const char *sessions_dir, const char *key)
{
	char path[4400];
	unsigned mask = 0;
	if (!sessions_dir || !sessions_dir[0] || !key[0] || strchr(key, '/') || key[0] == '.')
		return 0;
	for (size_t i = 0; i < t->n && i < HN_MAX_NODES; i++) {
		if (t->nodes[i].state == HN_DOWN)
			continue;
		int n = snprintf(path, sizeof(path), "%s/%s/%s", sessions_dir, t->nodes[i].name, key);
		if (n > 0 && (size_t)n < sizeof(path) && access(path, F_OK) == 0)
			mask |= 1u << i;
	}
	return mask;
}

size_t homenode_serving(unsigned sessions, size_t home)
{
	if (sessions == 0 || (sessions & (sessions - 1)) != 0)
		return home;
	return (size_t)__builtin_ctz(sessions);
}
