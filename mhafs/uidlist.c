/* uidlist.c: parse, merge and write Dovecot's dovecot-uidlist (see
 * uidlist.h for the format and the merge rules), and remove the Dovecot
 * index beside it once a merge moved its UIDs. */
#include "uidlist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "smallfile.h"

void uidlist_free(struct uidlist *u)
{
	for (size_t i = 0; i < u->n; i++) {
		free(u->rec[i].ext);
		free(u->rec[i].base);
	}
	free(u->rec);
	free(u->hdr_ext);
	memset(u, 0, sizeof(*u));
}

static int add_rec(struct uidlist *u, uint32_t uid, const char *ext, size_t extlen,
		   const char *base, size_t baselen)
{
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 64;
		struct uidlist_rec *r = realloc(u->rec, cap * sizeof(*r));
		if (!r)
			return -1;
		u->rec = r;
		u->cap = cap;
	}
	struct uidlist_rec *r = &u->rec[u->n];
	r->uid = uid;
	r->ext = extlen ? strndup(ext, extlen) : NULL;
	r->base = strndup(base, baselen);
	if (!r->base || (extlen && !r->ext)) {
		free(r->ext);
		free(r->base);
		return -1;
	}
	u->n++;
	return 0;
}

/* Decimal 1..2^32-2 at *p, advancing it; 0 when there is none. */
static uint32_t read_uint(const char **p, const char *end)
{
	uint64_t v = 0;
	const char *s = *p;
	while (s < end && *s >= '0' && *s <= '9' && v < UINT32_MAX)
		v = v * 10 + (uint64_t)(*s++ - '0');
	if (s == *p || v >= UINT32_MAX || (s < end && *s >= '0' && *s <= '9'))
		return 0;
	*p = s;
	return (uint32_t)v;
}

static int append_field(char **dst, const char *f, size_t len)
{
	size_t old = *dst ? strlen(*dst) : 0;
	char *n = realloc(*dst, old + len + 2);
	if (!n)
		return -1;
	if (old)
		n[old++] = ' ';
	memcpy(n + old, f, len);
	n[old + len] = '\0';
	*dst = n;
	return 0;
}

