/* fs_journal.c: turns successful FUSE operations into journal entries.
 * It owns the rules of what is replicated: node-local paths (config
 * node_local) are skipped, and a file that arrives at a replicated path
 * from a node-local one (rename or link out of tmp/) is a commit carrying
 * the xxHash3-128 of its content. */
#define _GNU_SOURCE
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "arrivals.h"
#include "log.h"
#include "pathpat.h"
#include "repl.h"
#include "repl_lock.h"

#define DELETED_SUFFIX " (deleted)"

int fs_inode_path(struct mhafs *fs, struct inode *in, char *buf, size_t len)
{
	char proc[64], full[PATH_MAX + 32];
	struct stat st;

	if (in == itable_root(fs->inodes)) {
		if (len < 1)
			return -ENAMETOOLONG;
		buf[0] = '\0';
		return 0;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", in->fd);
	ssize_t n = readlink(proc, full, sizeof(full) - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(full) - 1)
		return -ENAMETOOLONG;
	full[n] = '\0';
	/* an unlinked object has no path in the store */
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (st.st_nlink == 0)
		return -ENOENT;
	if (strncmp(full, fs->root_path, fs->root_len) != 0 || full[fs->root_len] != '/')
		return -ENOENT; /* moved outside the backing tree */
	const char *rel = full + fs->root_len + 1;
	if (strlen(rel) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, rel);
	return 0;
}

int fs_child_path(struct mhafs *fs, struct inode *parent, const char *name, char *buf, size_t len)
{
	int rc = fs_inode_path(fs, parent, buf, len);
	if (rc < 0)
		return rc;
	size_t used = strlen(buf);
	int n = snprintf(buf + used, len - used, "%s%s", used ? "/" : "", name);
	if (n < 0 || (size_t)n >= len - used)
		return -ENAMETOOLONG;
	return 0;
}

int fs_is_local(struct mhafs *fs, const char *relpath)
{
	return pathpat_is_local(fs->cfg->node_local, fs->cfg->n_node_local, relpath);
}

/* Reopen an O_PATH descriptor for reading. */
static int reopen_read(int path_fd)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path_fd);
	return open(proc, O_RDONLY | O_CLOEXEC | O_NOATIME); /* hashing is not a read by a user */
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void fs_space_init(struct mhafs *fs)
{
	int rc = reserve_init(&fs->journal_reserve, fs->cfg->state_dir, "reserve", 1 << 20);
	if (rc < 0) {
		log_warn("journal: cannot reserve %lld bytes in %s (%s): the journal's disk is full or "
			 "nearly; changes are refused until there is room",
			 fs->journal_reserve.size, fs->cfg->state_dir, strerror(-rc));
		atomic_store(&fs->journal_full, 1);
	}
	fs_control_space_init(fs);
}

/* The journal hit ENOSPC: give it the reserve.  1 if there was one. */
static int release_reserve(struct mhafs *fs)
{
	int had = reserve_release(&fs->journal_reserve);
	if (!atomic_exchange(&fs->journal_full, 1))
		log_err("journal: the file system of %s is full; %s the reserve and refusing every "
			"change with ENOSPC until space is freed", fs->cfg->state_dir,
			had ? "released" : "no");
	return had;
}

static void hook_committed(void *arg, uint64_t seq)
{
	struct mhafs *fs = arg;
	repl_lock_journaled(fs->repl, seq);
	repl_notify(fs->repl); /* the sender reads the database: wake it now */
}

static int hook_full(void *arg)
{
	return release_reserve(arg);
}

static void hook_failed(void *arg)
{
	struct mhafs *fs = arg;
	atomic_store(&fs->journal_failed, 1);
	atomic_store(&fs->journal_full, 1); /* refuse changes until it writes again */
}

int fs_start_journal_writer(struct mhafs *fs)
{
	struct journal_hooks h = { .arg = fs, .committed = hook_committed, .full = hook_full,
				   .failed = hook_failed };
	return journal_start_writer(fs->journal, &h);
}

