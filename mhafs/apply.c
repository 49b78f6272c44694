/* apply.c: idempotent, durable application of a peer's journal entries to
 * the backing tree (see apply.h).  Content arrives in a staging file that
 * is checked against the entry's xxh3-128, given its owner, mode and
 * mtime, fsynced, and renamed into place; the directory is fsynced after
 * every change, so an acknowledged entry survives a crash of this node.
 * In batched mode the per-file and per-directory fsyncs are replaced by one
 * syncfs() of the backing file system per batch (apply_sync), which the
 * receiver calls before it acknowledges any entry of the batch: a group
 * commit. */
#define _GNU_SOURCE
#include "apply.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuse_lowlevel.h" /* FUSE_SET_ATTR_* bits journaled by setattr */
#include "hash.h"
#include "log.h"
#include "apply_int.h"
#include "maildir_key.h"
#include "pathpat.h"

int applier_init(struct applier *a, int root_fd, char *const *local, size_t nlocal, char *err,
		 size_t errlen)
{
	a->root_fd = root_fd;
	a->mark_fd = -1;
	a->local = local;
	a->nlocal = nlocal;
	if (mkdirat(root_fd, STAGING_DIR, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s in the backing directory: %s", STAGING_DIR,
			 strerror(errno));
		return -1;
	}
	a->staging_fd = pathpat_open_beneath(root_fd, STAGING_DIR, O_PATH | O_DIRECTORY);
	if (a->staging_fd < 0) {
		snprintf(err, errlen, "%s: %s", STAGING_DIR, strerror(-a->staging_fd));
		return -1;
	}
	return 0;
}

void applier_fini(struct applier *a)
{
	if (a->staging_fd >= 0)
		close(a->staging_fd);
	a->staging_fd = -1;
	if (a->mark_fd >= 0)
		close(a->mark_fd);
	a->mark_fd = -1;
}

