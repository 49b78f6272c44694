/* wire_tree.c: the reconciliation frames' fields (see wire.h): the checks
 * of TREE_REQ and TREE_RESP that wire.c's encoder and decoder call, and
 * the items of a TREE_RESP body (bucket digests, catalog rows), written
 * and read back here and nowhere else. */
#include "wire.h"
#include "wire_tree_int.h"
#include "byteorder.h"

#include <string.h>

static int tree_node_ok(uint16_t node)
{
	unsigned level = node >> 12, prefix = node & 0xfffu;
	return level <= 3 && prefix < (1u << (4 * level));
}

/* One path component or entry name: 1..255 bytes, no '/' or NUL, not
 * "." or "..". */
static int check_tree_name(const uint8_t *s, size_t n)
{
	if (n == 0 || n > WIRE_TREE_NAME_MAX)
		return n ? WIRE_ESTRLEN : WIRE_EFIELD;
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return WIRE_EFIELD;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == 0)
			return WIRE_EFIELD;
	return 0;
}

/* "" or name/name/...: never absolute, never "..", never an empty part. */
static int check_tree_dir(const uint8_t *s, size_t n)
{
	size_t start = 0;
	if (n > WIRE_TREE_DIR_MAX)
		return WIRE_ESTRLEN;
	if (n == 0)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '/') {
			int rc = check_tree_name(s + start, i - start);
			if (rc)
				return rc == WIRE_ESTRLEN ? WIRE_EFIELD : rc;
			start = i + 1;
		}
	}
	return 0;
}

int wire_tree_check_req(const struct wire_tree_req *m)
{
	int rc;
	if (!tree_node_ok(m->node) || (m->flags & ~WIRE_TREE_F_ENTRIES))
		return WIRE_EFIELD;
	if ((m->dir_len && !m->dir) || (m->after_len && !m->after))
		return WIRE_EINVAL;
	if ((rc = check_tree_dir((const uint8_t *)m->dir, m->dir_len)))
		return rc;
	if (m->after_len && (rc = check_tree_name((const uint8_t *)m->after, m->after_len)))
		return rc;
	return 0;
}

static int kind_matches(char kind, uint32_t mode)
{
	static const struct { char k; uint32_t t; } kinds[] = {
		{ 'd', 0040000 }, { 'f', 0100000 }, { 'l', 0120000 }, { 'c', 0020000 },
		{ 'b', 0060000 }, { 'p', 0010000 }, { 's', 0140000 },
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].k == kind)
			return (mode & 0170000) == kinds[i].t ? 1 : 0;
	return -1;
}

static int check_tree_entry(const struct wire_tree_entry *e, size_t name_len)
{
	int rc, km = kind_matches(e->kind, e->mode);
	if ((rc = check_tree_name((const uint8_t *)e->name, name_len)))
		return rc;
	if (km < 0 || (e->flags & ~(WIRE_TE_DELETED | WIRE_TE_HASH | WIRE_TE_SUB)))
		return WIRE_EFIELD;
	if (!(e->flags & WIRE_TE_DELETED) && !km)
		return WIRE_EFIELD;
	if ((e->flags & WIRE_TE_SUB) &&
	    (e->kind != 'd' || (e->flags & WIRE_TE_DELETED) || e->sub_nchild > e->sub_count))
		return WIRE_EFIELD;
	return 0;
}

#define TREE_BUCKET_LEN 25


long wire_tree_put_bucket(uint8_t *buf, size_t cap, const struct wire_tree_bucket *b)
{
	if (b->idx > 15 || b->count == 0)
		return WIRE_EFIELD;
	if (!buf || cap < TREE_BUCKET_LEN)
		return WIRE_ESPACE;
	buf[0] = b->idx;
	memcpy(buf + 1, b->digest, 16);
	put64(buf + 17, b->count);
	return TREE_BUCKET_LEN;
}

long wire_tree_put_entry(uint8_t *buf, size_t cap, const struct wire_tree_entry *e)
{
	size_t n = strnlen(e->name, WIRE_TREE_NAME_MAX + 1), len;
	int rc = check_tree_entry(e, n);
	if (rc)
		return rc;
	len = 1 + n + 2 + 4 + 8 + 8 + 8 + 2 + (e->flags & WIRE_TE_HASH ? 16 : 0) +
	      (e->flags & WIRE_TE_SUB ? 32 : 0);
	if (!buf || cap < len)
		return WIRE_ESPACE;
	uint8_t *p = buf;
	*p++ = (uint8_t)n;
	memcpy(p, e->name, n);
	p += n;
	*p++ = (uint8_t)e->kind;
	*p++ = e->flags;
	put32(p, e->mode);
	put64(p + 4, (uint64_t)e->size);
	put64(p + 12, (uint64_t)e->mtime_ns);
	put64(p + 20, e->hlc);
	put16(p + 28, e->origin);
	p += 30;
	if (e->flags & WIRE_TE_HASH) {
		memcpy(p, e->hash, 16);
		p += 16;
	}
	if (e->flags & WIRE_TE_SUB) {
		memcpy(p, e->sub_digest, 16);
		put64(p + 16, e->sub_count);
		put64(p + 24, e->sub_nchild);
		p += 32;
	}
	return (long)(p - buf);
}

