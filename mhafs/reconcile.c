/* reconcile.c: the reconciliation walk over two digest trees (see
 * reconcile.h), and the transport that reads a local catalog database. */
#include "reconcile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct walk {
	const struct rc_source *l, *r;
	rc_diff_fn fn;
	void *arg;
	struct rc_stats *st;
};

int rc_rows_differ(const char *path, const struct crow *a, const struct crow *b)
{
	int al = a && !a->deleted, bl = b && !b->deleted;
	if (!al || !bl)
		return al != bl;
	struct hash128 ha, hb;
	mtree_leaf(path, a, &ha);
	mtree_leaf(path, b, &hb);
	return ha.hi != hb.hi || ha.lo != hb.lo;
}

static int fetch(struct walk *w, int remote, const char *dir, uint16_t node, struct rc_listing *out)
{
	const struct rc_source *s = remote ? w->r : w->l;
	memset(out, 0, sizeof(*out));
	if (remote)
		w->st->requests++;
	return s->fetch(s->arg, dir, node, 0, NULL, out);
}

/* All entries of node's buckets from one side, page by page. */
static int fetch_entries(struct walk *w, int remote, const char *dir, uint16_t node,
			 struct mt_entries *out)
{
	const struct rc_source *s = remote ? w->r : w->l;
	struct rc_listing lst;
	char *after = NULL;
	int rc;
	memset(&lst, 0, sizeof(lst));
	for (;;) {
		size_t before = lst.ents.n;
		lst.more = 0;
		if (remote)
			w->st->requests++;
		if ((rc = s->fetch(s->arg, dir, node, 1, after, &lst)) < 0)
			break;
		if (!lst.more)
			break;
		if (lst.ents.n == before) {
			rc = -EPROTO; /* "more" without progress */
			break;
		}
		const char *p = lst.ents.v[lst.ents.n - 1].row.path, *slash = strrchr(p, '/');
		free(after);
		if (!(after = strdup(slash ? slash + 1 : p))) {
			rc = -ENOMEM;
			break;
		}
	}
	free(after);
	*out = lst.ents;
	return rc;
}

static int visit(struct walk *w, const char *dir, uint16_t node, const struct mt_digest *ld,
		 const struct mt_digest *rd);

static int report(struct walk *w, const char *path, const struct crow *l, const struct crow *r)
{
	w->st->diffs++;
	return w->fn(w->arg, path, l, r);
}

static int pair(struct walk *w, const char *path, const struct mt_entry *le, const struct mt_entry *re)
{
	static const struct mt_digest none;
	const struct crow *lr = le ? &le->row : NULL, *rr = re ? &re->row : NULL;
	int llive = lr && !lr->deleted, rlive = rr && !rr->deleted, rc = 0;
	w->st->entries++;
	if (!llive && !rlive)
		return 0;
	int differs = rc_rows_differ(path, lr, rr);
	int ldir = llive && lr->kind == 'd', rdir = rlive && rr->kind == 'd';
	const struct mt_digest *ls = ldir && le->has_sub ? &le->sub : &none;
	const struct mt_digest *rs = rdir && re->has_sub ? &re->sub : &none;
	if (differs && llive && (rc = report(w, path, lr, rr)) < 0)
		return rc;
	if ((ldir || rdir) && !mt_digest_eq(ls, rs) && (rc = visit(w, path, 0, ls, rs)) < 0)
		return rc;
	if (differs && !llive)
		rc = report(w, path, lr, rr);
	return rc;
}

static int compare_entries(struct walk *w, const char *dir, uint16_t node)
{
	struct mt_entries a = { 0 }, b = { 0 };
	int rc = fetch_entries(w, 0, dir, node, &a);
	if (rc == 0)
		rc = fetch_entries(w, 1, dir, node, &b);
	size_t i = 0, k = 0;
	while (rc == 0 && (i < a.n || k < b.n)) {
		int c = i == a.n ? 1 : k == b.n ? -1 : strcmp(a.v[i].row.path, b.v[k].row.path);
		if (c < 0) {
			rc = pair(w, a.v[i].row.path, &a.v[i], NULL);
			i++;
		} else if (c > 0) {
			rc = pair(w, b.v[k].row.path, NULL, &b.v[k]);
			k++;
		} else {
			rc = pair(w, a.v[i].row.path, &a.v[i], &b.v[k]);
			i++;
			k++;
		}
	}
	mt_entries_free(&a);
	mt_entries_free(&b);
	return rc;
}

