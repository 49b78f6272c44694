/* mhafsck_scan.c: one side of the comparison: walk the store directory
 * (lstat, never following symlinks), mark node-local paths, hash contents
 * on demand, and read the catalog of a state directory read-only. */
#define _GNU_SOURCE
#include "mhafsck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flagmerge.h"
#include "hlc.h"
#include "pathpat.h"

void progress(const struct fsck_opts *o, const char *what, size_t i, size_t n)
{
	if (!o->progress)
		return;
	if (i % 256 != 0 && !(n && i >= n))
		return;
	if (n) {
		char bar[31];
		size_t full = i >= n ? 30 : i * 30 / n;
		memset(bar, '#', full);
		memset(bar + full, '.', 30 - full);
		bar[30] = '\0';
		fprintf(stderr, "\rmhafsck: [%s] %3zu%% %s %zu/%zu\033[K", bar,
			i >= n ? 100 : i * 100 / n, what, i, n);
	} else
		fprintf(stderr, "\rmhafsck: %s %zu\033[K", what, i);
	if (n && i >= n)
		fputc('\n', stderr);
}

static int add_entry(struct side *s, const char *path, const struct stat *st, int local)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct fent *e = realloc(s->e, cap * sizeof(*e));
		if (!e)
			return -1;
		s->e = e;
		s->cap = cap;
	}
	struct fent *e = &s->e[s->n];
	memset(e, 0, sizeof(*e));
	if (!(e->path = strdup(path)))
		return -1;
	e->kind = S_ISREG(st->st_mode) ? 'f' : S_ISDIR(st->st_mode) ? 'd' :
		  S_ISLNK(st->st_mode) ? 'l' : 'o';
	e->local = local;
	e->mode = st->st_mode;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->size = st->st_size;
	e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	e->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	s->n++;
	return 0;
}

static int walk(struct side *s, const struct fsck_opts *o, int dfd, const char *rel,
		int local_parent, char *err, size_t errlen)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		snprintf(err, errlen, "%s/%s: %s", s->root, rel, strerror(errno));
		close(dfd);
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	errno = 0;
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strncmp(de->d_name, FSCK_TMP_PREFIX, strlen(FSCK_TMP_PREFIX)))
			continue;
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			snprintf(err, errlen, "%s/%s/%s: path too long", s->root, rel, de->d_name);
			rc = -1;
			break;
		}
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* gone while we looked */
			snprintf(err, errlen, "%s/%s: %s", s->root, path, strerror(errno));
			rc = -1;
			break;
		}
		int local = local_parent || pathpat_is_local(o->local_pat, o->n_local, path);
		if (add_entry(s, path, &st, local) < 0) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
			break;
		}
		progress(o, s->label == 'a' ? "scanning a" : "scanning b", s->n, 0);
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				snprintf(err, errlen, "%s/%s: %s", s->root, path, strerror(errno));
				rc = -1;
				break;
			}
			rc = walk(s, o, sub, path, local, err, errlen);
		}
		errno = 0;
	}
	if (rc == 0 && errno != 0) {
		snprintf(err, errlen, "%s/%s: readdir: %s", s->root, rel, strerror(errno));
		rc = -1;
	}
	closedir(d);
	return rc;
}

static int cmp_fent(const void *x, const void *y)
{
	return strcmp(((const struct fent *)x)->path, ((const struct fent *)y)->path);
}

int side_scan(struct side *s, const struct fsck_opts *o, char *err, size_t errlen)
{
	int fd = openat(s->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", s->root, strerror(errno));
		return -1;
	}
	if (walk(s, o, fd, "", 0, err, errlen) < 0)
		return -1;
	if (o->progress)
		fprintf(stderr, "\rmhafsck: scanned %c: %zu entries\033[K\n", s->label, s->n);
	if (s->n)
		qsort(s->e, s->n, sizeof(*s->e), cmp_fent);
	return 0;
}

static int cmp_crow(const void *x, const void *y)
{
	return strcmp(((const struct crow_lite *)x)->path, ((const struct crow_lite *)y)->path);
}

