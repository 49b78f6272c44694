/* recover.c: the walk of the backing tree against the catalog.  One merge
 * walk, three uses: build the catalog (first start or a replaced database:
 * rows written without journaling), recover after an unclean stop (every
 * difference journaled through journal_record's code path), and the
 * read-only check behind "mhactl check".
 *
 * The walk holds one directory fd per level and builds paths on the heap
 * (openat/fstatat relative to the parent), so path length is unbounded; it
 * never follows symlinks and skips node-local paths and everything below
 * them.  Entries of a directory and the catalog's children of it are both
 * sorted bytewise and merged. */
#define _GNU_SOURCE
#include "journal_int.h"
#include "mtree.h"
#include "maildir_key.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pathpat.h"

enum wmode { W_BUILD, W_RECOVER, W_CHECK };

#define BUILD_BATCH 2000
/* Directory levels walked at most (paths themselves have no length limit). */
#define MAX_DEPTH 2048

struct walker {
	enum wmode mode;
	struct journal *j;          /* W_BUILD, W_RECOVER */
	sqlite3_stmt *child, *root; /* children queries */
	char *const *local;
	size_t nlocal;
	struct recover_stats *stats;
	FILE *out;                  /* W_CHECK */
	long ndiff;
	int verify_hash;
	unsigned batch;             /* W_BUILD: rows in the open transaction */
	int root_fd;                /* the backing tree (W_RECOVER: Maildir keys) */
};

static int foreign_queue_file(struct walker *w, const char *path);

static char *join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *p = malloc(dl + nl + 2);
	if (!p)
		return NULL;
	if (dl) {
		memcpy(p, dir, dl);
		p[dl++] = '/';
	}
	memcpy(p + dl, name, nl + 1);
	return p;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Sorted names of a directory (without "." and ".."). */
static int list_dir(int dirfd, char ***out, size_t *nout)
{
	int fd = dup(dirfd);
	char **v = NULL;
	size_t n = 0, cap = 0;
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = -errno;
		close(fd);
		return e;
	}
	rewinddir(d);
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno) {
				int e = -errno;
				closedir(d);
				free_names(v, n);
				return e;
			}
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				goto nomem;
			v = nv;
		}
		if (!(v[n] = strdup(de->d_name)))
			goto nomem;
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_names);
	*out = v;
	*nout = n;
	return 0;
nomem:
	closedir(d);
	free_names(v, n);
	return -ENOMEM;
}

/* Content hash of a regular file or a symlink's target; st is refreshed
 * from the opened file.  -ENOENT if it vanished or changed type. */
