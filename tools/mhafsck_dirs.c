/* mhafsck_dirs.c: directories present on one side only.  They are decided
 * after every file, because the rule (merge_dir) needs to know whether
 * anything replicated stays under the directory on the side that has it
 * once the file rules are applied: a folder the other side removed later
 * goes only if it would be empty of replicated files anyway. */
#define _GNU_SOURCE
#include "mhafsck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dirs_add(struct dirplan *dp, struct fent *e, char side)
{
	if (dp->n == dp->cap) {
		size_t cap = dp->cap ? dp->cap * 2 : 64;
		struct dircand *v = realloc(dp->v, cap * sizeof(*v));
		if (!v)
			return -1;
		dp->v = v;
		dp->cap = cap;
	}
	dp->v[dp->n].e = e;
	dp->v[dp->n].side = side;
	dp->n++;
	return 0;
}

void dirs_free(struct dirplan *dp)
{
	free(dp->v);
	memset(dp, 0, sizeof(*dp));
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The paths the plan deletes on side (borrowed from the diffs), sorted. */
static char **deleted_on(const struct plan *p, char side, size_t *n)
{
	enum merge_action act = side == 'a' ? MA_DELETE_ON_A : MA_DELETE_ON_B;
	char **v = malloc((p->n + 1) * sizeof(*v));
	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < p->n; i++)
		if (p->d[i].act == act && p->d[i].kind != 'd')
			v[(*n)++] = side == 'a' ? p->d[i].path_a : p->d[i].path_b;
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_str);
	return v;
}

static int is_cand(const struct dirplan *dp, const char *path)
{
	size_t lo = 0, hi = dp->n;
	while (lo < hi) { /* candidates come in path order from the walk */
		size_t mid = (lo + hi) / 2;
		int c = strcmp(dp->v[mid].e->path, path);
		if (!c)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Whether anything replicated stays under dir on side s after the plan:
 * a file or link not deleted, or a directory that is not itself one of
 * the one-sided candidates (those are decided on their own). */
static int keeps_content(const struct side *s, const char *dir, char **del, size_t ndel,
			 const struct dirplan *dp)
{
	size_t dl = strlen(dir), lo = 0, hi = s->n;
	while (lo < hi) { /* first entry >= "dir/" */
		size_t mid = (lo + hi) / 2;
		int c = strncmp(s->e[mid].path, dir, dl);
		if (c == 0)
			c = (unsigned char)s->e[mid].path[dl] < '/' ? -1 :
			    (unsigned char)s->e[mid].path[dl] > '/' ? 1 : 0;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < s->n; i++) {
		const struct fent *e = &s->e[i];
		if (strncmp(e->path, dir, dl) != 0 || e->path[dl] != '/')
			break;
		if (e->local || e->kind == 'o')
			continue;
		if (e->kind == 'd' ? is_cand(dp, e->path)
				   : ndel && bsearch(&e->path, del, ndel, sizeof(*del), cmp_str))
			continue;
		return 1;
	}
	return 0;
}

int dirs_decide(struct dirplan *dp, struct side *a, struct side *b, struct plan *p,
		char *err, size_t errlen)
{
	size_t nda, ndb;
	char **da = deleted_on(p, 'a', &nda), **db = deleted_on(p, 'b', &ndb);
	int rc = da && db ? 0 : -1;
	for (size_t k = 0; rc == 0 && k < dp->n; k++) {
		struct fent *e = dp->v[k].e;
		int on_a = dp->v[k].side == 'a';
		struct side *x = on_a ? a : b, *y = on_a ? b : a;
		struct dir_side live = { 1, side_stamp(x, e, 0), 0 }, gone = { 0, { 0, NULL }, 0 };
		const struct crow_lite *r = side_catalog(y, e->path);
		if (r && r->deleted) {
			gone.tombstone = 1;
			gone.stamp.hlc = r->hlc;
			gone.stamp.node = y->node;
		}
		/* A Maildir's cur/ and new/ live and die with their mailbox. */
		char eval[4096];
		const char *sl = strrchr(e->path, '/');
		snprintf(eval, sizeof(eval), "%s", e->path);
		if (sl && (!strcmp(sl + 1, "cur") || !strcmp(sl + 1, "new")))
			eval[sl - e->path] = '\0';
		int keep = 1;
		if (gone.tombstone && mstamp_cmp(&gone.stamp, &live.stamp) > 0)
			keep = keeps_content(x, eval, on_a ? da : db, on_a ? nda : ndb, dp);
		struct merge_decision d;
		merge_dir(on_a ? &live : &gone, on_a ? &gone : &live, keep, &d);
		struct diff *df = plan_add(p, d.cls, d.act, e->path);
		char self = on_a ? 'a' : 'b', other = on_a ? 'b' : 'a';
		if (!df) {
			rc = -1;
			break;
		}
		df->kind = 'd';
		if (!(on_a ? (df->path_a = strdup(e->path)) : (df->path_b = strdup(e->path))) ||
		    (d.act == MA_DELETE_ON_A || d.act == MA_DELETE_ON_B
			     ? asprintf(&df->detail, "directory only on %c; removed on %c later and "
					"nothing replicated stays in it: delete on %c (with its "
					"node-local files)", self, other, self)
			     : asprintf(&df->detail, "directory only on %c; create on %c", self,
					other)) < 0)
			rc = -1;
	}
	if (rc < 0)
		snprintf(err, errlen, "out of memory");
	free(da);
	free(db);
	return rc;
}