static int cmp_freg(const void *x, const void *y)
{
	return strcmp(((const struct flagreg_lite *)x)->key, ((const struct flagreg_lite *)y)->key);
}

/* The flag stamps (flagreg); a catalog older than the table has none. */
static int load_flagregs(struct side *s, sqlite3 *db)
{
	sqlite3_stmt *q = NULL;
	size_t cap = 0;
	int rc = sqlite3_prepare_v2(db, "SELECT folder, base, regs FROM flagreg", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return strstr(sqlite3_errmsg(db), "no such table") ? SQLITE_OK : rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *f = (const char *)sqlite3_column_text(q, 0);
		const char *b = (const char *)sqlite3_column_text(q, 1);
		const void *blob = sqlite3_column_blob(q, 2);
		size_t len = (size_t)sqlite3_column_bytes(q, 2);
		if (!f || !b || !blob || !len)
			continue;
		if (s->nfr == cap) {
			cap = cap ? cap * 2 : 256;
			struct flagreg_lite *v = realloc(s->fr, cap * sizeof(*v));
			if (!v)
				break;
			s->fr = v;
		}
		struct flagreg_lite *r = &s->fr[s->nfr];
		if (asprintf(&r->key, "%s\n%s", f, b) < 0)
			break;
		if (!(r->regs = malloc(len))) {
			free(r->key);
			break;
		}
		memcpy(r->regs, blob, len);
		r->len = len;
		s->nfr++;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_ROW ? SQLITE_NOMEM : rc;
	if (s->nfr)
		qsort(s->fr, s->nfr, sizeof(*s->fr), cmp_freg);
	return SQLITE_OK;
}

int side_flag_regs(const struct side *s, const char *path, struct fregs *r)
{
	size_t mlen;
	memset(r, 0, sizeof(*r));
	if (!s->nfr || !maildir_is_message(path, &mlen))
		return 0;
	const char *name = strrchr(path, '/') + 1;
	char *key = NULL;
	if (asprintf(&key, "%.*s\n%.*s", (int)mlen, path, (int)maildir_base_len(name), name) < 0)
		return 0;
	struct flagreg_lite k = { .key = key }, *hit = bsearch(&k, s->fr, s->nfr, sizeof(*s->fr), cmp_freg);
	free(key);
	return hit && fregs_decode(hit->regs, hit->len, r) == 0;
}

static int load_catalog(struct side *s, const char *state_dir, char *err, size_t errlen)
{
	char uri[PATH_MAX + 32];
	struct stat st;
	snprintf(uri, sizeof(uri), "%s/journal.db", state_dir);
	if (stat(uri, &st) < 0) {
		snprintf(err, errlen, "%s: %s", uri, strerror(errno));
		return -1;
	}
	snprintf(uri, sizeof(uri), "file:%s/journal.db?mode=ro", state_dir);
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	/* The node id breaks HLC ties; a catalog without meta keeps the path. */
	if (rc == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT node_id FROM meta WHERE id = 1", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		snprintf(s->node, sizeof(s->node), "node %05d", sqlite3_column_int(q, 0));
	sqlite3_finalize(q);
	q = NULL;
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT path, hlc, deleted, size, mtime_ns, hash FROM catalog",
					-1, &q, NULL);
	size_t cap = 0;
	while (rc == SQLITE_OK) {
		int step = sqlite3_step(q);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = step;
			break;
		}
		const char *p = (const char *)sqlite3_column_text(q, 0);
		if (!p)
			continue;
		if (s->nc == cap) {
			cap = cap ? cap * 2 : 1024;
			struct crow_lite *c = realloc(s->c, cap * sizeof(*c));
			if (!c) {
				rc = SQLITE_NOMEM;
				break;
			}
			s->c = c;
		}
		struct crow_lite *c = &s->c[s->nc];
		if (!(c->path = strdup(p))) {
			rc = SQLITE_NOMEM;
			break;
		}
		c->hlc = (uint64_t)sqlite3_column_int64(q, 1);
		c->deleted = sqlite3_column_int(q, 2) != 0;
		c->size = sqlite3_column_int64(q, 3);
		c->mtime_ns = sqlite3_column_int64(q, 4);
		c->has_hash = sqlite3_column_type(q, 5) == SQLITE_BLOB && sqlite3_column_bytes(q, 5) == 16;
		if (c->has_hash)
			hash_from_bytes(sqlite3_column_blob(q, 5), &c->hash);
		s->nc++;
	}
	if (rc == SQLITE_OK)
		rc = load_flagregs(s, db);
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "%s/journal.db: catalog: %s", state_dir,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_finalize(q);
	sqlite3_close(db);
	if (rc != SQLITE_OK)
		return -1;
	if (s->nc)
		qsort(s->c, s->nc, sizeof(*s->c), cmp_crow);
	s->has_catalog = 1;
	return 0;
}

