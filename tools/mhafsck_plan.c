/* mhafsck_plan.c: compare two scanned sides and decide, with the rules of
 * mhafs/merge.c and mhafs/uidlist.c, what differs and what the repair
 * would do.  Order of a side's states: the catalog's HLC when a state dir
 * was given and the path has a row, else the file's ctime (messages: a
 * flag change is a rename, which updates ctime) or mtime (other files) in
 * HLC form; ties go to the node id (catalog) or the store path. */
#define _GNU_SOURCE
#include "mhafsck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flagmerge.h"
#include "uidlist.h"

#define UIDLIST_NAME "dovecot-uidlist"
#define UIDLIST_MAX (64u << 20)

/* A message file on one side, keyed by user root and base name. */
struct mref {
	char *key;
	char side;
	struct fent *e;
};

struct tomb {
	char *key;
	uint64_t hlc;
};

struct ctx {
	struct side *a, *b;
	const struct fsck_opts *o;
	struct plan *p;
	struct mref *m;
	size_t nm, capm;
	struct tomb *t[2];
	size_t nt[2], capt[2];
	char **final;          /* "mailbox/base" of every message after repair */
	size_t nf, capf;
	size_t *uidlists;      /* indexes into a->e or b->e, as (i << 1 | side) */
	size_t nu, capu;
	struct dirplan dirs;   /* directories on one side only */
	char *err;
	size_t errlen;
};

static int grow(void **v, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 256;
	void *p = realloc(*v, c * sz);
	if (!p)
		return -1;
	*v = p;
	*cap = c;
	return 0;
}

static int oom(struct ctx *c)
{
	snprintf(c->err, c->errlen, "out of memory");
	return -1;
}

struct diff *plan_add(struct plan *p, enum merge_class cls, enum merge_action act,
		      const char *path)
{
	if (grow((void **)&p->d, &p->cap, p->n, sizeof(*p->d)) < 0)
		return NULL;
	struct diff *d = &p->d[p->n];
	memset(d, 0, sizeof(*d));
	d->cls = cls;
	d->act = act;
	d->kind = 'f';
	if (!(d->path = strdup(path)))
		return NULL;
	p->n++;
	p->count[cls]++;
	if (cls != MC_STRAY)
		p->differences++;
	return d;
}

static struct diff *new_diff(struct ctx *c, enum merge_class cls, enum merge_action act,
			     const char *path)
{
	return plan_add(c->p, cls, act, path);
}

static int set_str(char **dst, const char *s)
{
	if (!s)
		return 0;
	return (*dst = strdup(s)) ? 0 : -1;
}

static int mailbox_key(const char *path, size_t mbox_len, int with_root, char **out)
{
	const char *name = strrchr(path, '/');
	name = name ? name + 1 : path;
	size_t len = with_root ? maildir_root_len(path, mbox_len) : mbox_len;
	return asprintf(out, "%.*s/%.*s", (int)len, path, (int)maildir_base_len(name), name) < 0
		       ? -1 : 0;
}

/* ---- messages ---- */

static int add_mref(struct ctx *c, char side, struct fent *e, size_t mbox_len)
{
	if (grow((void **)&c->m, &c->capm, c->nm, sizeof(*c->m)) < 0)
		return -1;
	struct mref *r = &c->m[c->nm];
	r->side = side;
	r->e = e;
	if (mailbox_key(e->path, mbox_len, 1, &r->key) < 0)
		return -1;
	c->nm++;
	return 0;
}

static int cmp_tomb(const void *x, const void *y)
{
	const struct tomb *a = x, *b = y;
	int k = strcmp(a->key, b->key);
	return k ? k : (a->hlc < b->hlc ? -1 : a->hlc > b->hlc);
}