/* Below node, the children of two listings (either may be all zero). */
static int descend(struct walk *w, const char *dir, uint16_t node, const struct rc_listing *l,
		   const struct rc_listing *r)
{
	int rc = 0;
	for (unsigned i = 0; i < MT_FANOUT && rc == 0; i++)
		rc = visit(w, dir, MT_CHILD(node, i), &l->child[i], &r->child[i]);
	return rc;
}

/* Whether to compare a node row by row: a leaf bucket, a node of few rows
 * below, or a directory of few direct children. */
static int list_it(uint16_t node, const struct mt_digest *ld, const struct mt_digest *rd)
{
	uint64_t most = ld->count > rd->count ? ld->count : rd->count;
	uint64_t kids = ld->nchild > rd->nchild ? ld->nchild : rd->nchild;
	return MT_LEVEL(node) == MT_LEVELS || most <= RC_LIST_MAX || (node == 0 && kids <= RC_LIST_MAX);
}

static int visit(struct walk *w, const char *dir, uint16_t node, const struct mt_digest *ld,
		 const struct mt_digest *rd)
{
	struct rc_listing l, r;
	int rc;
	w->st->nodes++;
	if (mt_digest_eq(ld, rd))
		return 0;
	if (list_it(node, ld, rd))
		return compare_entries(w, dir, node);
	memset(&l, 0, sizeof(l));
	memset(&r, 0, sizeof(r));
	/* a side with no rows here has no bucket digests to ask for */
	if (ld->count && (rc = fetch(w, 0, dir, node, &l)) < 0)
		return rc;
	if (rd->count && (rc = fetch(w, 1, dir, node, &r)) < 0)
		return rc;
	return descend(w, dir, node, &l, &r);
}

int reconcile_walk(const struct rc_source *local, const struct rc_source *remote, rc_diff_fn fn,
		   void *arg, struct rc_stats *st)
{
	struct walk w = { local, remote, fn, arg, st };
	struct rc_listing l, r;
	int rc;
	memset(st, 0, sizeof(*st));
	if ((rc = fetch(&w, 0, "", 0, &l)) < 0 || (rc = fetch(&w, 1, "", 0, &r)) < 0)
		return rc;
	st->nodes++;
	if (mt_digest_eq(&l.self, &r.self))
		return 0;
	if (list_it(0, &l.self, &r.self))
		return compare_entries(&w, "", 0);
	return descend(&w, "", 0, &l, &r);
}

/* ---- a catalog database as a source ---- */

int rc_fetch_reader(struct mt_reader *m, const char *dir, uint16_t node, int want_entries,
		    const char *after, struct rc_listing *out)
{
	int rc;
	if (!mtree_node_valid(node))
		return -EINVAL;
	if (want_entries)
		rc = mt_read_entries(m, dir, node, after, RC_PAGE, &out->ents, &out->more);
	else
		rc = mt_read_node(m, dir, node, &out->self, out->child);
	return rc == SQLITE_OK ? 0 : (rc & 0xff) == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

static int db_fetch(void *arg, const char *dir, uint16_t node, int want_entries, const char *after,
		    struct rc_listing *out)
{
	return rc_fetch_reader(arg, dir, node, want_entries, after, out);
}

int rc_source_db(struct rc_source *src, sqlite3 *db)
{
	src->arg = mt_reader_new(db);
	src->fetch = db_fetch;
	return src->arg ? 0 : -EIO;
}

void rc_source_db_free(struct rc_source *src)
{
	mt_reader_free(src->arg);
	src->arg = NULL;
}