int side_open(struct side *s, char label, const char *dir, const char *state_dir,
	      char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->label = label;
	s->rootfd = -1;
	s->statefd = -1;
	if (!(s->root = realpath(dir, NULL))) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	s->rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0) {
		snprintf(err, errlen, "%s: %s", s->root, strerror(errno));
		return -1;
	}
	snprintf(s->node, sizeof(s->node), "%s", s->root);
	if (state_dir && load_catalog(s, state_dir, err, errlen) < 0)
		return -1;
	if (state_dir && (s->statefd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
		return -1;
	}
	return 0;
}

void side_free(struct side *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].path);
	for (size_t i = 0; i < s->nc; i++)
		free(s->c[i].path);
	for (size_t i = 0; i < s->nfr; i++) {
		free(s->fr[i].key);
		free(s->fr[i].regs);
	}
	free(s->fr);
	free(s->e);
	free(s->c);
	free(s->root);
	if (s->rootfd >= 0)
		close(s->rootfd);
	if (s->statefd >= 0)
		close(s->statefd);
	memset(s, 0, sizeof(*s));
	s->rootfd = -1;
}

struct fent *side_find(const struct side *s, const char *path)
{
	struct fent key = { .path = (char *)path };
	return s->n ? bsearch(&key, s->e, s->n, sizeof(*s->e), cmp_fent) : NULL;
}

const struct crow_lite *side_catalog(const struct side *s, const char *path)
{
	struct crow_lite key = { .path = (char *)path };
	return s->nc ? bsearch(&key, s->c, s->nc, sizeof(*s->c), cmp_crow) : NULL;
}

int fent_hash(const struct side *s, struct fent *e, char *err, size_t errlen)
{
	if (e->hashed)
		return 0;
	const struct crow_lite *r = s->quick && e->kind == 'f' ? side_catalog(s, e->path) : NULL;
	if (r && !r->deleted && r->has_hash && r->size == e->size && r->mtime_ns == e->mtime_ns) {
		e->hash = r->hash; /* --quick: the catalog's hash of this very version */
		e->hashed = 1;
		return 0;
	}
	if (e->kind == 'l') {
		char buf[PATH_MAX];
		ssize_t n = readlinkat(s->rootfd, e->path, buf, sizeof(buf));
		if (n < 0) {
			snprintf(err, errlen, "%s/%s: %s", s->root, e->path, strerror(errno));
			return -1;
		}
		hash_buf(buf, (size_t)n, &e->hash);
		e->hashed = 1;
		return 0;
	}
	int fd = openat(s->rootfd, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s/%s: %s", s->root, e->path, strerror(errno));
		return -1;
	}
	uint64_t size;
	int rc = hash_fd(fd, &e->hash, &size);
	close(fd);
	if (rc < 0) {
		snprintf(err, errlen, "%s/%s: %s", s->root, e->path, strerror(-rc));
		return -1;
	}
	e->hashed = 1;
	return 0;
}

struct mstamp side_stamp(const struct side *s, const struct fent *e, int use_ctime)
{
	int64_t ns = use_ctime ? e->ctime_ns : e->mtime_ns;
	struct mstamp st = { HLC_MAKE(ns > 0 ? (uint64_t)ns / 1000000 : 0, 0), s->node };
	const struct crow_lite *r = side_catalog(s, e->path);
	if (r && !r->deleted)
		st.hlc = r->hlc;
	return st;
}