int apply_sync(struct applier *a)
{
	int fd = openat(a->staging_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = syncfs(fd) < 0 ? -errno : 0;
	close(fd);
	if (rc < 0)
		log_err("apply: syncfs of the backing file system failed: %s", strerror(-rc));
	return rc;
}

int apply_check(struct applier *a, const struct jentry *e)
{
	const char *paths[2] = { e->path, (e->op == JOP_SYMLINK || e->op == JOP_COMMIT) ? NULL : e->path2 };
	for (int i = 0; i < 2; i++) {
		const char *p = paths[i];
		if (!p)
			continue;
		if (!pathpat_is_safe(p) || strncmp(p, STAGING_DIR, sizeof(STAGING_DIR) - 1) == 0)
			return -EPERM;
		if (pathpat_is_local(a->local, a->nlocal, p))
			return -EPERM;
	}
	return 0;
}

/* Split path into its parent (opened O_PATH beneath the root, created
 * with mode 0755 if missing) and its last component. */
int apply_open_parent(struct applier *a, const char *path, const char **name, int create)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*name = path;
		int fd = fcntl(a->root_fd, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	size_t n = (size_t)(slash - path);
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	*name = slash + 1;
	int fd = pathpat_open_beneath(a->root_fd, dir, O_PATH | O_DIRECTORY);
	if (fd == -ENOENT && create) {
		/* the peer's directory entries normally come first; make any
		 * that are missing (tmp/ is node-local and never sent) */
		for (char *p = dir;; p++) {
			if (*p == '/' || *p == '\0') {
				char c = *p;
				*p = '\0';
				int pfd = pathpat_open_beneath(a->root_fd, dir, O_PATH | O_DIRECTORY);
				if (pfd == -ENOENT) {
					if (mkdirat(a->root_fd, dir, 0755) < 0 && errno != EEXIST)
						return -errno;
				} else if (pfd >= 0) {
					close(pfd);
				} else {
					return pfd;
				}
				*p = c;
				if (c == '\0')
					break;
			}
		}
		fd = pathpat_open_beneath(a->root_fd, dir, O_PATH | O_DIRECTORY);
	}
	return fd;
}

int apply_fsync_dir(const struct applier *a, int path_fd)
{
	if (a->batched)
		return 0; /* apply_sync() makes the whole batch durable */
	int fd = openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static void set_owner_mode(int dfd, const char *name, const struct jentry *e)
{
	if (!e->has_st)
		return;
	if (fchownat(dfd, name, e->st.st_uid, e->st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		log_warn("apply: chown %s: %s", e->path, strerror(errno));
	if (!S_ISLNK(e->st.st_mode) && fchmodat(dfd, name, e->st.st_mode & 07777, 0) < 0)
		log_warn("apply: chmod %s: %s", e->path, strerror(errno));
}

static atomic_uint staging_counter;

int staged_open(struct applier *a, const struct jentry *e, struct staged *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "in.%u.%" PRIu64 ".%u", e->origin, e->seq,
		 atomic_fetch_add(&staging_counter, 1));
	s->fd = openat(a->staging_fd, s->name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s->fd < 0)
		return -errno;
	s->expect = e->has_st ? (uint64_t)e->st.st_size : 0;
	s->hs = hash_stream_new();
	if (!s->hs) {
		staged_discard(a, s);
		return -ENOMEM;
	}
	return 0;
}

int staged_write(struct staged *s, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(s->fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (s->hs)
			hash_stream_update(s->hs, p, (size_t)w);
		p += w;
		n -= (size_t)w;
		s->got += (uint64_t)w;
	}
	return 0;
}

void staged_discard(struct applier *a, struct staged *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->name[0])
		unlinkat(a->staging_fd, s->name, 0);
	s->name[0] = '\0';
	hash_stream_free(s->hs);
	s->hs = NULL;
}

/* The sender says the committed file is a hard link of e->path2: if this
 * node has that file with the same content, link it (replacing whatever
 * is at name) instead of storing a second copy.  0 when linked. */
static int link_sibling(struct applier *a, const struct jentry *e, int pfd, const char *name)
{
	const char *sname;
	struct hash128 h;
	uint64_t size;
	char tmpname[64];
	int rc = -1;

	if (!pathpat_is_safe(e->path2) || pathpat_is_local(a->local, a->nlocal, e->path2))
		return -1;
	int spfd = apply_open_parent(a, e->path2, &sname, 0);
	if (spfd < 0)
		return -1;
	if (hash_at(spfd, sname, &h, &size) == 0 && h.hi == e->hash.hi && h.lo == e->hash.lo) {
		snprintf(tmpname, sizeof(tmpname), "link.%u.%" PRIu64, e->origin, e->seq);
		unlinkat(a->staging_fd, tmpname, 0);
		if (linkat(spfd, sname, a->staging_fd, tmpname, 0) == 0) {
			if (renameat(a->staging_fd, tmpname, pfd, name) == 0)
				rc = apply_fsync_dir(a, pfd);
			else
				unlinkat(a->staging_fd, tmpname, 0);
		}
	}
	close(spfd);
	return rc;
}

/* Whether this node changed path after the peer made entry e: the peer's
 * older change loses (last writer wins by HLC, node id breaking ties). */
static int local_newer(struct applier *a, const char *path, const struct jentry *e)
{
	hlc_t lh;
	uint16_t lo;
	if (!a->local_hlc || a->local_hlc(a->hlc_arg, path, &lh, &lo) < 0 || lo == e->origin)
		return 0; /* unknown here, or last changed by the peer itself */
	return lh > e->hlc || (lh == e->hlc && lo > e->origin);
}

/* A Maildir message that this node renamed (flags, folder) after the
 * peer's rename was made: ours wins, whether or not the names match. */
static int local_change_newer(struct applier *a, const struct jentry *e)
{
	return e->path2 && maildir_is_message(e->path) && local_newer(a, e->path, e);
}

/* The whole content of a small file Dovecot rewrites in place of the old
 * (dovecot-keywords, subscriptions, dovecot-uidvalidity*, sieve scripts,
 * anything but a message or the uidlist, which is merged): the version
 * with the later HLC wins on both nodes. */
static int content_older_than_ours(struct applier *a, const struct jentry *e)
{
	return !maildir_is_message(e->path) && !apply_is_uidlist(e->path) && local_newer(a, e->path, e);
}

/* Keep this node's content of e->path: the catalog goes on recording it
 * (e takes its hash and size). */
static int keep_ours(int pfd, const char *name, struct jentry *e, struct applier *a)
{
	uint64_t size = 0;
	int rc = hash_at(pfd, name, &e->hash, &size);
	e->st.st_size = (off_t)size;
	a->entry_changed = 1;
	return rc;
}

/* Whether this node's version of a message (local) was changed after the
 * peer made entry e: last writer wins by HLC, node id breaking ties. */
static int version_here_newer(struct applier *a, const char *local, const struct jentry *e)
{
	hlc_t hl = 0;
	uint16_t ol = 0;
	if (a->local_hlc)
		a->local_hlc(a->hlc_arg, local, &hl, &ol);
	return e->hlc < hl || (e->hlc == hl && e->origin < ol);
}

/* Content of a message under a name this node does not hold, where it
 * holds the same message (base name, same content) under another name:
 * the peer moved or copied it into this folder under other flags.  A
 * Maildir keeps one file per base name (two make Dovecot give one a new
 * base name, and both then live on as two messages), so the later change
 * wins as for a rename: ours stays and the entry is skipped, or ours takes
 * the peer's name and the entry is recorded as that rename.  Returns 1
 * when so handled, 0 to install the content as it came, or -errno. */
static int content_of_message_here(struct applier *a, struct jentry *e, int pfd, const char *name,
				   int *skipped)
{
	char local[PATH_MAX];
	const char *lname;
	struct hash128 h;
	uint64_t size = 0;

	if (!maildir_is_message(e->path) || !e->has_hash ||
	    faccessat(pfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	int found = maildir_find_key(a->root_fd, e->path, local, sizeof(local));
	if (found <= 0)
		return found;
	int lpfd = apply_open_parent(a, local, &lname, 0);
	if (lpfd < 0)
		return lpfd;
	int rc = hash_at(lpfd, lname, &h, &size);
	if (rc < 0 || h.hi != e->hash.hi || h.lo != e->hash.lo) {
		close(lpfd);
		if (rc == 0)
			log_warn("conflict: %s from node %u has other content than this node's %s: both kept",
				 e->path, e->origin, local);
		return rc == -ENOENT ? 0 : rc;
	}
	char target[PATH_MAX];
	int merged = apply_flags_content(a, e, local, target, sizeof(target));
	if (merged < 0) {
		close(lpfd);
		return merged;
	}
	if (merged ? strcmp(target, local) == 0 : version_here_newer(a, local, e)) {
		log_notice("conflict: content of %s from node %u is this node's message %s, changed here "
			   "later: kept ours (%s)", e->path, e->origin, local,
			   merged ? "each flag's later change" : "last writer wins");
		a->n_local_newer++;
		*skipped = 1;
		close(lpfd);
		return 1;
	}
	if (merged && strcmp(target, e->path) != 0) {
		/* a third name: ours takes each flag's later change */
		close(lpfd);
		if ((rc = apply_move_here(a, local, target)) < 0)
			return rc;
		log_notice("conflict: content of %s from node %u is this node's message %s: merged flag "
			   "by flag, now %s", e->path, e->origin, local, target);
		a->n_flags_merged++;
		apply_record_rename(a, e, local, target);
		*skipped = 0;
		return 1;
	}
	rc = renameat(lpfd, lname, pfd, name) < 0 ? -errno : 0;
	if (rc == 0 && e->has_st) {
		/* the peer's attributes, as its content would have brought
		 * (Dovecot takes a message's INTERNALDATE from its mtime) */
		struct timespec tv[2] = { e->st.st_mtim, e->st.st_mtim };
		set_owner_mode(pfd, name, e);
		if (utimensat(pfd, name, tv, AT_SYMLINK_NOFOLLOW) < 0)
			log_warn("apply: mtime of %s: %s", e->path, strerror(errno));
	}
	if (rc == 0)
		rc = apply_fsync_dir(a, lpfd);
	if (rc == 0)
		rc = apply_fsync_dir(a, pfd);
	close(lpfd);
	if (rc < 0)
		return rc;
	log_notice("conflict: content of %s from node %u is this node's message %s: renamed to the "
		   "peer's name (theirs is newer: last writer wins)", e->path, e->origin, local);
	a->n_remote_newer++;
	apply_record_rename(a, e, local, e->path);
	return 1;
}

/* Make the staged content final at e->path. */
static int install_content(struct applier *a, struct jentry *e, struct staged *s, int *skipped)
{
	struct hash128 h;
	const char *name;
	int rc;

	/* verify what arrived before it replaces anything; it was hashed as
	 * it arrived, so what we just wrote is not read back */
	if (!s->hs)
		return -EINVAL;
	hash_stream_final(s->hs, &h);
	if (s->got != s->expect) {
		log_err("apply: content of %s (%u/%" PRIu64 ") is %" PRIu64 " bytes, %" PRIu64 " announced; refused",
			e->path, e->origin, e->seq, s->got, s->expect);
		return -EBADMSG;
	}
	if (e->has_hash && (h.hi != e->hash.hi || h.lo != e->hash.lo)) {
		log_err("apply: content of %s (%u/%" PRIu64 ") does not match its checksum; refused",
			e->path, e->origin, e->seq);
		return -EBADMSG;
	}
	if (e->has_st) {
		struct timespec tv[2] = { e->st.st_mtim, e->st.st_mtim };
		if (fchown(s->fd, e->st.st_uid, e->st.st_gid) < 0 || fchmod(s->fd, e->st.st_mode & 07777) < 0 ||
		    futimens(s->fd, tv) < 0)
			log_warn("apply: attributes of %s: %s", e->path, strerror(errno));
	}
	if (!a->batched && fsync(s->fd) < 0)
		return -errno;
	int pfd = apply_open_parent(a, e->path, &name, 1);
	if (pfd < 0)
		return pfd;
	if ((rc = content_of_message_here(a, e, pfd, name, skipped)) != 0) {
		close(pfd);
		return rc < 0 ? rc : 0;
	}
	if (e->op == JOP_COMMIT && e->path2 && link_sibling(a, e, pfd, name) == 0) {
		close(pfd);
		return 0; /* the staged copy is discarded by the caller */
	}
	if (content_older_than_ours(a, e) && faccessat(pfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		log_notice("conflict: content of %s from node %u is older than this node's: kept ours "
			   "(last writer wins)", e->path, e->origin);
		a->n_local_newer++;
		rc = keep_ours(pfd, name, e, a);
		close(pfd);
		return rc;
	}
	int locked = 0;
	if (apply_is_uidlist(e->path)) {
		locked = apply_uidlist_lock(a, pfd, e->path);
		int v = apply_uidlist_merge(a, e, s, pfd, name);
		if (v == UIDLIST_KEEP_OURS) {
			/* the catalog keeps recording our content */
			rc = keep_ours(pfd, name, e, a);
			apply_uidlist_unlock(pfd, locked);
			close(pfd);
			return rc;
		}
		if (v < 0) {
			apply_uidlist_unlock(pfd, locked);
			close(pfd);
			return v;
		}
		if (v == UIDLIST_MERGED) {
			a->entry_changed = 1;
			a->journal_local = 1;
			if (!a->batched && fsync(s->fd) < 0) {
				rc = -errno;
				apply_uidlist_unlock(pfd, locked);
				close(pfd);
				return rc;
			}
		}
	}
	rc = renameat(a->staging_fd, s->name, pfd, name) < 0 ? -errno : 0;
	if (rc == 0) {
		s->name[0] = '\0';
		rc = apply_fsync_dir(a, pfd);
	}
	apply_uidlist_unlock(pfd, locked);
	close(pfd);
	return rc;
}

static int apply_setattr(int pfd, const char *name, const struct jentry *e)
{
	struct stat cur;
	if (!e->has_st)
		return 0;
	if (fstatat(pfd, name, &cur, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (e->flags & FUSE_SET_ATTR_MODE && !S_ISLNK(cur.st_mode) &&
	    fchmodat(pfd, name, e->st.st_mode & 07777, 0) < 0)
		return -errno;
	if (e->flags & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t u = (e->flags & FUSE_SET_ATTR_UID) ? e->st.st_uid : (uid_t)-1;
		gid_t g = (e->flags & FUSE_SET_ATTR_GID) ? e->st.st_gid : (gid_t)-1;
		if (fchownat(pfd, name, u, g, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	/* directory times stay this node's own, so they only move forward */
	if ((e->flags & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_ATIME |
			 FUSE_SET_ATTR_ATIME_NOW)) && S_ISREG(cur.st_mode)) {
		struct timespec tv[2] = { { 0, UTIME_OMIT }, e->st.st_mtim };
		if (utimensat(pfd, name, tv, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	return 0;
}

/* The entry's source is not here: find this node's version of the same
 * message and apply the split-brain rules (see apply.h). */
static int resolve_moved(struct applier *a, struct jentry *e, int pfd2, const char *name2, int *skipped)
{
	char local[PATH_MAX];
	const char *lname;
	int found = maildir_find_key(a->root_fd, e->path, local, sizeof(local)), rc;

	if (found < 0)
		return found;
	if (found == 0) {
		log_notice("conflict: %s %s from node %u dropped: the message was expunged here "
			   "(expunge wins)", jop_name(e->op), e->path, e->origin);
		a->n_expunged++;
		*skipped = 1;
		return 0;
	}
	if (e->op == JOP_RENAME || e->op == JOP_SETATTR) {
		if (version_here_newer(a, local, e)) {
			log_notice("conflict: %s %s from node %u is older than this node's change to the "
				   "same message (%s): kept ours (last writer wins)", jop_name(e->op), e->path,
				   e->origin, local);
			a->n_local_newer++;
			*skipped = 1;
			return 0;
		}
	}
	int lpfd = apply_open_parent(a, local, &lname, 0);
	if (lpfd < 0)
		return lpfd;
	if (e->op == JOP_RENAME)
		rc = renameat(lpfd, lname, pfd2, name2) < 0 ? -errno : 0;
	else if (e->op == JOP_LINK)
		rc = linkat(lpfd, lname, pfd2, name2, 0) < 0 ? -errno : 0;
	else
		rc = 0;
	close(lpfd);
	if (rc == 0) {
		log_notice("conflict: %s %s from node %u applied to this node's version %s%s",
			   jop_name(e->op), e->path, e->origin, local,
			   e->op == JOP_RENAME ? " (theirs is newer: last writer wins)" : "");
		if (e->op == JOP_RENAME)
			a->n_remote_newer++;
		else
			a->n_redirected++;
		snprintf(a->redirect, sizeof(a->redirect), "%s", local);
		e->path = a->redirect;
	}
	return rc;
}

int apply_entry(struct applier *a, struct jentry *e, struct staged *s, int *skipped)
{
	const char *name, *name2;
	int pfd = -1, pfd2 = -1, rc = 0;
	struct stat st;

	*skipped = 0;
	a->entry_changed = 0;
	a->journal_local = 0;
	if ((rc = apply_check(a, e)) < 0) {
		log_err("apply: refused %s %s from node %u: path outside the replicated store",
			jop_name(e->op), e->path, e->origin);
		return rc;
	}
	if ((e->op == JOP_WRITE || e->op == JOP_COMMIT) && s && s->fd >= 0) {
		rc = install_content(a, e, s, skipped);
		goto done;
	}
	pfd = apply_open_parent(a, e->path, &name, e->op != JOP_UNLINK && e->op != JOP_RMDIR);
	if (pfd < 0) {
		rc = pfd;
		goto done;
	}
	switch (e->op) {
	case JOP_MKDIR:
		if (mkdirat(pfd, name, e->has_st ? e->st.st_mode & 07777 : 0755) < 0) {
			rc = -errno;
			if (rc == -EEXIST && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(st.st_mode))
				rc = 0;
			break;
		}
		set_owner_mode(pfd, name, e);
		break;
	case JOP_CREATE:
	case JOP_MKNOD: {
		mode_t mode = e->has_st ? e->st.st_mode : (S_IFREG | 0600);
		if (mknodat(pfd, name, mode, e->has_st ? e->st.st_rdev : 0) < 0)
			rc = errno == EEXIST ? 0 : -errno;
		else
			set_owner_mode(pfd, name, e);
		break;
	}
	case JOP_SYMLINK:
		if (symlinkat(e->path2, pfd, name) < 0)
			rc = errno == EEXIST ? 0 : -errno;
		else
			set_owner_mode(pfd, name, e);
		break;
	case JOP_UNLINK:
		if (unlinkat(pfd, name, 0) < 0) {
			if (errno != ENOENT) {
				rc = -errno;
				break;
			}
			/* renamed here meanwhile (flags): the removal still wins */
			rc = apply_remove_version(a, e, e->path, "the removal wins over a flag change");
			if (rc > 0)
				a->n_expunged++;
			else if (rc == 0) /* gone from this folder here too */
				rc = apply_removals_meet(a, e);
			if (rc > 0)
				rc = 0;
		}
		break;
	case JOP_RMDIR:
		if (unlinkat(pfd, name, AT_REMOVEDIR) < 0) {
			if (errno == ENOENT)
				break;
			rc = -errno;
			if (rc == -ENOTEMPTY) {
				/* node-local files (indexes, tmp/) or mail that
				 * arrived here meanwhile: keep the directory */
				log_notice("apply: rmdir %s from node %u kept: not empty here", e->path,
					   e->origin);
				*skipped = 1;
				rc = 0;
			}
		}
		break;
	case JOP_RENAME:
	case JOP_LINK:
		pfd2 = apply_open_parent(a, e->path2, &name2, 1);
		if (pfd2 < 0) {
			rc = pfd2;
			break;
		}
		if ((rc = apply_flag_change(a, e, pfd, name, skipped)) != 0) {
			rc = rc > 0 ? 0 : rc;
			break;
		}
		if (e->op == JOP_RENAME && local_change_newer(a, e)) {
			log_notice("conflict: rename %s -> %s from node %u is older than this node's last "
				   "change to the message: kept ours (last writer wins)", e->path, e->path2,
				   e->origin);
			a->n_local_newer++;
			*skipped = 1;
			break;
		}
		if (e->op == JOP_RENAME)
			rc = renameat2(pfd, name, pfd2, name2, e->flags & (JOP_RENAME_NOREPLACE | JOP_RENAME_EXCHANGE)) < 0
				     ? -errno : 0;
		else
			rc = linkat(pfd, name, pfd2, name2, 0) < 0 ? -errno : 0;
		if (rc == -ENOENT && fstatat(pfd2, name2, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			hlc_t th;
			uint16_t to;
			rc = 0; /* already done here */
			if (e->op == JOP_LINK)
				*skipped = 1;
			else if (a->local_hlc && a->local_hlc(a->hlc_arg, e->path2, &th, &to) == 0) {
				/* our record of the target stands; the source is
				 * gone from the store and the catalog must say so (a
				 * source row left live, by an entry that never
				 * reached the store, made every walk of the peer
				 * send this rename again) */
				e->op = JOP_UNLINK;
				e->path2 = NULL;
				e->flags = 0;
				a->entry_changed = 1;
			}
			/* else no record of the target: the catalog records the
			 * rename as the peer sent it */
		}
		else if (rc == -ENOENT && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = resolve_moved(a, e, pfd2, name2, skipped);
		else if (rc == -EEXIST && e->op == JOP_LINK)
			rc = 0;
		else if (rc == -ENOENT || rc == -EEXIST) {
			log_notice("apply: %s %s -> %s from node %u skipped: %s here", jop_name(e->op),
				   e->path, e->path2, e->origin,
				   rc == -ENOENT ? "source missing" : "target exists");
			*skipped = 1;
			rc = 0;
		}
		if (rc == 0 && !*skipped)
			rc = apply_fsync_dir(a, pfd2);
		break;
	case JOP_SETATTR:
		rc = apply_setattr(pfd, name, e);
		if (rc == -ENOENT) {
			char local[PATH_MAX];
			const char *lname;
			rc = 0;
			*skipped = 1;
			if (maildir_find_key(a->root_fd, e->path, local, sizeof(local)) == 1) {
				int lpfd = apply_open_parent(a, local, &lname, 0);
				if (lpfd >= 0) {
					if (apply_setattr(lpfd, lname, e) == 0) {
						*skipped = 0;
						a->n_redirected++;
						snprintf(a->redirect, sizeof(a->redirect), "%s", local);
						e->path = a->redirect;
					}
					close(lpfd);
				}
			}
		}
		if (rc == 0 && e->has_st && (e->flags & FUSE_SET_ATTR_SIZE)) {
			int fd = openat(pfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd >= 0) {
				if (ftruncate(fd, e->st.st_size) < 0)
					rc = -errno;
				close(fd);
			}
		}
		break;
	case JOP_WRITE:
	case JOP_COMMIT:
		/* no content: it was gone at the sender; a later entry says
		 * where it went or that it was removed */
		*skipped = 1;
		break;
	case JOP_SETXATTR:
	case JOP_REMOVEXATTR:
		*skipped = 1; /* values are not journaled in protocol version 1 */
		break;
	}
	if (rc == 0 && !*skipped && e->op != JOP_SETATTR)
		rc = apply_fsync_dir(a, pfd);
done:
	if (pfd >= 0)
		close(pfd);
	if (pfd2 >= 0)
		close(pfd2);
	if (rc < 0)
		log_err("apply: %s %s from node %u seq %" PRIu64 " failed: %s", jop_name(e->op), e->path,
			e->origin, e->seq, strerror(-rc));
	return rc;
}