int fs_gate(struct mhafs *fs)
{
	if (!atomic_load(&fs->journal_full))
		return 0;
	uint64_t now = now_ms(), last = atomic_load(&fs->gate_checked_ms);
	if (now - last < 200 || !atomic_compare_exchange_strong(&fs->gate_checked_ms, &last, now))
		return ENOSPC;
	atomic_store(&fs->journal_reserve.checked_ms, 0); /* the gate is rate-limited already */
	if (!reserve_regain(&fs->journal_reserve))
		return ENOSPC;
	atomic_store(&fs->journal_full, 0);
	log_notice("journal: space is available again in %s; changes accepted", fs->cfg->state_dir);
	return 0;
}

/* Record one entry; wait: return only once the peer holds it (sync mode). */
static int replicated_path_of(struct mhafs *fs, struct inode *in, char *buf, size_t len);

/* recheck: the content's inode, written in place; its path is looked up
 * again after the hash, under ns_lock with the record, so an unlink by
 * another process in between is not followed by this content. */
static int journal_entry(struct mhafs *fs, enum jop op, const char *path, const char *path2,
			 const char *xname, uint32_t flags, const struct stat *st, int content_fd,
			 int wait, struct inode *recheck)
{
	struct jentry e;
	char now_path[PATH_MAX];
	int rc;

	memset(&e, 0, sizeof(e));
	e.op = op;
	e.path = path;
	e.path2 = path2;
	e.xname = xname;
	e.flags = flags;
	if (st) {
		e.has_st = 1;
		e.st = *st;
	}
	if (content_fd >= 0 && st && S_ISREG(st->st_mode)) {
		int fd = reopen_read(content_fd);
		uint64_t size = 0;
		if (fd < 0) {
			rc = -errno;
		} else {
			rc = hash_fd(fd, &e.hash, &size);
			close(fd);
		}
		if (rc < 0) {
			log_err("journal: cannot hash %s: %s", path, strerror(-rc));
			atomic_store(&fs->journal_failed, 1);
			return rc;
		}
		e.has_hash = 1;
		e.st.st_size = (off_t)size;
	}
	if (recheck) {
		pthread_mutex_lock(&fs->ns_lock);
		if ((rc = replicated_path_of(fs, recheck, now_path, sizeof(now_path))) <= 0) {
			pthread_mutex_unlock(&fs->ns_lock);
			return rc; /* removed (or moved out of the store) meanwhile */
		}
		e.path = now_path;
	}
	rc = journal_record(fs->journal, &e);
	if (rc == -ENOSPC && release_reserve(fs))
		rc = journal_record(fs->journal, &e);
	if (recheck)
		pthread_mutex_unlock(&fs->ns_lock);
	if (rc < 0) {
		if (!atomic_exchange(&fs->journal_failed, 1))
			log_err("journal: cannot record %s %s: %s (the next start runs the full check)",
				jop_name(op), path, strerror(-rc));
		return rc;
	}
	atomic_fetch_add(&fs->ops_journaled, 1);
	repl_lock_journaled(fs->repl, e.seq); /* a dotlock TAKE or GIVE goes after it */
	if (op == JOP_COMMIT)
		/* a move's copy, if its source is unlinked next */
		arrivals_note(fs->arrivals, path, e.has_hash ? &e.hash : NULL, now_ms());
	if (wait)
		/* a message's commit point: in sync mode it returns once the
		 * peer holds it durably (or is declared down) */
		repl_commit_wait(fs->repl, e.seq);
	return 0;
}

int fs_journal(struct mhafs *fs, enum jop op, const char *path, const char *path2,
	       const char *xname, uint32_t flags, const struct stat *st, int content_fd)
{
	return journal_entry(fs, op, path, path2, xname, flags, st, content_fd, op == JOP_COMMIT, NULL);
}