static int hash_entry(int dirfd, const char *name, struct stat *st, struct hash128 *h,
		      char **target)
{
	if (S_ISLNK(st->st_mode)) {
		/* st_size may be 0 (some file systems) or stale: grow until it fits */
		size_t cap = (size_t)st->st_size + 2 < 256 ? 256 : (size_t)st->st_size + 2;
		char *buf = NULL;
		ssize_t n;
		for (;;) {
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			n = readlinkat(dirfd, name, buf, cap);
			if (n < 0 || (size_t)n < cap || cap >= (1u << 20))
				break;
			cap *= 2;
		}
		if (n < 0 || (size_t)n >= cap) {
			int e = n < 0 ? (errno == EINVAL ? -ENOENT : -errno) : -ENAMETOOLONG;
			free(buf);
			return e;
		}
		buf[n] = '\0';
		hash_buf(buf, (size_t)n, h);
		if (target)
			*target = buf;
		else
			free(buf);
		return 0;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -ENOENT : -errno;
	struct stat fst;
	int rc = fstat(fd, &fst) < 0 ? -errno : 0;
	if (rc == 0 && !S_ISREG(fst.st_mode))
		rc = -ENOENT;
	if (rc == 0)
		rc = hash_fd(fd, h, NULL);
	if (rc == 0)
		*st = fst;
	close(fd);
	return rc;
}

static void report(struct walker *w, const char *kind, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void report(struct walker *w, const char *kind, const char *path, const char *fmt, ...)
{
	va_list ap;
	w->ndiff++;
	if (!w->out)
		return;
	fprintf(w->out, "%s %s: ", kind, path);
	va_start(ap, fmt);
	vfprintf(w->out, fmt, ap);
	va_end(ap);
	fputc('\n', w->out);
}

/* The catalog row of an object on disk, made by this node now. */
static void row_of(struct walker *w, struct crow *r, const struct stat *st, const struct hash128 *h)
{
	memset(r, 0, sizeof(*r));
	crow_from_stat(r, st);
	if (h) {
		r->hash = *h;
		r->has_hash = 1;
	}
	r->hlc = w->j->clock ? hlc_now(w->j->clock) : ++w->j->last_hlc;
	if (r->hlc > w->j->last_hlc)
		w->j->last_hlc = r->hlc;
	r->origin = w->j->node;
}

/* W_RECOVER: write a row without journaling it, in a transaction of its
 * own (the row and its digest tree change together). */
static int put_unjournaled(struct walker *w, const char *path, const struct crow *r)
{
	if (jexec(w->j, S_BEGIN) != SQLITE_OK)
		return -EIO;
	if (catalog_put(w->j, path, r) != SQLITE_OK || jexec(w->j, S_COMMIT) != SQLITE_OK) {
		jexec(w->j, S_ROLLBACK);
		return -EIO;
	}
	return 0;
}

static int build_row(struct walker *w, const char *path, const struct stat *st,
		     const struct hash128 *h)
{
	struct crow r;
	row_of(w, &r, st, h);
	if (catalog_put(w->j, path, &r) != SQLITE_OK)
		return -EIO;
	if (++w->batch >= BUILD_BATCH) {
		w->batch = 0;
		if (jexec(w->j, S_COMMIT) != SQLITE_OK || jexec(w->j, S_BEGIN) != SQLITE_OK)
			return -EIO;
	}
	return 0;
}

static int record(struct walker *w, enum jop op, const char *path, const char *path2,
		  uint32_t flags, const struct stat *st, const struct hash128 *h)
{
	struct jentry e;
	memset(&e, 0, sizeof(e));
	e.op = op;
	e.path = path;
	e.path2 = path2;
	e.flags = flags;
	if (st) {
		e.st = *st;
		e.has_st = 1;
	}
	if (h) {
		e.hash = *h;
		e.has_hash = 1;
	}
	return journal_record_locked(w->j, &e);
}

/* An object on disk the catalog does not have (live). */
static int on_new(struct walker *w, int dirfd, const char *name, const char *path, struct stat *st)
{
	struct hash128 h;
	char *target = NULL;
	int rc = 0, hashed = S_ISREG(st->st_mode) || S_ISLNK(st->st_mode);

	if (w->mode == W_CHECK) {
		report(w, "extra", path, "%c in the backing tree, not in the catalog",
		       kind_of_mode((uint32_t)st->st_mode));
		return 0;
	}
	if (foreign_queue_file(w, path)) {
		log_info("startup check: %s, another node's queue file, is not recorded here: its "
			 "owner sends it again", path);
		return 0;
	}
	if (hashed && (rc = hash_entry(dirfd, name, st, &h, &target)) < 0)
		return rc == -ENOENT ? 0 : rc;
	if (w->mode == W_BUILD) {
		rc = build_row(w, path, st, hashed ? &h : NULL);
	} else if (S_ISREG(st->st_mode) && maildir_is_message(path)) {
		/* A message that no journal entry made: most likely a peer's
		 * entry applied just before the crash and not yet recorded (the
		 * peer sends it again), else this node's own.  Journaled as a
		 * new write it would carry a fresh HLC and bring the message back
		 * on a peer that has moved or expunged it since.  The catalog
		 * records it, and the reconciliation walk decides by the merge
		 * rules (expunge wins; new mail the peer never had is sent). */
		struct crow r;
		row_of(w, &r, st, &h);
		if ((rc = put_unjournaled(w, path, &r)) == 0)
			log_info("startup check: message %s was in the store but not in the journal: "
				 "recorded, left to the reconciliation walk", path);
	} else if (S_ISDIR(st->st_mode)) {
		rc = record(w, JOP_MKDIR, path, NULL, 0, st, NULL);
	} else if (S_ISREG(st->st_mode)) {
		rc = record(w, JOP_WRITE, path, NULL, 0, st, &h);
	} else if (S_ISLNK(st->st_mode)) {
		rc = record(w, JOP_SYMLINK, path, target, 0, st, &h);
	} else {
		rc = record(w, JOP_MKNOD, path, NULL, 0, st, NULL);
	}
	free(target);
	if (rc == 0)
		w->stats->added++;
	return rc;
}

/* A live catalog row (and, for a directory, its subtree) with no object. */
static int on_gone(struct walker *w, const struct crow *row)
{
	struct crows t = { 0 };
	int rc = 0;

	if (w->mode == W_CHECK) {
		report(w, "missing", row->path, "%c in the catalog, not in the backing tree",
		       row->kind);
		return 0;
	}
	if (catalog_tree(w->j, row->path, &t) != SQLITE_OK)
		return -EIO;
	/* Deepest first: a descendant sorts after its ancestor. */
	for (size_t i = t.n; i-- > 0 && rc == 0;) {
		if (w->mode == W_BUILD) {
			struct crow r = t.v[i];
			r.deleted = 1;
			rc = catalog_put(w->j, r.path, &r) == SQLITE_OK ? 0 : -EIO;
		} else if (foreign_queue_file(w, t.v[i].path)) {
			/* moved or removed by its owner, whose entry the crash
			 * kept from the catalog: the row goes, without an entry */
			rc = catalog_forget(w->j, t.v[i].path) == SQLITE_OK ? 0 : -EIO;
		} else {
			/* A Maildir message renamed (flags) after its last journaled
			 * name: a rename, not an expunge, or the peer would apply it
			 * as one to its own copy of the message. */
			char later[4200];
			int found = t.v[i].kind == 'f' ?
				    maildir_find_key(w->root_fd, t.v[i].path, later, sizeof(later)) : 0;
			if (found == 1 && strcmp(later, t.v[i].path) != 0) {
				rc = record(w, JOP_RENAME, t.v[i].path, later, 0, NULL, NULL);
			} else if (found == 0 && maildir_is_message(t.v[i].path)) {
				/* A message gone without a journaled expunge: not
				 * known to be a user's, so it is not sent as one (the
				 * peer would delete its copy).  The row goes, with no
				 * tombstone; the walk brings the peer's copy back. */
				log_warn("startup check: message %s is missing and no expunge of it was "
					 "journaled: not propagated; the peer's copy, if any, comes back",
					 t.v[i].path);
				rc = catalog_forget(w->j, t.v[i].path) == SQLITE_OK ? 0 : -EIO;
			} else
				rc = record(w, t.v[i].kind == 'd' ? JOP_RMDIR : JOP_UNLINK, t.v[i].path,
					    NULL, 0, NULL, NULL);
		}
		if (rc == 0)
			w->stats->removed++;
	}
	crows_free(&t);
	return rc;
}

static uint32_t attr_flags(const struct crow *row, const struct stat *st)
{
	uint32_t f = 0;
	if (row->mode != (uint32_t)st->st_mode)
		f |= 1u << 0; /* FUSE_SET_ATTR_MODE */
	if (row->uid != (uint32_t)st->st_uid)
		f |= 1u << 1;
	if (row->gid != (uint32_t)st->st_gid)
		f |= 1u << 2;
	if (row->mtime_ns != mtime_ns_of(st))
		f |= 1u << 5; /* FUSE_SET_ATTR_MTIME */
	return f;
}

/* A file of another node's Postfix queue on the store
 * (.mhafs-queue/NODE/<queue>/..., tools/mhafs-queue), which only NODE
 * writes, or this node's takeover instance while the area's TAKEOVER
 * marker names this node.  Found changed after a crash, it is NODE's entry
 * applied here and not yet recorded, which NODE sends again.  Journaled
 * here with a fresh HLC, a stale name would come back to NODE over its
 * later moves of the file: Postfix then holds two files of one queue ID
 * and loses the message (seen in a fault run); an unlink could remove a
 * file NODE has moved back since.  So the start-up check leaves it to
 * NODE: no entry, and a row that no longer matches is forgotten. */
static int foreign_queue_file(struct walker *w, const char *path)
{
	static const char pre[] = ".mhafs-queue/";
	if (w->mode != W_RECOVER) /* w->j is NULL in check mode */
		return 0;
	const char *me = w->j->node_name;
	if (!me[0] || strncmp(path, pre, sizeof(pre) - 1) != 0)
		return 0;
	const char *node = path + sizeof(pre) - 1, *slash = strchr(node, '/');
	if (!slash || !strchr(slash + 1, '/') || slash == node)
		return 0; /* the area's own files: TAKEOVER, taken-ids, ... */
	size_t nlen = (size_t)(slash - node);
	if (nlen == strlen(me) && strncmp(node, me, nlen) == 0)
		return 0; /* this node's own queue */
	char marker[PATH_MAX], line[256] = "", want[128];
	snprintf(marker, sizeof(marker), "%.*sTAKEOVER", (int)(slash + 1 - path), path);
	int fd = openat(w->root_fd, marker, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		ssize_t n = read(fd, line, sizeof(line) - 1);
		line[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	snprintf(want, sizeof(want), "taken over by %s ", me);
	return strncmp(line, want, strlen(want)) != 0;
}

/* Both sides have the path: compare and journal what changed. */
static int on_both(struct walker *w, int dirfd, const char *name, const struct crow *row,
		   struct stat *st)
{
	struct hash128 h;
	char *target = NULL;
	char k = kind_of_mode((uint32_t)st->st_mode);
	int rc = 0;

	if (foreign_queue_file(w, row->path))
		return 0; /* its owner sends what changed (above) */
	if (k != row->kind) {
		if (w->mode == W_CHECK) {
			report(w, "changed", row->path, "kind %c in the catalog, %c in the backing tree",
			       row->kind, k);
			return 0;
		}
		if ((rc = on_gone(w, row)) < 0 || (rc = on_new(w, dirfd, name, row->path, st)) < 0)
			return rc;
		/* Counted as one change, not a removal and an addition. */
		w->stats->removed--;
		w->stats->added--;
		w->stats->changed++;
		return 0;
	}
	int meta = row->mode != (uint32_t)st->st_mode || row->uid != (uint32_t)st->st_uid ||
		   row->gid != (uint32_t)st->st_gid;
	/* size or mtime differ; or only the inode number, which a row made
	 * from a peer's entry carries none of this node's */
	int sized = k != 'd' && (row->size != (int64_t)st->st_size || row->mtime_ns != mtime_ns_of(st));
	int content = sized || (k != 'd' && row->ino != (uint64_t)st->st_ino);
	/* A build hashes every file, even where the row looks current (rows
	 * left by an interrupted build are not trusted); the check hashes on
	 * request; recovery where the metadata changed. */
	int want_hash = (k == 'f' || k == 'l') &&
			(content || w->mode == W_BUILD || (w->verify_hash && row->has_hash));
	if (!meta && !content && !want_hash)
		return 0;
	if (want_hash && (rc = hash_entry(dirfd, name, st, &h, k == 'l' ? &target : NULL)) < 0)
		return rc == -ENOENT ? 0 : rc;
	int same_data = !want_hash || (row->has_hash && row->hash.hi == h.hi && row->hash.lo == h.lo);
	if (!meta && !content && same_data) {
		free(target);
		return 0;
	}
	/* Only the inode number differs, the data is the same: the row is
	 * refreshed and nothing journaled.  An entry with a fresh HLC here
	 * would win over the peer's later changes to the file.  A message's
	 * row may have no hash at all (a peer's flag rename recorded before
	 * the peer's commit of the message, which Dovecot had renamed at
	 * once): a Maildir message never changes in place, so the same size
	 * and mtime are the same data, and the row takes the hash. */
	if (w->mode == W_RECOVER && !meta && !sized && want_hash &&
	    (row->has_hash ? same_data : k == 'f' && maildir_is_message(row->path))) {
		struct crow nr = *row;
		nr.ino = (uint64_t)st->st_ino;
		nr.hash = h;
		nr.has_hash = 1;
		free(target);
		return put_unjournaled(w, row->path, &nr);
	}

	if (w->mode == W_CHECK) {
		char a[HASH128_HEX], b[HASH128_HEX];
		/* the inode number alone is no difference (the start-up check
		 * refreshes it, as above); the data was compared by its hash */
		if (meta || sized)
			report(w, "changed", row->path,
			       "catalog mode %o uid %u gid %u size %" PRId64 " mtime_ns %" PRId64
			       " ino %" PRIu64 "; file mode %o uid %u gid %u size %lld mtime_ns %" PRId64
			       " ino %llu", row->mode, row->uid, row->gid, row->size, row->mtime_ns,
			       row->ino, (unsigned)st->st_mode, (unsigned)st->st_uid,
			       (unsigned)st->st_gid, (long long)st->st_size, mtime_ns_of(st),
			       (unsigned long long)st->st_ino);
		else if (!same_data)
			report(w, "hash", row->path, "catalog %s, file %s",
			       row->has_hash ? hash_hex(&row->hash, a) : "none", hash_hex(&h, b));
		free(target);
		return 0;
	}
	if (w->mode == W_BUILD) {
		rc = build_row(w, row->path, st, want_hash ? &h : (row->has_hash ? &row->hash : NULL));
	} else if (!same_data && k == 'f') {
		rc = record(w, JOP_WRITE, row->path, NULL, 0, st, &h);
	} else if (!same_data && k == 'l') {
		rc = record(w, JOP_SYMLINK, row->path, target, 0, st, &h);
	} else if (k == 'f' || k == 'l' || k == 'd') {
		rc = record(w, JOP_SETATTR, row->path, NULL, attr_flags(row, st), st,
			    want_hash ? &h : NULL);
	} else {
		rc = record(w, JOP_MKNOD, row->path, NULL, 0, st, NULL);
	}
	free(target);
	if (rc == 0)
		w->stats->changed++;
	return rc;
}

static int walk_dir(struct walker *w, int dirfd, const char *dir, unsigned depth);

/* Handle one name of dir, present on disk (name_fs), in the catalog (row),
 * or both; then descend into it if it is a directory on disk. */
static int visit(struct walker *w, int dirfd, const char *dir, const char *name,
		 int on_disk, const struct crow *row, unsigned depth)
{
	struct stat st;
	int rc = 0;
	char *path = row ? NULL : join(dir, name);
	const char *p = row ? row->path : path;

	if (!p)
		return -ENOMEM;
	if (pathpat_is_local(w->local, w->nlocal, p))
		goto out;
	if (on_disk && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT) {
			rc = -errno;
			goto out;
		}
		on_disk = 0;
	}
	if (on_disk)
		w->stats->scanned++;
	if (on_disk && row)
		rc = on_both(w, dirfd, name, row, &st);
	else if (on_disk)
		rc = on_new(w, dirfd, name, p, &st);
	else if (row)
		rc = on_gone(w, row);
	if (rc == 0 && on_disk && S_ISDIR(st.st_mode) && depth >= MAX_DEPTH) {
		rc = -ELOOP; /* one fd and one stack frame per level: refuse, loudly */
	} else if (rc == 0 && on_disk && S_ISDIR(st.st_mode)) {
		int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = errno == ENOENT ? 0 : -errno;
		} else {
			rc = walk_dir(w, fd, p, depth + 1);
			close(fd);
		}
	}
out:
	if (rc < 0 && rc != -ENOMEM)
		log_err("startup check: %s: %s", p, strerror(-rc));
	free(path);
	return rc;
}

static int walk_dir(struct walker *w, int dirfd, const char *dir, unsigned depth)
{
	char **names = NULL;
	size_t nn = 0, i = 0, k = 0;
	struct crows rows = { 0 };
	int rc;

	if ((rc = list_dir(dirfd, &names, &nn)) < 0) {
		log_err("startup check: %s: %s", dir[0] ? dir : ".", strerror(-rc));
		return rc;
	}
	if (catalog_children(w->child, w->root, dir, &rows) != SQLITE_OK) {
		free_names(names, nn);
		return -EIO;
	}
	size_t skip = dir[0] ? strlen(dir) + 1 : 0;
	while (rc == 0 && (i < nn || k < rows.n)) {
		int c = i == nn ? 1 : k == rows.n ? -1 : strcmp(names[i], rows.v[k].path + skip);
		if (c < 0)
			rc = visit(w, dirfd, dir, names[i++], 1, NULL, depth);
		else if (c > 0)
			rc = visit(w, dirfd, dir, rows.v[k].path + skip, 0, &rows.v[k], depth), k++;
		else
			rc = visit(w, dirfd, dir, names[i++], 1, &rows.v[k], depth), k++;
	}
	crows_free(&rows);
	free_names(names, nn);
	return rc;
}

int journal_recover(struct journal *j, int backing_fd, char *const *local, size_t nlocal,
		    struct recover_stats *st)
{
	struct recover_stats dummy;
	struct walker w;
	int rc;

	memset(&w, 0, sizeof(w));
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&j->lock);
	w.mode = j->catalog_built ? W_RECOVER : W_BUILD;
	w.j = j;
	w.child = j->st[S_CCHILD];
	w.root = j->st[S_CCHILD_ROOT];
	w.local = local;
	w.nlocal = nlocal;
	w.stats = st;
	w.root_fd = backing_fd;
	if (w.mode == W_BUILD && (jexec(j, S_BEGIN) != SQLITE_OK || mtree_mark_stale(j->db) != SQLITE_OK)) {
		rc = -EIO;
		goto out;
	}
	/* a build writes rows by the thousand: the digest tree is computed
	 * once at the end instead of row by row */
	j->mt_suspended = w.mode == W_BUILD;
	rc = walk_dir(&w, backing_fd, "", 0);
	j->mt_suspended = 0;
	if (w.mode == W_BUILD) {
		if (rc == 0 && mtree_rebuild(j->db) != SQLITE_OK)
			rc = -EIO;
		if (rc == 0) {
			sqlite3_stmt *s = jst(j, S_META_BUILT);
			sqlite3_bind_int(s, 1, 1);
			sqlite3_bind_int64(s, 2, (int64_t)j->last_hlc);
			if (jexec(j, S_META_BUILT) != SQLITE_OK || jexec(j, S_COMMIT) != SQLITE_OK)
				rc = -EIO;
		}
		if (rc == 0)
			j->catalog_built = 1;
		else
			jexec(j, S_ROLLBACK);
	}
out:
	pthread_mutex_unlock(&j->lock);
	return rc;
}

/* Whether the digest tree is marked up to date with the catalog. */
static int tree_built(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	int built = 0;
	if (sqlite3_prepare_v2(db, "SELECT built FROM mtree_meta WHERE id = 1", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		built = sqlite3_column_int(s, 0) == 1;
	sqlite3_finalize(s);
	return built;
}

long journal_check(const char *state_dir, int backing_fd, char *const *local, size_t nlocal,
		   int verify_hash, FILE *out, char *err, size_t errlen)
{
	char path[4200];
	sqlite3 *db = NULL;
	sqlite3_stmt *child = NULL, *root = NULL, *meta = NULL;
	struct recover_stats st;
	struct walker w;
	long ret = -1;

	snprintf(path, sizeof(path), "%s/%s", state_dir, JOURNAL_DB_NAME);
	if (access(path, F_OK) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, jstmt_sql[S_CCHILD], -1, &child, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, jstmt_sql[S_CCHILD_ROOT], -1, &root, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT catalog_built FROM meta WHERE id = 1", -1, &meta,
			       NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
		goto out;
	}
	if (sqlite3_step(meta) != SQLITE_ROW || sqlite3_column_int(meta, 0) != 1) {
		snprintf(err, errlen, "%s: the catalog has not been built yet", path);
		goto out;
	}
	sqlite3_reset(meta);
	/* One read transaction: the catalog seen is one consistent state. */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	memset(&w, 0, sizeof(w));
	memset(&st, 0, sizeof(st));
	w.mode = W_CHECK;
	w.child = child;
	w.root = root;
	w.local = local;
	w.nlocal = nlocal;
	w.stats = &st;
	w.out = out;
	w.verify_hash = verify_hash;
	int rc = walk_dir(&w, backing_fd, "", 0);
	/* the digest tree against a recomputation from the same snapshot */
	long dbad = 0;
	if (rc == 0 && sqlite3_table_column_metadata(db, NULL, "mtree", "digest", NULL, NULL, NULL, NULL,
						     NULL) == SQLITE_OK) {
		if (tree_built(db))
			dbad = mtree_verify(db, out);
		else /* a running mhafs writes it within a second; a crash rebuilds it */
			fprintf(out, "digest tree: not verified: it lags the catalog (mhafs is writing "
				"it, or rebuilds it at its next start)\n");
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc < 0) {
		snprintf(err, errlen, "walking the backing tree: %s", strerror(-rc));
		goto out;
	}
	if (dbad < 0) {
		snprintf(err, errlen, "%s: verifying the digest tree: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	ret = w.ndiff + dbad;
out:
	sqlite3_finalize(meta);
	sqlite3_finalize(child);
	sqlite3_finalize(root);
	sqlite3_close(db);
	return ret;
}