/* Tombstones of message paths not live on that side, by message key. */
static int collect_tombs(struct ctx *c, const struct side *s, int i)
{
	for (size_t k = 0; k < s->nc; k++) {
		size_t mbox_len;
		const struct crow_lite *r = &s->c[k];
		if (!r->deleted || !maildir_is_message(r->path, &mbox_len) || side_find(s, r->path))
			continue;
		if (grow((void **)&c->t[i], &c->capt[i], c->nt[i], sizeof(**c->t)) < 0)
			return -1;
		struct tomb *t = &c->t[i][c->nt[i]];
		if (mailbox_key(r->path, mbox_len, 1, &t->key) < 0)
			return -1;
		t->hlc = r->hlc;
		c->nt[i]++;
	}
	if (c->nt[i])
		qsort(c->t[i], c->nt[i], sizeof(**c->t), cmp_tomb);
	return 0;
}

/* The latest tombstone of key on side i, or 0. */
static uint64_t find_tomb(const struct ctx *c, int i, const char *key)
{
	size_t lo = 0, hi = c->nt[i];
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(c->t[i][mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t best = 0;
	for (; lo < c->nt[i] && !strcmp(c->t[i][lo].key, key); lo++)
		best = c->t[i][lo].hlc;
	return best;
}

static int add_final(struct ctx *c, const char *path)
{
	size_t mbox_len;
	if (!maildir_is_message(path, &mbox_len))
		return 0;
	if (grow((void **)&c->final, &c->capf, c->nf, sizeof(*c->final)) < 0 ||
	    mailbox_key(path, mbox_len, 0, &c->final[c->nf]) < 0)
		return -1;
	c->nf++;
	return 0;
}

static void split_path(const char *path, const char **dir, size_t *dirlen, const char **name)
{
	const char *sl = strrchr(path, '/');
	*dir = path;
	*dirlen = sl ? (size_t)(sl - path) : 0;
	*name = sl ? sl + 1 : path;
}

static void fill_msg(struct msg_side *m, char *dirbuf, size_t dirbufsz,
		     const struct side *s, const struct fent *e)
{
	const char *dir, *name;
	size_t dl;
	split_path(e->path, &dir, &dl, &name);
	snprintf(dirbuf, dirbufsz, "%.*s", (int)dl, dir);
	m->present = 1;
	m->dir = dirbuf;
	m->name = name;
	m->hash = e->hash;
	m->stamp = side_stamp(s, e, 1);
	m->tombstone = 0;
}

static int location_detail(char **out, const struct msg_side *a, const struct msg_side *b,
			   enum merge_action act)
{
	int folder = strcmp(a->dir, b->dir) != 0;
	int flags = strcmp(maildir_info(a->name), maildir_info(b->name)) != 0;
	const char *win = act == MA_MOVE_ON_B ? "a" : "b";
	return asprintf(out, "%s%s%s differ%s: a has %s/%s, b has %s/%s; %s's later change wins",
			folder ? "folder" : "", folder && flags ? " and " : "", flags ? "flags" : "",
			folder && !flags ? "s" : "", a->dir, a->name, b->dir, b->name, win) < 0 ? -1 : 0;
}

/* The node id in a side's tie-break name ("node 00002"), else 0. */
static uint16_t node_num(const struct mstamp *m)
{
	unsigned id = 0;
	return m->node && sscanf(m->node, "node %u", &id) == 1 ? (uint16_t)id : 0;
}

/* A message held in one maildir under two flag sets: merged flag by flag
 * (flagmerge.h) with each catalog's flag stamps.  Sets d->act to the side
 * that takes the other's name, or to MA_MERGE_FLAGS with the third name in
 * *merged (in cur/ when either is there).  0 when done, 1 when the names
 * are not "2," flag names in one maildir (the move rule stands). */
static int merge_flag_names(struct ctx *c, const struct fent *ea, const struct fent *eb,
			    const struct msg_side *ma, const struct msg_side *mb,
			    struct merge_decision *d, char **merged)
{
	size_t la, lb;
	uint64_t fa, fb;
	struct fregs ra, rb;
	if (!maildir_is_message(ea->path, &la) || !maildir_is_message(eb->path, &lb) || la != lb ||
	    strncmp(ea->path, eb->path, la) != 0 || !mflags_parse(ma->name, &fa) ||
	    !mflags_parse(mb->name, &fb))
		return 1;
	side_flag_regs(c->a, ea->path, &ra);
	side_flag_regs(c->b, eb->path, &rb);
	struct fside sa = { fa, &ra, { ma->stamp.hlc, node_num(&ma->stamp) } };
	struct fside sb = { fb, &rb, { mb->stamp.hlc, node_num(&mb->stamp) } };
	uint64_t m = merge_flags(&sa, &sb);
	int cur = strcmp(ma->dir + strlen(ma->dir) - 3, "cur") == 0 ||
		  strcmp(mb->dir + strlen(mb->dir) - 3, "cur") == 0;
	const char *dir = cur ? (strcmp(ma->dir + strlen(ma->dir) - 3, "cur") == 0 ? ma->dir : mb->dir)
			      : ma->dir;
	if (m == fa && strcmp(dir, ma->dir) == 0) {
		d->act = MA_MOVE_ON_B;
		return 0;
	}
	if (m == fb && strcmp(dir, mb->dir) == 0) {
		d->act = MA_MOVE_ON_A;
		return 0;
	}
	char name[512];
	if (mflags_name(ma->name, m, name, sizeof(name)) < 0 || asprintf(merged, "%s/%s", dir, name) < 0)
		return 1;
	d->act = MA_MERGE_FLAGS;
	return 0;
}

/* One message key, decided and turned into a diff (or not). */
static int decide_message(struct ctx *c, struct fent *ea, struct fent *eb, const char *key,
			  int use_tombs)
{
	char da[4096], db[4096];
	struct msg_side ma = { 0 }, mb = { 0 };
	struct merge_decision d;
	if (ea)
		fill_msg(&ma, da, sizeof(da), c->a, ea);
	if (eb)
		fill_msg(&mb, db, sizeof(db), c->b, eb);
	if (ea && eb && (fent_hash(c->a, ea, c->err, c->errlen) < 0 ||
			 fent_hash(c->b, eb, c->err, c->errlen) < 0))
		return -1;
	if (ea)
		ma.hash = ea->hash;
	if (eb)
		mb.hash = eb->hash;
	uint64_t t;
	if (!ea && use_tombs && (t = find_tomb(c, 0, key))) {
		ma.tombstone = 1;
		ma.stamp = (struct mstamp){ t, c->a->node };
	}
	if (!eb && use_tombs && (t = find_tomb(c, 1, key))) {
		mb.tombstone = 1;
		mb.stamp = (struct mstamp){ t, c->b->node };
	}
	merge_message(&ma, &mb, &d);
	char *merged = NULL;
	if (d.act == MA_MOVE_ON_A || d.act == MA_MOVE_ON_B)
		merge_flag_names(c, ea, eb, &ma, &mb, &d, &merged);
	const char *keep_path = NULL;
	struct diff *df = NULL;
	int rc = 0;
	switch (d.act) {
	case MA_NONE:
		return add_final(c, ea->path);
	case MA_COPY_TO_A:
	case MA_COPY_TO_B: {
		const char *p = ea ? ea->path : eb->path;
		int tomb = ea ? mb.tombstone : ma.tombstone;
		keep_path = p;
		if (!(df = new_diff(c, d.cls, d.act, p)))
			return oom(c);
		rc = asprintf(&df->detail, "only on %s%s; copy to %s", ea ? "a" : "b",
			      tomb ? " (the other side's expunge is older)" : "", ea ? "b" : "a");
		break;
	}
	case MA_DELETE_ON_A:
	case MA_DELETE_ON_B: {
		const char *p = ea ? ea->path : eb->path;
		if (!(df = new_diff(c, d.cls, d.act, p)))
			return oom(c);
		rc = asprintf(&df->detail, "only on %s; expunged on %s later: delete on %s",
			      ea ? "a" : "b", ea ? "b" : "a", ea ? "a" : "b");
		break;
	}
	case MA_MOVE_ON_A:
	case MA_MOVE_ON_B:
		keep_path = d.act == MA_MOVE_ON_B ? ea->path : eb->path;
		if (!(df = new_diff(c, d.cls, d.act, keep_path)))
			return oom(c);
		rc = location_detail(&df->detail, &ma, &mb, d.act);
		break;
	case MA_MERGE_FLAGS:
		keep_path = merged;
		if (!(df = new_diff(c, d.cls, d.act, ea->path))) {
			free(merged);
			return oom(c);
		}
		df->new_path = merged;
		rc = asprintf(&df->detail, "flags differ: a has %s/%s, b has %s/%s; merged flag by flag "
			      "(each flag's later change): both become %s", ma.dir, ma.name, mb.dir,
			      mb.name, merged);
		break;
	case MA_KEEP_BOTH_A_RENAMED:
	case MA_KEEP_BOTH_B_RENAMED: {
		int a_loses = d.act == MA_KEEP_BOTH_A_RENAMED;
		struct fent *lose = a_loses ? ea : eb;
		const struct msg_side *ml = a_loses ? &ma : &mb;
		char nn[512];
		keep_path = a_loses ? eb->path : ea->path;
		if (maildir_conflict_name(ml->name, &lose->hash, nn, sizeof(nn)) < 0) {
			snprintf(c->err, c->errlen, "%s: name too long", lose->path);
			return -1;
		}
		if (!(df = new_diff(c, d.cls, d.act, ea->path)))
			return oom(c);
		rc = asprintf(&df->new_path, "%s/%s", ml->dir, nn);
		if (rc >= 0)
			rc = asprintf(&df->detail, "same name, different content; %s's copy (changed "
				      "later) is kept as %s on both sides", a_loses ? "a" : "b", nn);
		break;
	}
	default:
		free(merged);
		snprintf(c->err, c->errlen, "%s: unexpected decision", ea ? ea->path : eb->path);
		return -1;
	}
	if (rc < 0 || set_str(&df->path_a, ea ? ea->path : NULL) < 0 ||
	    set_str(&df->path_b, eb ? eb->path : NULL) < 0)
		return oom(c);
	return keep_path ? add_final(c, keep_path) : 0;
}

static int cmp_mref(const void *x, const void *y)
{
	const struct mref *a = x, *b = y;
	int k = strcmp(a->key, b->key);
	if (k)
		return k;
	if (a->side != b->side)
		return a->side < b->side ? -1 : 1;
	return strcmp(a->e->path, b->e->path);
}

/* A key with several files on one side (a copy that kept its name, or a
 * file in both new/ and cur/): pair them by exact path, no moves. */
static int decide_by_path(struct ctx *c, struct mref *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct fent *other = side_find(g[i].side == 'a' ? c->b : c->a, g[i].e->path);
		if (g[i].side == 'b' && other)
			continue; /* decided from a's side */
		struct fent *ea = g[i].side == 'a' ? g[i].e : other;
		struct fent *eb = g[i].side == 'b' ? g[i].e : other;
		if (decide_message(c, ea, eb, g[i].key, 0) < 0)
			return -1;
	}
	return 0;
}

static int plan_messages(struct ctx *c)
{
	if (collect_tombs(c, c->a, 0) < 0 || collect_tombs(c, c->b, 1) < 0)
		return oom(c);
	if (c->nm)
		qsort(c->m, c->nm, sizeof(*c->m), cmp_mref);
	for (size_t i = 0; i < c->nm;) {
		size_t j = i, na = 0, nb = 0;
		while (j < c->nm && !strcmp(c->m[j].key, c->m[i].key)) {
			na += c->m[j].side == 'a';
			nb += c->m[j].side == 'b';
			j++;
		}
		int rc;
		if (na <= 1 && nb <= 1)
			rc = decide_message(c, na ? c->m[i].e : NULL, nb ? c->m[i + na].e : NULL,
					    c->m[i].key, 1);
		else
			rc = decide_by_path(c, &c->m[i], j - i);
		if (rc < 0)
			return -1;
		progress(c->o, "comparing messages", j, c->nm);
		i = j;
	}
	return 0;
}

/* ---- other files and the uidlists ---- */

static struct file_side file_state(const struct side *s, struct fent *e, const char *path)
{
	struct file_side f = { 0 };
	if (e) {
		f.present = 1;
		f.hash = e->hash;
		f.stamp = side_stamp(s, e, 0);
		return f;
	}
	const struct crow_lite *r = side_catalog(s, path);
	if (r && r->deleted) {
		f.tombstone = 1;
		f.stamp = (struct mstamp){ r->hlc, s->node };
	}
	return f;
}

static int decide_file(struct ctx *c, struct fent *ea, struct fent *eb, enum merge_class cls,
		       const char *why)
{
	const char *path = ea ? ea->path : eb->path;
	if (ea && eb && (fent_hash(c->a, ea, c->err, c->errlen) < 0 ||
			 fent_hash(c->b, eb, c->err, c->errlen) < 0))
		return -1;
	struct file_side fa = file_state(c->a, ea, path), fb = file_state(c->b, eb, path);
	struct merge_decision d;
	merge_file(&fa, &fb, &d);
	if (d.act == MA_NONE)
		return 0;
	if (d.cls == MC_OTHER)
		d.cls = cls;
	struct diff *df = new_diff(c, d.cls, d.act, path);
	if (!df)
		return oom(c);
	df->kind = (ea ? ea : eb)->kind;
	int rc;
	if (d.cls == MC_MISSING && (d.act == MA_DELETE_ON_A || d.act == MA_DELETE_ON_B))
		rc = asprintf(&df->detail, "only on %s; deleted on %s later: delete on %s",
			      ea ? "a" : "b", ea ? "b" : "a", ea ? "a" : "b");
	else if (d.cls == MC_MISSING)
		rc = asprintf(&df->detail, "only on %s; copy to %s", ea ? "a" : "b", ea ? "b" : "a");
	else
		rc = asprintf(&df->detail, "%scontent differs; %s's later write wins", why ? why : "",
			      d.act == MA_COPY_TO_B ? "a" : "b");
	if (rc < 0 || set_str(&df->path_a, ea ? path : NULL) < 0 ||
	    set_str(&df->path_b, eb ? path : NULL) < 0)
		return oom(c);
	return 0;
}

static int read_small(const struct side *s, const char *path, char **buf, size_t *len,
		      char *err, size_t errlen)
{
	int fd = openat(s->rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	if (fd < 0 || !b) {
		snprintf(err, errlen, "%s/%s: %s", s->root, path, fd < 0 ? strerror(errno) : "out of memory");
		if (fd >= 0)
			close(fd);
		free(b);
		return -1;
	}
	for (;;) {
		if (n == cap) {
			char *nb = cap < UIDLIST_MAX ? realloc(b, cap * 2) : NULL;
			if (!nb) {
				snprintf(err, errlen, "%s/%s: too large", s->root, path);
				break;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s/%s: %s", s->root, path, strerror(errno));
			break;
		}
		if (r == 0) {
			close(fd);
			*buf = b;
			*len = n;
			return 0;
		}
		n += (size_t)r;
	}
	close(fd);
	free(b);
	return -1;
}

struct keep_arg {
	struct ctx *c;
	const char *mbox;
	size_t mbox_len;
};

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int keep_base(const char *base, void *arg)
{
	struct keep_arg *k = arg;
	char *key;
	if (asprintf(&key, "%.*s/%s", (int)k->mbox_len, k->mbox, base) < 0)
		return 1; /* when in doubt, keep */
	int found = k->c->nf &&
		    bsearch(&key, k->c->final, k->c->nf, sizeof(char *), cmp_str) != NULL;
	free(key);
	return found;
}

static int decide_uidlist(struct ctx *c, struct fent *ea, struct fent *eb)
{
	if (!ea || !eb)
		return decide_file(c, ea, eb, MC_UIDLIST, NULL);
	if (fent_hash(c->a, ea, c->err, c->errlen) < 0 || fent_hash(c->b, eb, c->err, c->errlen) < 0)
		return -1;
	if (ea->hash.hi == eb->hash.hi && ea->hash.lo == eb->hash.lo)
		return 0;
	char *ta = NULL, *tb = NULL, pe[256] = "";
	size_t la, lb;
	struct uidlist ua = { 0 }, ub = { 0 }, m;
	struct uidlist_stats st;
	int bad = 0, rc = -1;
	if (read_small(c->a, ea->path, &ta, &la, c->err, c->errlen) < 0 ||
	    read_small(c->b, eb->path, &tb, &lb, c->err, c->errlen) < 0)
		goto out;
	if (uidlist_parse(ta, la, &ua, pe, sizeof(pe)) < 0)
		bad = 'a';
	else if (uidlist_parse(tb, lb, &ub, pe, sizeof(pe)) < 0)
		bad = 'b';
	if (bad) {
		char why[400];
		snprintf(why, sizeof(why), "%c cannot be parsed (%s), so whole-file: ", bad, pe);
		rc = decide_file(c, ea, eb, MC_UIDLIST, why);
		goto out;
	}
	struct mstamp sa = side_stamp(c->a, ea, 0), sb = side_stamp(c->b, eb, 0);
	const char *sl = strrchr(ea->path, '/');
	struct keep_arg k = { c, ea->path, sl ? (size_t)(sl - ea->path) : 0 };
	if (uidlist_merge(&ua, &ub, mstamp_cmp(&sb, &sa) > 0, keep_base, &k, &m, &st) < 0) {
		oom(c);
		goto out;
	}
	/* a side's Dovecot index knows its messages by UIDs the merge moved:
	 * the repair removes it (keep_base: the message is in the repaired
	 * store) */
	int drop_a = uidlist_uids_moved(&ua, &m, keep_base, &k);
	int drop_b = uidlist_uids_moved(&ub, &m, keep_base, &k);
	struct diff *df = new_diff(c, MC_UIDLIST, MA_MERGE_UIDLIST, ea->path);
	if (!df || uidlist_format(&m, &df->text, &df->text_len) < 0 ||
	    set_str(&df->path_a, ea->path) < 0 || set_str(&df->path_b, eb->path) < 0 ||
	    asprintf(&df->detail, "UIDVALIDITY a=%u b=%u%s%s; %zu common, %zu only on a, %zu only "
		     "on b, %zu colliding UIDs, %zu reassigned, %zu dropped (gone from this mailbox), "
		     "next UID %u%s%s%s",
		     ua.uidvalidity, ub.uidvalidity,
		     st.uidvalidity_conflict ? " (conflict: the newer file's kept)" : "",
		     st.guid_conflict ? "; mailbox GUIDs differ (the newer file's kept)" : "",
		     st.common, st.only_a, st.only_b, st.collisions, st.reassigned, st.dropped,
		     m.nextuid, drop_a || drop_b ? "; UIDs moved on " : "",
		     drop_a && drop_b ? "a and b" : drop_a ? "a" : drop_b ? "b" : "",
		     drop_a || drop_b ? ", whose Dovecot index goes" : "") < 0) {
		uidlist_free(&m);
		oom(c);
		goto out;
	}
	df->drop_a = drop_a;
	df->drop_b = drop_b;
	uidlist_free(&m);
	rc = 0;
out:
	uidlist_free(&ua);
	uidlist_free(&ub);
	free(ta);
	free(tb);
	return rc;
}

static int plan_uidlists(struct ctx *c)
{
	if (c->nf)
		qsort(c->final, c->nf, sizeof(*c->final), cmp_str);
	for (size_t i = 0; i < c->nu; i++) {
		struct side *s = (c->uidlists[i] & 1) ? c->b : c->a;
		struct fent *e = &s->e[c->uidlists[i] >> 1];
		struct fent *ea = s == c->a ? e : side_find(c->a, e->path);
		struct fent *eb = s == c->b ? e : side_find(c->b, e->path);
		if (s == c->b && ea)
			continue; /* seen from a's side */
		if (decide_uidlist(c, ea, eb) < 0)
			return -1;
	}
	return 0;
}

/* ---- the walk over both sorted trees ---- */

static int is_uidlist(const char *path)
{
	const char *n = strrchr(path, '/');
	return !strcmp(n ? n + 1 : path, UIDLIST_NAME);
}

static int stray(struct ctx *c, struct fent *e, char side)
{
	if (!c->o->stray || e->kind == 'd')
		return 0;
	struct diff *df = new_diff(c, MC_STRAY, MA_NONE, e->path);
	if (!df || asprintf(&df->detail, "node-local, on %c; never compared or copied", side) < 0)
		return oom(c);
	return 0;
}

static int one_path(struct ctx *c, struct fent *ea, struct fent *eb, size_t ia, size_t ib)
{
	if ((ea && ea->local) || (eb && eb->local)) {
		if (ea && stray(c, ea, 'a') < 0)
			return -1;
		return eb ? stray(c, eb, 'b') : 0;
	}
	const char *path = ea ? ea->path : eb->path;
	if (ea && eb && ea->kind != eb->kind) {
		struct diff *df = new_diff(c, MC_OTHER, MA_NONE, path);
		if (!df || asprintf(&df->detail, "type differs (%c on a, %c on b); not repaired, "
				    "resolve by hand", ea->kind, eb->kind) < 0)
			return oom(c);
		return 0;
	}
	struct fent *e = ea ? ea : eb;
	size_t mbox_len;
	if (e->kind == 'o')
		return 0; /* devices, fifos, sockets: not part of a mail store */
	if (e->kind == 'd') {
		if (ea && eb)
			return 0;
		return dirs_add(&c->dirs, e, ea ? 'a' : 'b') < 0 ? oom(c) : 0;
	}
	if (e->kind == 'f' && maildir_is_message(path, &mbox_len)) {
		if ((ea && add_mref(c, 'a', ea, mbox_len) < 0) || (eb && add_mref(c, 'b', eb, mbox_len) < 0))
			return oom(c);
		return 0;
	}
	if (e->kind == 'f' && is_uidlist(path)) {
		if (grow((void **)&c->uidlists, &c->capu, c->nu, sizeof(size_t)) < 0)
			return oom(c);
		c->uidlists[c->nu++] = ea ? ia << 1 : (ib << 1 | 1);
		return 0;
	}
	return decide_file(c, ea, eb, MC_OTHER, NULL);
}

int plan_build(struct side *a, struct side *b, const struct fsck_opts *o, struct plan *p,
	       char *err, size_t errlen)
{
	struct ctx c = { .a = a, .b = b, .o = o, .p = p, .err = err, .errlen = errlen };
	int rc = 0;
	memset(p, 0, sizeof(*p));
	size_t i = 0, j = 0;
	while (rc == 0 && (i < a->n || j < b->n)) {
		int cmp = i >= a->n ? 1 : j >= b->n ? -1 : strcmp(a->e[i].path, b->e[j].path);
		rc = one_path(&c, cmp <= 0 ? &a->e[i] : NULL, cmp >= 0 ? &b->e[j] : NULL, i, j);
		if (cmp <= 0)
			i++;
		if (cmp >= 0)
			j++;
	}
	if (rc == 0)
		rc = plan_messages(&c);
	if (rc == 0)
		rc = plan_uidlists(&c);
	if (rc == 0)
		rc = dirs_decide(&c.dirs, a, b, p, err, errlen);
	dirs_free(&c.dirs);
	for (size_t k = 0; k < c.nm; k++)
		free(c.m[k].key);
	for (int s = 0; s < 2; s++) {
		for (size_t k = 0; k < c.nt[s]; k++)
			free(c.t[s][k].key);
		free(c.t[s]);
	}
	for (size_t k = 0; k < c.nf; k++)
		free(c.final[k]);
	free(c.m);
	free(c.final);
	free(c.uidlists);
	return rc;
}

void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct diff *d = &p->d[i];
		free(d->path);
		free(d->path_a);
		free(d->path_b);
		free(d->new_path);
		free(d->detail);
		free(d->text);
	}
	free(p->d);
	memset(p, 0, sizeof(*p));
}