static int stat_child(struct inode *parent, const char *name, struct stat *st)
{
	return fstatat(parent->fd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int fs_journal_new(struct mhafs *fs, enum jop op, struct inode *parent, const char *name,
		   const char *target, const struct stat *st)
{
	char path[PATH_MAX];
	int rc = fs_child_path(fs, parent, name, path, sizeof(path));
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc; /* parent already gone: nothing to replicate */
	if (fs_is_local(fs, path)) {
		atomic_fetch_add(&fs->ops_local, 1);
		return 0;
	}
	return fs_journal(fs, op, path, target, NULL, 0, st, -1);
}

int fs_moved_to(struct mhafs *fs, struct inode *parent, const char *name, const char *path,
		char *out, size_t outlen)
{
	uint64_t now = now_ms();
	int r = arrivals_moved_to(fs->arrivals, path, now, out, outlen);
	if (r != ARRIVAL_BY_CONTENT)
		return r == ARRIVAL_MOVED;
	struct hash128 h;
	return hash_at(parent->fd, name, &h, NULL) == 0 &&
	       arrivals_with_content(fs->arrivals, path, &h, now, out, outlen);
}

int fs_journal_removed(struct mhafs *fs, enum jop op, const char *path, const char *moved_to)
{
	if (fs_is_local(fs, path)) {
		atomic_fetch_add(&fs->ops_local, 1);
		return 0;
	}
	return fs_journal(fs, op, path, moved_to, NULL, 0, NULL, -1);
}

/* Journal that the object now at parent/name (with path) arrived from the
 * node-local path from: a commit, hashed if it is a regular file. */
static int journal_commit(struct mhafs *fs, struct inode *parent, const char *name,
			  const char *path, const char *from)
{
	struct stat st;
	int rc = stat_child(parent, name, &st);
	if (rc < 0)
		return rc;
	int fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = fs_journal(fs, JOP_COMMIT, path, from, NULL, 0, &st, S_ISREG(st.st_mode) ? fd : -1);
	close(fd);
	return rc;
}

int fs_journal_rename(struct mhafs *fs, struct inode *p1, const char *n1, struct inode *p2,
		      const char *n2, unsigned flags)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	int rc;

	if ((rc = fs_child_path(fs, p1, n1, src, sizeof(src))) < 0)
		return rc == -ENOENT ? 0 : rc;
	if (p1 == p2) {
		/* within one directory (every Maildir flag change): the
		 * directory's path is already known, no second lookup */
		size_t dirlen = strlen(src) - strlen(n1);
		if (dirlen + strlen(n2) >= sizeof(dst))
			return -ENAMETOOLONG;
		memcpy(dst, src, dirlen);
		strcpy(dst + dirlen, n2);
	} else if ((rc = fs_child_path(fs, p2, n2, dst, sizeof(dst))) < 0) {
		return rc == -ENOENT ? 0 : rc;
	}
	int lsrc = fs_is_local(fs, src), ldst = fs_is_local(fs, dst);

	if (lsrc && ldst) {
		atomic_fetch_add(&fs->ops_local, 1);
		return 0;
	}
	if (!lsrc && !ldst) {
		if ((rc = stat_child(p2, n2, &st)) < 0)
			return rc;
		return fs_journal(fs, JOP_RENAME, src, dst, NULL, flags, &st, -1);
	}
	if (lsrc) {
		/* out of a node-local path: the destination's content is new */
		rc = journal_commit(fs, p2, n2, dst, src);
		return rc;
	}
	/* into a node-local path: for the replicated side it is a removal */
	if ((rc = stat_child(p2, n2, &st)) < 0)
		return rc;
	rc = fs_journal(fs, S_ISDIR(st.st_mode) ? JOP_RMDIR : JOP_UNLINK, src, NULL, NULL, 0, NULL, -1);
	if (rc == 0 && (flags & RENAME_EXCHANGE))
		rc = journal_commit(fs, p1, n1, src, dst); /* and what came back */
	return rc;
}

int fs_journal_link(struct mhafs *fs, struct inode *in, struct inode *newparent, const char *newname)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	int rc;

	if ((rc = fs_child_path(fs, newparent, newname, dst, sizeof(dst))) < 0)
		return rc == -ENOENT ? 0 : rc;
	if (fs_is_local(fs, dst)) {
		atomic_fetch_add(&fs->ops_local, 1);
		return 0;
	}
	rc = fs_inode_path(fs, in, src, sizeof(src));
	/* the source path is whichever name the kernel reports; it may even be
	 * the new one.  A local or unknown source makes this a commit. */
	if (rc < 0 || fs_is_local(fs, src) || strcmp(src, dst) == 0)
		return journal_commit(fs, newparent, newname, dst, rc < 0 ? NULL : src);
	if ((rc = stat_child(newparent, newname, &st)) < 0)
		return rc;
	return fs_journal(fs, JOP_LINK, src, dst, NULL, 0, &st, -1);
}