static int is_hex32(const char *s, size_t len)
{
	if (len != 32)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

static int parse_header(const char *p, const char *end, struct uidlist *u, int *version,
			char *err, size_t errlen)
{
	if (end - p < 2 || (p[0] != '1' && p[0] != '3') || p[1] != ' ') {
		seterr(err, errlen, "line 1: not a version 1 or 3 header");
		return -1;
	}
	*version = p[0] - '0';
	p += 2;
	if (*version == 1) {
		u->uidvalidity = read_uint(&p, end);
		if (p < end && *p == ' ')
			p++;
		u->nextuid = read_uint(&p, end);
	} else {
		while (p < end) {
			const char *f = p;
			while (p < end && *p != ' ')
				p++;
			const char *v = f + 1;
			size_t vlen = (size_t)(p - v);
			if (*f == 'V' || *f == 'N') {
				const char *q = v;
				uint32_t x = read_uint(&q, p);
				if (q != p) {
					seterr(err, errlen, "line 1: bad %c field", *f);
					return -1;
				}
				if (*f == 'V')
					u->uidvalidity = x;
				else
					u->nextuid = x;
			} else if (*f == 'G') {
				if (!is_hex32(v, vlen)) {
					seterr(err, errlen, "line 1: bad mailbox GUID");
					return -1;
				}
				memcpy(u->guid, v, 32);
				u->guid[32] = '\0';
			} else if (append_field(&u->hdr_ext, f, (size_t)(p - f)) < 0) {
				seterr(err, errlen, "out of memory");
				return -1;
			}
			while (p < end && *p == ' ')
				p++;
		}
	}
	if (!u->uidvalidity || !u->nextuid) {
		seterr(err, errlen, "line 1: UIDVALIDITY or next UID missing or zero");
		return -1;
	}
	return 0;
}

static int parse_record(const char *p, const char *end, int version, uint32_t prev,
			struct uidlist *u, unsigned line, char *err, size_t errlen)
{
	uint32_t uid = read_uint(&p, end);
	if (!uid || p >= end || *p != ' ') {
		seterr(err, errlen, "line %u: bad UID", line);
		return -1;
	}
	if (uid <= prev) {
		seterr(err, errlen, "line %u: UIDs not ascending (%u after %u)", line, uid, prev);
		return -1;
	}
	while (p < end && *p == ' ')
		p++;
	const char *ext = p;
	size_t extlen = 0;
	if (version == 3) {
		while (p < end && *p != ':') {
			if (*p < 'A' || *p > 'Z') {
				seterr(err, errlen, "line %u: bad extension field", line);
				return -1;
			}
			while (p < end && *p != ' ')
				p++;
			extlen = (size_t)(p - ext);
			while (p < end && *p == ' ')
				p++;
		}
		if (p >= end) {
			seterr(err, errlen, "line %u: no ':' before the file name", line);
			return -1;
		}
		p++;
	}
	size_t namelen = (size_t)(end - p);
	const char *colon = memchr(p, ':', namelen);
	size_t baselen = colon ? (size_t)(colon - p) : namelen;
	if (!baselen || memchr(p, '/', namelen) || memchr(p, '\0', namelen)) {
		seterr(err, errlen, "line %u: bad file name", line);
		return -1;
	}
	if (add_rec(u, uid, ext, extlen, p, baselen) < 0) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int uidlist_parse(const char *buf, size_t len, struct uidlist *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof(*u));
	const char *p = buf, *end = buf + len;
	unsigned line = 0;
	int version = 0;
	uint32_t prev = 0;
	if (memchr(buf, '\0', len)) {
		seterr(err, errlen, "NUL byte in the file");
		return -1;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		int rc;
		line++;
		if (line == 1)
			rc = parse_header(p, le, u, &version, err, errlen);
		else
			rc = parse_record(p, le, version, prev, u, line, err, errlen);
		if (rc < 0) {
			uidlist_free(u);
			return -1;
		}
		if (line > 1)
			prev = u->rec[u->n - 1].uid;
		p = nl ? nl + 1 : end;
	}
	if (line == 0) {
		seterr(err, errlen, "empty file");
		return -1;
	}
	return 0;
}

uint32_t uidlist_next(const struct uidlist *u)
{
	uint32_t next = u->nextuid;
	for (size_t i = 0; i < u->n; i++)
		if (u->rec[i].uid >= next)
			next = u->rec[i].uid + 1;
	return next;
}

int uidlist_format(const struct uidlist *u, char **out, size_t *outlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -1;
	fprintf(f, "3 V%u N%u", u->uidvalidity, u->nextuid);
	if (u->guid[0])
		fprintf(f, " G%s", u->guid);
	if (u->hdr_ext && u->hdr_ext[0])
		fprintf(f, " %s", u->hdr_ext);
	fputc('\n', f);
	for (size_t i = 0; i < u->n; i++) {
		fprintf(f, "%u", u->rec[i].uid);
		if (u->rec[i].ext && u->rec[i].ext[0])
			fprintf(f, " %s", u->rec[i].ext);
		fprintf(f, " :%s\n", u->rec[i].base);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* ---- merge ---- */

struct cand {
	const struct uidlist_rec *ra, *rb; /* the entry on each side, or NULL */
	uint32_t uid;                      /* final UID; 0 = needs a new one */
	uint32_t order;                    /* original UID, for a stable order */
};

static int cmp_rec_ptr(const void *x, const void *y)
{
	const struct uidlist_rec *a = *(const struct uidlist_rec *const *)x;
	const struct uidlist_rec *b = *(const struct uidlist_rec *const *)y;
	int c = strcmp(a->base, b->base);
	if (c)
		return c;
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

/* Entries sorted by base name, one per name (the highest UID wins, as
 * Dovecot keeps the later of two lines for one file). */
static const struct uidlist_rec **by_name(const struct uidlist *u, size_t *n)
{
	const struct uidlist_rec **v = malloc((u->n ? u->n : 1) * sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < u->n; i++)
		v[i] = &u->rec[i];
	if (u->n)
		qsort(v, u->n, sizeof(*v), cmp_rec_ptr);
	size_t k = 0;
	for (size_t i = 0; i < u->n; i++) {
		if (k > 0 && strcmp(v[k - 1]->base, v[i]->base) == 0)
			k--;
		v[k++] = v[i];
	}
	*n = k;
	return v;
}

static int has_uid(const struct uidlist *u, uint32_t uid)
{
	for (size_t i = 0; i < u->n; i++)
		if (u->rec[i].uid == uid)
			return 1;
	return 0;
}

static int cmp_cand_order(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;
	/* kept UIDs first, ascending; 0 (a new UID needed) after them */
	uint64_t ua = a->uid ? a->uid : UINT64_MAX, ub = b->uid ? b->uid : UINT64_MAX;
	if (ua != ub)
		return ua < ub ? -1 : 1;
	if (a->order != b->order)
		return a->order < b->order ? -1 : 1;
	const char *na = a->ra ? a->ra->base : a->rb->base;
	const char *nb = b->ra ? b->ra->base : b->rb->base;
	return strcmp(na, nb);
}

/* The UID an entry keeps, or 0 when it needs a new one. */
static uint32_t decide_uid(const struct cand *c, const struct uidlist *a, const struct uidlist *b,
			   uint32_t next_a, uint32_t next_b, int vconflict, int b_newer,
			   struct uidlist_stats *st)
{
	if (c->ra && c->rb) {
		if (vconflict)
			return b_newer ? c->rb->uid : c->ra->uid;
		if (c->ra->uid == c->rb->uid) {
			st->common++;
			return c->ra->uid;
		}
		/* A UID at or above the other side's next UID was given after
		 * that side's version: it is a later decision (a merge made
		 * from it), and keeping it makes merging absorbing, so a merged
		 * version merged again with either input stays the same. */
		if (c->ra->uid >= next_b)
			return c->ra->uid;
		if (c->rb->uid >= next_a)
			return c->rb->uid;
		return 0;
	}
	const struct uidlist_rec *r = c->ra ? c->ra : c->rb;
	const struct uidlist *other = c->ra ? b : a;
	uint32_t other_next = c->ra ? next_b : next_a;
	int from_loser = c->ra ? b_newer : !b_newer;
	if (c->ra)
		st->only_a++;
	else
		st->only_b++;
	if (vconflict)
		return from_loser ? 0 : r->uid;
	if (r->uid < other_next) {
		/* Count each colliding pair once, from A's side. */
		if (c->ra && has_uid(other, r->uid))
			st->collisions++;
		return 0;
	}
	return r->uid;
}

static int build_cands(const struct uidlist *a, const struct uidlist *b, uidlist_keep_fn keep,
		       void *arg, struct cand **out, size_t *nout, struct uidlist_stats *st)
{
	size_t na, nb, n = 0;
	const struct uidlist_rec **va = by_name(a, &na);
	const struct uidlist_rec **vb = by_name(b, &nb);
	struct cand *c = malloc((na + nb + 1) * sizeof(*c));
	if (!va || !vb || !c) {
		free(va);
		free(vb);
		free(c);
		return -1;
	}
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		int cmp = i >= na ? 1 : j >= nb ? -1 : strcmp(va[i]->base, vb[j]->base);
		struct cand k = { cmp <= 0 ? va[i] : NULL, cmp >= 0 ? vb[j] : NULL, 0, 0 };
		if (cmp <= 0)
			i++;
		if (cmp >= 0)
			j++;
		const char *base = k.ra ? k.ra->base : k.rb->base;
		if (keep && !keep(base, arg)) {
			st->dropped++;
			continue;
		}
		c[n++] = k;
	}
	free(va);
	free(vb);
	*out = c;
	*nout = n;
	return 0;
}

static int copy_header(struct uidlist *out, const struct uidlist *a, const struct uidlist *b,
		       int b_newer, struct uidlist_stats *st)
{
	const struct uidlist *nw = b_newer ? b : a, *old = b_newer ? a : b;
	st->uidvalidity_conflict = a->uidvalidity != b->uidvalidity;
	out->uidvalidity = nw->uidvalidity;
	if (a->guid[0] && b->guid[0] && strcmp(a->guid, b->guid) != 0)
		st->guid_conflict = 1;
	memcpy(out->guid, nw->guid[0] ? nw->guid : old->guid, sizeof(out->guid));
	const char *ext = nw->hdr_ext ? nw->hdr_ext : old->hdr_ext;
	if (ext && !(out->hdr_ext = strdup(ext)))
		return -1;
	return 0;
}

int uidlist_merge(const struct uidlist *a, const struct uidlist *b, int b_newer,
		  uidlist_keep_fn keep, void *arg, struct uidlist *out,
		  struct uidlist_stats *st)
{
	memset(out, 0, sizeof(*out));
	memset(st, 0, sizeof(*st));
	struct cand *c;
	size_t n;
	if (copy_header(out, a, b, b_newer, st) < 0 ||
	    build_cands(a, b, keep, arg, &c, &n, st) < 0) {
		uidlist_free(out);
		return -1;
	}
	uint32_t next_a = uidlist_next(a), next_b = uidlist_next(b);
	int vconflict = st->uidvalidity_conflict;
	for (size_t i = 0; i < n; i++) {
		c[i].uid = decide_uid(&c[i], a, b, next_a, next_b, vconflict, b_newer, st);
		/* symmetric in a and b, so both nodes merging the same two
		 * versions hand out the same new UIDs */
		c[i].order = c[i].ra && c[i].rb ? (c[i].ra->uid < c[i].rb->uid ? c[i].ra->uid : c[i].rb->uid)
				  : c[i].ra ? c[i].ra->uid : c[i].rb->uid;
	}
	/* Kept UIDs ascending, then the ones needing a new UID in the order
	 * of their old UIDs; hand those out above both next UIDs. */
	if (n)
		qsort(c, n, sizeof(*c), cmp_cand_order);
	uint32_t next = next_a > next_b ? next_a : next_b;
	for (size_t i = 0; i < n; i++)
		if (c[i].uid == 0) {
			c[i].uid = next++;
			st->reassigned++;
		}
	for (size_t i = 0; i < n; i++) {
		const struct uidlist_rec *pick = c[i].ra && c[i].rb ? (b_newer ? c[i].rb : c[i].ra)
								   : c[i].ra ? c[i].ra : c[i].rb;
		const struct uidlist_rec *alt = pick == c[i].ra ? c[i].rb : c[i].ra;
		const char *ext = pick->ext ? pick->ext : alt ? alt->ext : NULL;
		if (add_rec(out, c[i].uid, ext, ext ? strlen(ext) : 0, pick->base,
			    strlen(pick->base)) < 0) {
			free(c);
			uidlist_free(out);
			return -1;
		}
		if (c[i].uid >= next)
			next = c[i].uid + 1;
	}
	out->nextuid = next;
	free(c);
	return 0;
}

static int cmp_rec_base(const void *x, const void *y)
{
	const struct uidlist_rec *a = x, *b = y;
	return strcmp(a->base, b->base);
}

/* Whether uid names a message other than base in the merged version. */
static int uid_names_other(const struct uidlist *merged, uint32_t uid, const char *base)
{
	for (size_t i = 0; i < merged->n; i++)
		if (merged->rec[i].uid == uid)
			return strcmp(merged->rec[i].base, base) != 0;
	return 0;
}

int uidlist_uids_moved(const struct uidlist *ours, const struct uidlist *merged,
		       uidlist_keep_fn still_here, void *arg)
{
	if (ours->n == 0)
		return 0;
	struct uidlist_rec *sorted = malloc(merged->n * sizeof(*sorted) + 1);
	if (!sorted)
		return 1;
	memcpy(sorted, merged->rec, merged->n * sizeof(*sorted));
	qsort(sorted, merged->n, sizeof(*sorted), cmp_rec_base);
	int moved = 0, checks = 0;
	for (size_t i = 0; i < ours->n && !moved; i++) {
		const struct uidlist_rec *r = &ours->rec[i];
		struct uidlist_rec *hit = bsearch(r, sorted, merged->n, sizeof(*sorted), cmp_rec_base);
		if (hit && hit->uid == r->uid)
			continue;
		moved = ++checks > UIDLIST_GONE_CHECKS || uid_names_other(merged, r->uid, r->base) ||
			still_here(r->base, arg);
	}
	free(sorted);
	return moved;
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int uidlist_same(const struct uidlist *a, const struct uidlist *b)
{
	if (a->uidvalidity != b->uidvalidity || strcmp(a->guid, b->guid) != 0 ||
	    uidlist_next(a) != uidlist_next(b) || a->n != b->n || !same_str(a->hdr_ext, b->hdr_ext))
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->rec[i].uid != b->rec[i].uid || strcmp(a->rec[i].base, b->rec[i].base) != 0 ||
		    !same_str(a->rec[i].ext, b->rec[i].ext))
			return 0;
	return 1;
}

int uidlist_drop_index(int dfd, int mark_dfd, int flags, uidlist_dropped_fn dropped, void *arg)
{
	static const char *const files[] = UIDLIST_INDEX_FILES;
	const size_t nfiles = sizeof(files) / sizeof(files[0]);
	int strict = flags & UIDLIST_DROP_STRICT, rc = 0, err, n = 0, any = 0;
	struct stat st;
	for (size_t i = 0; i < nfiles && !any; i++)
		any = fstatat(dfd, files[i], &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!any)
		return 0;
	if (mark_dfd >= 0 && (rc = smallfile_bump_drop_mark(mark_dfd)) < 0 && strict)
		return rc;
	for (size_t i = 0; i < nfiles; i++) {
		if (unlinkat(dfd, files[i], 0) == 0) {
			n++;
			if (dropped)
				dropped(arg, files[i]);
		} else if (errno != ENOENT && rc == 0) {
			rc = -errno;
		}
	}
	if (strict && rc < 0)
		return rc;
	if ((flags & UIDLIST_DROP_SYNC) && fsync(dfd) < 0 && rc == 0)
		rc = -errno;
	if (strict && rc < 0)
		return rc;
	if (mark_dfd >= 0 && (err = smallfile_bump_drop_mark(mark_dfd)) < 0 && rc == 0)
		rc = err;
	return rc < 0 ? rc : n;
}