/* ---- TREE_RESP bodies ---- */

static int rd_bucket(struct rd *r, struct wire_tree_bucket *b)
{
	if (need(r, TREE_BUCKET_LEN))
		return WIRE_ETRUNC;
	const uint8_t *p = take(r, TREE_BUCKET_LEN);
	b->idx = p[0];
	memcpy(b->digest, p + 1, 16);
	b->count = get64(p + 17);
	return (b->idx > 15 || b->count == 0) ? WIRE_EFIELD : 0;
}

static int rd_entry(struct rd *r, struct wire_tree_entry *e, size_t *name_len)
{
	uint8_t n;
	if (need(r, 1))
		return WIRE_ETRUNC;
	n = *take(r, 1);
	if (need(r, (size_t)n + 32))
		return WIRE_ETRUNC;
	memcpy(e->name, take(r, n), n);
	e->name[n] = '\0';
	*name_len = n;
	const uint8_t *p = take(r, 32);
	e->kind = (char)p[0];
	e->flags = p[1];
	e->mode = get32(p + 2);
	e->size = (int64_t)get64(p + 6);
	e->mtime_ns = (int64_t)get64(p + 14);
	e->hlc = get64(p + 22);
	e->origin = get16(p + 30);
	memset(e->hash, 0, 16);
	memset(e->sub_digest, 0, 16);
	e->sub_count = e->sub_nchild = 0;
	if (e->flags & WIRE_TE_HASH) {
		if (need(r, 16))
			return WIRE_ETRUNC;
		memcpy(e->hash, take(r, 16), 16);
	}
	if (e->flags & WIRE_TE_SUB) {
		if (need(r, 32))
			return WIRE_ETRUNC;
		memcpy(e->sub_digest, take(r, 16), 16);
		e->sub_count = get64(take(r, 8));
		e->sub_nchild = get64(take(r, 8));
	}
	return check_tree_entry(e, n);
}

/* Names in strictly increasing byte order (as the catalog sorts paths). */
static int name_before(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c < 0 || (c == 0 && an < bn);
}

int wire_tree_check_resp(const struct wire_tree_resp *m)
{
	struct rd r = { m->body, m->body_len };
	int entries = (m->flags & WIRE_TREE_F_ENTRIES) != 0, rc;
	if (!tree_node_ok(m->node) || (m->flags & ~(WIRE_TREE_F_ENTRIES | WIRE_TREE_F_MORE)) ||
	    ((m->flags & WIRE_TREE_F_MORE) && !entries))
		return WIRE_EFIELD;
	if (!entries && (m->n > 16 || (m->n && (m->node >> 12) == 3)))
		return WIRE_EFIELD;
	if (m->nchild > m->count || (m->nchild && m->node != 0))
		return WIRE_EFIELD;
	static __thread struct wire_tree_entry prev, cur;
	size_t prev_len = 0, cur_len;
	int last_idx = -1;
	for (unsigned i = 0; i < m->n; i++) {
		if (entries) {
			if ((rc = rd_entry(&r, &cur, &cur_len)))
				return rc;
			if (i > 0 && !name_before(prev.name, prev_len, cur.name, cur_len))
				return WIRE_EFIELD;
			memcpy(prev.name, cur.name, cur_len + 1);
			prev_len = cur_len;
		} else {
			struct wire_tree_bucket b;
			if ((rc = rd_bucket(&r, &b)))
				return rc;
			if ((int)b.idx <= last_idx)
				return WIRE_EFIELD;
			last_idx = b.idx;
		}
	}
	return r.left ? WIRE_ETRAILING : 0;
}

int wire_tree_next_bucket(const struct wire_tree_resp *m, size_t *pos, struct wire_tree_bucket *b)
{
	if ((m->flags & WIRE_TREE_F_ENTRIES) || *pos > m->body_len)
		return WIRE_EINVAL;
	if (*pos == m->body_len)
		return 0;
	struct rd r = { m->body + *pos, m->body_len - *pos };
	int rc = rd_bucket(&r, b);
	if (rc)
		return rc;
	*pos = m->body_len - r.left;
	return 1;
}

int wire_tree_next_entry(const struct wire_tree_resp *m, size_t *pos, struct wire_tree_entry *e)
{
	size_t n;
	if (!(m->flags & WIRE_TREE_F_ENTRIES) || *pos > m->body_len)
		return WIRE_EINVAL;
	if (*pos == m->body_len)
		return 0;
	struct rd r = { m->body + *pos, m->body_len - *pos };
	int rc = rd_entry(&r, e, &n);
	if (rc)
		return rc;
	*pos = m->body_len - r.left;
	return 1;
}