/* The store path of in, if a change to it is to be journaled: 1 with the
 * path in buf, 0 when it is not (gone, the root, node-local), or -errno. */
static int replicated_path_of(struct mhafs *fs, struct inode *in, char *buf, size_t len)
{
	int rc = fs_inode_path(fs, in, buf, len);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	if (buf[0] == '\0')
		return 0; /* the store's root: its own attributes are not replicated */
	if (fs_is_local(fs, buf)) {
		atomic_fetch_add(&fs->ops_local, 1);
		return 0;
	}
	return 1;
}

int fs_journal_setattr(struct mhafs *fs, struct inode *in, int mask)
{
	char path[PATH_MAX];
	struct stat st;
	int rc = replicated_path_of(fs, in, path, sizeof(path));
	if (rc <= 0)
		return rc;
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return fs_journal(fs, JOP_SETATTR, path, NULL, NULL, (uint32_t)mask, &st, -1);
}

int fs_journal_content(struct mhafs *fs, struct inode *in)
{
	char path[PATH_MAX];
	struct stat st;
	int rc = replicated_path_of(fs, in, path, sizeof(path));
	if (rc <= 0)
		return rc;
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return journal_entry(fs, JOP_WRITE, path, NULL, NULL, 0, &st, in->fd, 0, in);
}

/* An fsync of a file under an fsync_commit pattern is its commit point:
 * Postfix fsyncs a queue file before it answers 250, and never renames
 * it out of a node-local path, so its content goes now and the fsync
 * returns once the peer holds it (or is declared down), as a commit. */
int fs_journal_fsync(struct mhafs *fs, struct inode *in)
{
	char path[PATH_MAX];
	struct stat st;
	if (!fs->repl || !fs->cfg->n_fsync_commit || !atomic_load(&in->dirty))
		return 0;
	int rc = replicated_path_of(fs, in, path, sizeof(path));
	if (rc <= 0 || !pathpat_is_local(fs->cfg->fsync_commit, fs->cfg->n_fsync_commit, path))
		return rc;
	if (!atomic_exchange(&in->dirty, 0))
		return 0;
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return journal_entry(fs, JOP_WRITE, path, NULL, NULL, 0, &st, in->fd, 1, in);
}

int fs_journal_xattr(struct mhafs *fs, enum jop op, struct inode *in, const char *name)
{
	char path[PATH_MAX];
	int rc = replicated_path_of(fs, in, path, sizeof(path));
	if (rc <= 0)
		return rc;
	return fs_journal(fs, op, path, NULL, name, 0, NULL, -1);
}

