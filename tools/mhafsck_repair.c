/* mhafsck_repair.c: apply a plan to both stores.  Every file is written
 * to a temporary name in its target directory (skipped by the scan, and a
 * dot file Dovecot ignores), fsynced, then renamed into place and the
 * directory fsynced: a reader sees the old file or the whole new one.
 * A new name never replaces an existing file (RENAME_NOREPLACE); only
 * last-writer-wins copies of small files replace. */
#define _GNU_SOURCE
#include "mhafsck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pathpat.h"
#include "uidlist.h"

static unsigned tmp_counter;

/* Open the directory holding path (store-relative); *name gets the last
 * component.  Returns the fd or -errno. */
static int open_parent(const struct side *s, const char *path, const char **name)
{
	const char *sl = strrchr(path, '/');
	*name = sl ? sl + 1 : path;
	if (!sl) {
		int fd = openat(s->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	char dir[PATH_MAX];
	if ((size_t)(sl - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, (size_t)(sl - path));
	dir[sl - path] = '\0';
	int fd = openat(s->rootfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int sync_dir(int dfd)
{
	return fsync(dfd) < 0 ? -errno : 0;
}

static void tmp_name(char *buf, size_t len)
{
	snprintf(buf, len, FSCK_TMP_PREFIX "%ld.%u", (long)getpid(), tmp_counter++);
}

static int copy_data(int in, int out)
{
	char buf[65536];
	for (;;) {
		ssize_t r = read(in, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		for (ssize_t off = 0; off < r;) {
			ssize_t w = write(out, buf + off, (size_t)(r - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			off += w;
		}
	}
}

/* Owner, mode and times of like onto the new file. */
static int set_meta(int fd, const struct stat *like, int keep_times)
{
	if (geteuid() == 0 && fchown(fd, like->st_uid, like->st_gid) < 0)
		return -errno;
	if (fchmod(fd, like->st_mode & 07777) < 0)
		return -errno;
	if (keep_times) {
		struct timespec ts[2] = { like->st_atim, like->st_mtim };
		if (futimens(fd, ts) < 0)
			return -errno;
	}
	return 0;
}

/* Rename the finished temp file into place and make it durable. */
static int install(int dfd, const char *tmp, const char *name, int replace)
{
	int rc = renameat2(dfd, tmp, dfd, name, replace ? 0 : RENAME_NOREPLACE);
	if (rc < 0) {
		rc = -errno;
		unlinkat(dfd, tmp, 0);
		return rc;
	}
	return sync_dir(dfd);
}

static int copy_symlink(const struct side *src, const char *spath, int dfd, const char *name,
			int replace)
{
	char target[PATH_MAX], tmp[64];
	ssize_t n = readlinkat(src->rootfd, spath, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	tmp_name(tmp, sizeof(tmp));
	if (symlinkat(target, dfd, tmp) < 0)
		return -errno;
	return install(dfd, tmp, name, replace);
}

static int make_dir(const struct side *src, const struct side *dst, const char *dpath);

/* Create the directories above path on dst that src has and dst lacks. */
static int ensure_parents(const struct side *src, const struct side *dst, const char *path)
{
	char buf[PATH_MAX];
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *sl = strchr(buf, '/'); sl; sl = strchr(sl + 1, '/')) {
		struct stat st;
		*sl = '\0';
		int rc = 0;
		if (fstatat(dst->rootfd, buf, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = errno == ENOENT ? make_dir(src, dst, buf) : -errno;
		else if (!S_ISDIR(st.st_mode))
			rc = -ENOTDIR;
		*sl = '/';
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int copy_obj(const struct side *src, const char *spath, const struct side *dst,
		    const char *dpath, int replace)
{
	const char *name;
	int prc = ensure_parents(src, dst, dpath);
	if (prc < 0)
		return prc;
	int dfd = open_parent(dst, dpath, &name);
	if (dfd < 0)
		return dfd;
	struct stat st;
	int rc = 0, in = -1, out = -1;
	char tmp[64];
	if (fstatat(src->rootfd, spath, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		rc = copy_symlink(src, spath, dfd, name, replace);
		goto out;
	}
	if ((in = openat(src->rootfd, spath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto out;
	}
	tmp_name(tmp, sizeof(tmp));
	if ((out = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = copy_data(in, out)) == 0 && (rc = set_meta(out, &st, 1)) == 0 && fsync(out) < 0)
		rc = -errno;
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	out = -1;
	if (rc == 0)
		rc = install(dfd, tmp, name, replace);
	else
		unlinkat(dfd, tmp, 0);
out:
	if (in >= 0)
		close(in);
	close(dfd);
	return rc;
}

/* Write buf as dpath, with the owner and mode of like (or 0600). */
static int write_buf(const struct side *dst, const char *dpath, const char *buf, size_t len)
{
	const char *name;
	int dfd = open_parent(dst, dpath, &name);
	if (dfd < 0)
		return dfd;
	struct stat like;
	if (fstatat(dfd, name, &like, AT_SYMLINK_NOFOLLOW) < 0) {
		memset(&like, 0, sizeof(like));
		like.st_mode = 0600;
		like.st_uid = geteuid();
		like.st_gid = getegid();
	}
	char tmp[64];
	tmp_name(tmp, sizeof(tmp));
	int rc = 0, out = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	for (size_t off = 0; rc == 0 && off < len;) {
		ssize_t w = write(out, buf + off, len - off);
		if (w < 0 && errno != EINTR)
			rc = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (rc == 0 && (rc = set_meta(out, &like, 0)) == 0 && fsync(out) < 0)
		rc = -errno;
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0)
		rc = install(dfd, tmp, name, 1);
	else
		unlinkat(dfd, tmp, 0);
	close(dfd);
	return rc;
}

/* Rename within s; the target's directories are made like other's. */
static int move_obj(const struct side *s, const struct side *other, const char *from,
		    const char *to)
{
	const char *nf, *nt;
	int prc = ensure_parents(other, s, to);
	if (prc < 0)
		return prc;
	int ff = open_parent(s, from, &nf);
	if (ff < 0)
		return ff;
	int ft = open_parent(s, to, &nt);
	if (ft < 0) {
		close(ff);
		return ft;
	}
	int rc = renameat2(ff, nf, ft, nt, RENAME_NOREPLACE) < 0 ? -errno : 0;
	if (rc == 0 && (rc = sync_dir(ft)) == 0)
		rc = sync_dir(ff);
	close(ff);
	close(ft);
	return rc;
}

static int delete_obj(const struct side *s, const char *path)
{
	const char *name;
	int dfd = open_parent(s, path, &name);
	if (dfd < 0)
		return dfd;
	int rc = unlinkat(dfd, name, 0) < 0 ? -errno : sync_dir(dfd);
	close(dfd);
	return rc;
}

static int mkdir_like(int dfd, const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdirat(dfd, name, mode & 07777) < 0)
		return errno == EEXIST ? 0 : -errno;
	if (geteuid() == 0 && fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (fchmodat(dfd, name, mode & 07777, 0) < 0)
		return -errno;
	return 0;
}

/* Create dpath like the other side's directory; a Maildir's cur/ or new/
 * also gets its (node-local, never copied) tmp/ sibling. */
static int make_dir(const struct side *src, const struct side *dst, const char *dpath)
{
	struct stat st;
	if (fstatat(src->rootfd, dpath, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	const char *name;
	int dfd = open_parent(dst, dpath, &name);
	if (dfd < 0)
		return dfd;
	int rc = mkdir_like(dfd, name, st.st_mode, st.st_uid, st.st_gid);
	if (rc == 0 && (!strcmp(name, "cur") || !strcmp(name, "new")))
		rc = mkdir_like(dfd, "tmp", st.st_mode, st.st_uid, st.st_gid);
	if (rc == 0)
		rc = sync_dir(dfd);
	close(dfd);
	return rc;
}

/* Remove the directory at path (relative to the open dir pfd, named rel
 * in the store) and everything in it, which must be node-local files,
 * mhafsck's temp files and directories: a replicated file found here was
 * not planned for deletion, so nothing is removed past it (-ENOTEMPTY). */
static int remove_in(int pfd, const char *name, const char *rel, const struct fsck_opts *o)
{
	int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s", rel, de->d_name) >= (int)sizeof(path)) {
			rc = -ENAMETOOLONG;
			break;
		}
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = errno == ENOENT ? 0 : -errno;
			continue;
		}
		if (S_ISDIR(st.st_mode))
			rc = remove_in(dirfd(d), de->d_name, path, o);
		else if (pathpat_is_local(o->local_pat, o->n_local, path) ||
			 !strncmp(de->d_name, FSCK_TMP_PREFIX, strlen(FSCK_TMP_PREFIX)))
			rc = unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT ? -errno : 0;
		else
			rc = -ENOTEMPTY;
	}
	if (rc == 0 && fsync(dirfd(d)) < 0)
		rc = -errno;
	closedir(d);
	if (rc == 0 && unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

static int remove_tree(const struct side *s, const char *path, const struct fsck_opts *o)
{
	const char *name;
	int pfd = open_parent(s, path, &name);
	if (pfd < 0)
		return pfd == -ENOENT ? 0 : pfd;
	int rc = remove_in(pfd, name, path, o);
	if (rc == 0)
		rc = sync_dir(pfd);
	close(pfd);
	return rc;
}

static int keep_both(struct side *a, struct side *b, const struct diff *d)
{
	int a_loses = d->act == MA_KEEP_BOTH_A_RENAMED;
	struct side *l = a_loses ? a : b, *w = a_loses ? b : a;
	const char *lpath = a_loses ? d->path_a : d->path_b;
	const char *wpath = a_loses ? d->path_b : d->path_a;
	int rc = move_obj(l, w, lpath, d->new_path);
	if (rc == 0)
		rc = copy_obj(w, wpath, l, wpath, 0);
	if (rc == 0)
		rc = copy_obj(l, d->new_path, w, d->new_path, 0);
	return rc;
}

/* The side's Dovecot index of the mailbox whose uidlist is at path knows
 * messages by UIDs the merge moved: remove it, so that Dovecot rebuilds it
 * from the uidlist and never serves one message's cached header with
 * another's body.  The node's index drop mark in the side's state
 * directory grows around the removal (uidlist_drop_index), so its MODSEQ
 * floor is raised again at each user's next session. */
static int drop_index(const struct side *s, const char *path)
{
	const char *name;
	int dfd = open_parent(s, path, &name);
	if (dfd < 0)
		return dfd;
	int n = uidlist_drop_index(dfd, s->statefd, UIDLIST_DROP_SYNC | UIDLIST_DROP_STRICT, NULL,
				   NULL);
	close(dfd);
	if (n > 0)
		fprintf(stderr, "mhafsck: %s on %c: UIDs moved; removed Dovecot's index (%d files)%s\n",
			path, s->label, n, s->statefd >= 0 ? "" :
			", and no state directory was given, so the node's MODSEQ floor is not raised again");
	return n < 0 ? n : 0;
}

/* The merged uidlist onto one side at path.  drop: its UIDs moved there,
 * so its index goes before the write and again after it (a running
 * Dovecot may have rebuilt it meanwhile): once the uidlist is written a
 * rerun sees no difference to repair, so an index left by a crash or a
 * failed removal after the write would stay, stale, for good. */
static int write_uidlist(const struct side *s, const char *path, const struct diff *d, int drop)
{
	int rc = drop ? drop_index(s, path) : 0;
	if (rc == 0)
		rc = write_buf(s, path, d->text, d->text_len);
	return rc == 0 && drop ? drop_index(s, path) : rc;
}

static int apply(struct side *a, struct side *b, const struct diff *d,
		 const struct fsck_opts *o)
{
	int replace = d->cls != MC_MISSING;
	switch (d->act) {
	case MA_COPY_TO_A:
		return d->kind == 'd' ? make_dir(b, a, d->path) : copy_obj(b, d->path_b, a, d->path_b, replace);
	case MA_COPY_TO_B:
		return d->kind == 'd' ? make_dir(a, b, d->path) : copy_obj(a, d->path_a, b, d->path_a, replace);
	case MA_DELETE_ON_A:
		return d->kind == 'd' ? remove_tree(a, d->path_a, o) : delete_obj(a, d->path_a);
	case MA_DELETE_ON_B:
		return d->kind == 'd' ? remove_tree(b, d->path_b, o) : delete_obj(b, d->path_b);
	case MA_MOVE_ON_A:
		return move_obj(a, b, d->path_a, d->path_b);
	case MA_MOVE_ON_B:
		return move_obj(b, a, d->path_b, d->path_a);
	case MA_KEEP_BOTH_A_RENAMED:
	case MA_KEEP_BOTH_B_RENAMED:
		return keep_both(a, b, d);
	case MA_MERGE_FLAGS: {
		/* both take the merged name (one of them may hold it already) */
		int rc = strcmp(d->path_a, d->new_path) ? move_obj(a, b, d->path_a, d->new_path) : 0;
		return rc || !strcmp(d->path_b, d->new_path) ? rc : move_obj(b, a, d->path_b, d->new_path);
	}
	case MA_MERGE_UIDLIST: {
		int rc = write_uidlist(a, d->path_a, d, d->drop_a);
		return rc ? rc : write_uidlist(b, d->path_b, d, d->drop_b);
	}
	default:
		return -ENOTSUP;
	}
}

size_t plan_repair(struct side *a, struct side *b, struct plan *p, const struct fsck_opts *o,
		   size_t *errors)
{
	size_t failed = 0;
	*errors = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct diff *d = &p->d[i];
		progress(o, "repairing", i + 1, p->n);
		if (d->cls == MC_STRAY)
			continue;
		if (d->act == MA_NONE) {
			failed++;
			continue;
		}
		int rc = apply(a, b, d, o);
		if (rc < 0) {
			fprintf(stderr, "mhafsck: %s: %s %s: %s\n", d->path, merge_class_name(d->cls),
				merge_action_name(d->act), strerror(-rc));
			failed++;
			(*errors)++;
		} else {
			d->done = 1;
		}
	}
	return failed;
}