int fs_invalidate_path(struct mhafs *fs, const char *relpath)
{
	char parent[PATH_MAX];
	const char *name;
	struct stat st;
	int pfd, rc = 0;

	if (!pathpat_is_safe(relpath) || strlen(relpath) >= sizeof(parent))
		return -EINVAL;
	strcpy(parent, relpath);
	char *slash = strrchr(parent, '/');
	if (slash) {
		*slash = '\0';
		name = relpath + (slash - parent) + 1;
		pfd = openat(fs->root_fd, parent, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (pfd < 0)
			return errno == ENOENT ? 0 : -errno;
	} else {
		name = relpath;
		pfd = dup(fs->root_fd);
		if (pfd < 0)
			return -errno;
	}
	if (fstatat(pfd, "", &st, AT_EMPTY_PATH) == 0) {
		struct inode *p = itable_find(fs->inodes, st.st_dev, st.st_ino);
		if (p) {
			int r = fuse_lowlevel_notify_inval_entry(fs->se, itable_nodeid(fs->inodes, p),
								 name, strlen(name));
			if (r < 0 && r != -ENOENT)
				rc = r;
			/* the directory's own attributes (mtime, nlink) changed too */
			fuse_lowlevel_notify_inval_inode(fs->se, itable_nodeid(fs->inodes, p), -1, 0);
		}
	}
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		struct inode *c = itable_find(fs->inodes, st.st_dev, st.st_ino);
		if (c) {
			int r = fuse_lowlevel_notify_inval_inode(fs->se, itable_nodeid(fs->inodes, c), 0, 0);
			if (r < 0 && r != -ENOENT && rc == 0)
				rc = r;
		}
	}
	close(pfd);
	return rc;
}

int fs_dotlock_take(struct mhafs *fs, struct inode *parent, const char *name, int flags)
{
	char path[PATH_MAX];
	struct stat st;
	if (!fs->repl || !(flags & O_EXCL) || !repl_lock_name(name))
		return 0;
	/* held here already (by a Dovecot or for the peer): no need to ask */
	if (fstatat(parent->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	if (fs_child_path(fs, parent, name, path, sizeof(path)) < 0)
		return 0;
	return repl_lock_take(fs->repl, path);
}

int fs_drop_unused_entries(struct mhafs *fs)
{
	int fd = openat(fs->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int err = errno;
		close(fd);
		return -err;
	}
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && !fuse_session_exited(fs->se)) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, "..") || fs_hidden(fs, itable_root(fs->inodes), name))
			continue;
		/* entries the kernel has not looked up answer ENOENT: no harm */
		fuse_lowlevel_notify_inval_entry(fs->se, FUSE_ROOT_ID, name, strlen(name));
		n++;
	}
	closedir(d);
	return n;
}

/* Dovecot appends to dovecot-uidlist in place under the lock and may keep
 * it open long after: content written under the lock goes to the peer now,
 * before the lock does.  When the lock was renamed over the file, the
 * rename's commit carried the content already: only the writer's pending
 * "content changed" goes (it would send the same bytes again at close). */
static void flush_locked_file(struct mhafs *fs, struct inode *parent, const char *name, int renamed)
{
	struct stat st;
	int fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	struct inode *in = itable_learn(fs->inodes, fd, &st); /* holds it meanwhile */
	if (!in)
		return;
	if (atomic_exchange(&in->dirty, 0) && !renamed)
		fs_journal_content(fs, in);
	itable_forget(fs->inodes, in, 1);
}

void fs_dotlock_give(struct mhafs *fs, struct inode *parent, const char *name, int renamed)
{
	char path[PATH_MAX];
	if (!fs->repl || !repl_lock_name(name) || fs_child_path(fs, parent, name, path, sizeof(path)) < 0)
		return;
	size_t n = strlen(name) - strlen(".lock");
	char locked[NAME_MAX + 1];
	if (n < sizeof(locked)) {
		memcpy(locked, name, n);
		locked[n] = '\0';
		flush_locked_file(fs, parent, locked, renamed);
	}
	repl_lock_give(fs->repl, path);
}
