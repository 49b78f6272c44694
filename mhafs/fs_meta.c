/* fs_meta.c: FUSE operations on names and attributes (lookup, forget,
 * getattr, setattr, mkdir, mknod, symlink, link, unlink, rmdir, rename,
 * readlink, statfs, xattrs), passed through to the backing directory with
 * *at() calls on O_PATH descriptors.  Every successful mutation is
 * journaled before the reply (fs_journal.c).  Objects are created as root
 * and then given to the caller's uid/gid, so the backing tree's owners
 * match what the caller would get on a local file system. */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define PROCFD_LEN 64

static void procfd(char *buf, int fd)
{
	snprintf(buf, PROCFD_LEN, "/proc/self/fd/%d", fd);
}

static int bad_name(const char *name)
{
	return name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	       strcmp(name, "..") == 0;
}

/* Names whose entries the kernel must not cache: dotlocks (taken on the
 * peer's behalf underneath the kernel) and dovecot-uidlist (replaced by
 * the replicator while the peer holds the lock; whoever takes the lock
 * next must read the new one, not a cached inode).  Every path walk to
 * them asks again, and the answer carries fresh attributes; those keep
 * the usual timeout, as GETATTR's do: the replicator never changes these
 * files in place (it creates, renames over and unlinks them), so only
 * the name can go stale, and a zero attribute timeout would add a
 * GETATTR after each lookup for the kernel's permission check. */
static int uncached_name(const char *name)
{
	size_t n = strlen(name);
	/* and the name Dovecot renames over dovecot-uidlist to recreate it: a
	 * renamed entry keeps the timeout its old name got */
	return (n > 5 && strcmp(name + n - 5, ".lock") == 0) || strcmp(name, "dovecot-uidlist") == 0 ||
	       strcmp(name, "dovecot-uidlist.tmp") == 0;
}

int fs_hidden(struct mhafs *fs, struct inode *parent, const char *name)
{
	return parent == itable_root(fs->inodes) && strcmp(name, CONFIG_STAGING_DIR) == 0;
}

int fs_do_lookup(struct mhafs *fs, struct inode *parent, const char *name, struct fuse_entry_param *e,
		 int limited)
{
	memset(e, 0, sizeof(*e));
	e->attr_timeout = fs->attr_timeout;
	e->entry_timeout = fs->entry_timeout;
	if (fs->repl && uncached_name(name))
		e->entry_timeout = 0;
	if (bad_name(name))
		return EINVAL;
	if (fs_hidden(fs, parent, name))
		return ENOENT;
	int fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int err = errno;
		close(fd);
		return err;
	}
	struct inode *in = limited ? itable_learn_limited(fs->inodes, fd, &e->attr)
				   : itable_learn(fs->inodes, fd, &e->attr);
	if (!in)
		return errno;
	e->ino = itable_nodeid(fs->inodes, in);
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mhafs *fs = fs_of(req);
	struct fuse_entry_param e;
	int err = fs_do_lookup(fs, itable_get(fs->inodes, parent), name, &e, 1);
	if (err == ENOENT) {
		/* a negative entry, cached like a positive one; the replicator
		 * invalidates it when the name appears underneath */
		e.ino = 0;
		fuse_reply_entry(req, &e);
	} else if (err) {
		fuse_reply_err(req, err);
	} else {
		fuse_reply_entry(req, &e);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct mhafs *fs = fs_of(req);
	itable_forget(fs->inodes, itable_get(fs->inodes, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct mhafs *fs = fs_of(req);
	for (size_t i = 0; i < count; i++)
		itable_forget(fs->inodes, itable_get(fs->inodes, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

/* The attributes of in, taken when no write past its end is unsettled
 * (fs_data.c, settle_size): the size a process gets from fstat must be one
 * the kernel holds, or a mapping of that size faults (SIGBUS).  Waits at
 * most ~50 ms, then answers as it stands. */
static int settled_stat(struct inode *in, struct stat *st)
{
	for (int waited = 0;; waited++) {
		if (fstatat(in->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -1;
		if (!S_ISREG(st->st_mode) || atomic_load(&in->growing) == 0 || waited >= 1000)
			return 0;
		struct timespec ts = { 0, 50000 };
		nanosleep(&ts, NULL);
	}
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mhafs *fs = fs_of(req);
	struct inode *in = itable_get(fs->inodes, ino);
	struct stat st;
	(void)fi;
	if (settled_stat(in, &st) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, fs->attr_timeout);
}

static int set_times(struct inode *in, struct fuse_file_info *fi, const struct stat *attr, int valid)
{
	struct timespec tv[2];
	char proc[PROCFD_LEN];

	tv[0].tv_sec = 0;
	tv[1].tv_sec = 0;
	tv[0].tv_nsec = UTIME_OMIT;
	tv[1].tv_nsec = UTIME_OMIT;
	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if (fi)
		return futimens((int)fi->fh, tv);
	if (S_ISLNK(in->type)) {
		/* the link itself, not its target */
		if (utimensat(in->fd, "", tv, AT_EMPTY_PATH) == 0)
			return 0;
		procfd(proc, in->fd);
		return utimensat(AT_FDCWD, proc, tv, AT_SYMLINK_NOFOLLOW);
	}
	procfd(proc, in->fd);
	return utimensat(AT_FDCWD, proc, tv, 0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		       struct fuse_file_info *fi)
{
	if (fs_gate(fs_of(req))) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	struct mhafs *fs = fs_of(req);
	struct inode *in = itable_get(fs->inodes, ino);
	char proc[PROCFD_LEN];
	int rc = 0;

	procfd(proc, in->fd);
	if (valid & FUSE_SET_ATTR_MODE) {
		rc = fi ? fchmod((int)fi->fh, attr->st_mode) : fchmodat(AT_FDCWD, proc, attr->st_mode, 0);
		if (rc < 0)
			goto err;
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
		rc = fchownat(in->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		if (rc < 0)
			goto err;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		fs_fill_stale(in);
		rc = fi ? ftruncate((int)fi->fh, attr->st_size) : truncate(proc, attr->st_size);
		if (rc < 0)
			goto err;
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		rc = set_times(in, fi, attr, valid);
		if (rc < 0)
			goto err;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		/* new content: journal it now unless a writer will at close */
		if (atomic_load(&in->writers) > 0)
			atomic_store(&in->dirty, 1);
		else
			fs_journal_content(fs, in);
	}
	if (valid & ~FUSE_SET_ATTR_SIZE & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
					   FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
					   FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW))
		fs_journal_setattr(fs, in, valid);
	op_getattr(req, ino, fi);
	return;
err:
	fuse_reply_err(req, errno);
}

/* Give a just-created object to the caller (as a local fs would). */
static int give_to_caller(fuse_req_t req, struct inode *parent, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat pst;
	gid_t gid = ctx->gid;

	if (ctx->uid == 0 && ctx->gid == 0)
		return 0;
	if (fstatat(parent->fd, "", &pst, AT_EMPTY_PATH) == 0 && (pst.st_mode & S_ISGID))
		gid = (gid_t)-1; /* BSD group semantics: the kernel already set it */
	return fchownat(parent->fd, name, ctx->uid, gid, AT_SYMLINK_NOFOLLOW);
}

/* Common tail of mkdir, mknod, symlink: chown, lookup, journal, reply. */
static void finish_new(fuse_req_t req, struct inode *parent, const char *name, enum jop op,
		       const char *target, int is_dir)
{
	struct mhafs *fs = fs_of(req);
	struct fuse_entry_param e;
	int err;

	if (give_to_caller(req, parent, name) < 0) {
		err = errno;
		unlinkat(parent->fd, name, is_dir ? AT_REMOVEDIR : 0);
		fuse_reply_err(req, err);
		return;
	}
	err = fs_do_lookup(fs, parent, name, &e, 0);
	if (err) {
		unlinkat(parent->fd, name, is_dir ? AT_REMOVEDIR : 0); /* not journaled: goes again */
		fuse_reply_err(req, err);
		return;
	}
	fs_journal_new(fs, op, parent, name, target, &e.attr);
	fuse_reply_entry(req, &e);
}

/* Checks before creating name in parent: the journal has room, the inode
 * table has room for the new object (it is made only if it can be looked
 * up and journaled) and the name is a plain one.  The parent's inode, or
 * NULL after replying the error. */
static struct inode *start_new(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mhafs *fs = fs_of(req);
	if (fs_gate(fs)) {
		fuse_reply_err(req, ENOSPC);
		return NULL;
	}
	if (itable_full(fs->inodes)) {
		fuse_reply_err(req, ENFILE);
		return NULL;
	}
	if (bad_name(name)) {
		fuse_reply_err(req, EINVAL);
		return NULL;
	}
	return itable_get(fs->inodes, parent);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct inode *p = start_new(req, parent, name);
	if (!p)
		return;
	if (mkdirat(p->fd, name, mode) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	finish_new(req, p, name, JOP_MKDIR, NULL, 1);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct inode *p = start_new(req, parent, name);
	if (!p)
		return;
	if (mknodat(p->fd, name, mode, rdev) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	finish_new(req, p, name, S_ISREG(mode) ? JOP_CREATE : JOP_MKNOD, NULL, 0);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct inode *p = start_new(req, parent, name);
	if (!p)
		return;
	if (symlinkat(link, p->fd, name) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	finish_new(req, p, name, JOP_SYMLINK, link, 0);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	if (fs_gate(fs_of(req))) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	struct mhafs *fs = fs_of(req);
	struct inode *in = itable_get(fs->inodes, ino);
	struct inode *p = itable_get(fs->inodes, newparent);
	struct fuse_entry_param e;
	char proc[PROCFD_LEN];
	int err;

	if (bad_name(newname)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	procfd(proc, in->fd);
	if (linkat(AT_FDCWD, proc, p->fd, newname, AT_SYMLINK_FOLLOW) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	err = fs_do_lookup(fs, p, newname, &e, 0);
	if (err) {
		unlinkat(p->fd, newname, 0); /* not journaled: the new name goes again */
		fuse_reply_err(req, err);
		return;
	}
	fs_journal_link(fs, in, p, newname);
	fuse_reply_entry(req, &e);
}

/* unlink or rmdir: the path is taken before the name is gone */
static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int flags, enum jop op)
{
	struct mhafs *fs = fs_of(req);
	struct inode *p = itable_get(fs->inodes, parent);
	char path[PATH_MAX];
	if (fs_gate(fs)) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	int have = fs_child_path(fs, p, name, path, sizeof(path)) == 0;
	char moved_to[PATH_MAX];
	int moved = have && op == JOP_UNLINK && fs_moved_to(fs, p, name, path, moved_to, sizeof(moved_to));
	pthread_mutex_lock(&fs->ns_lock);
	if (unlinkat(p->fd, name, flags) < 0) {
		int err = errno;
		pthread_mutex_unlock(&fs->ns_lock);
		fuse_reply_err(req, err);
		return;
	}
	if (have)
		fs_journal_removed(fs, op, path, moved ? moved_to : NULL);
	pthread_mutex_unlock(&fs->ns_lock);
	fs_dotlock_give(fs, p, name, 0);
	fuse_reply_err(req, 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 0, JOP_UNLINK);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, AT_REMOVEDIR, JOP_RMDIR);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	if (fs_gate(fs_of(req))) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	struct mhafs *fs = fs_of(req);
	struct inode *p1 = itable_get(fs->inodes, parent);
	struct inode *p2 = itable_get(fs->inodes, newparent);

	if (bad_name(name) || bad_name(newname) || (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (renameat2(p1->fd, name, p2->fd, newname, flags) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fs_journal_rename(fs, p1, name, p2, newname, flags);
	fs_dotlock_give(fs, p1, name, strcmp(newname, "dovecot-uidlist") == 0 && p1 == p2);
	fuse_reply_err(req, 0);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mhafs *fs = fs_of(req);
	struct inode *in = itable_get(fs->inodes, ino);
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(in->fd, "", buf, sizeof(buf));
	if (n < 0)
		fuse_reply_err(req, errno);
	else if ((size_t)n >= sizeof(buf))
		fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[n] = '\0';
		fuse_reply_readlink(req, buf);
	}
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct mhafs *fs = fs_of(req);
	struct statvfs sv;
	if (fstatvfs(itable_get(fs->inodes, ino)->fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* Extended attributes: off unless `xattrs = yes`.  Their values are not
 * replicated (the journal carries only the name), so a value set here
 * would be missing on the peer, and lost here when the peer's version of
 * the file is installed over it.  Answering ENOSYS makes the kernel stop
 * asking (it answers EOPNOTSUPP itself from then on), which also spares the
 * getxattr(security.capability) it sends before every write. */
static int xattrs_off(fuse_req_t req)
{
	if (fs_of(req)->cfg->xattrs)
		return 0;
	fuse_reply_err(req, ENOSYS);
	return 1;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	if (xattrs_off(req))
		return;
	if (fs_gate(fs_of(req))) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	struct mhafs *fs = fs_of(req);
	struct inode *in = itable_get(fs->inodes, ino);
	char proc[PROCFD_LEN];
	procfd(proc, in->fd);
	if (setxattr(proc, name, value, size, flags) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fs_journal_xattr(fs, JOP_SETXATTR, in, name);
	fuse_reply_err(req, 0);
}

/* getxattr (name) or listxattr (name NULL): the size when size is 0, else
 * the value or the list. */
static void xattr_query(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct mhafs *fs = fs_of(req);
	char proc[PROCFD_LEN];
	char *buf = NULL;
	procfd(proc, itable_get(fs->inodes, ino)->fd);
	if (size > 0 && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = name ? getxattr(proc, name, buf, size) : listxattr(proc, buf, size);
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	if (xattrs_off(req))
		return;
	xattr_query(req, ino, name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (xattrs_off(req))
		return;
	xattr_query(req, ino, NULL, size);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	if (xattrs_off(req))
		return;
	if (fs_gate(fs_of(req))) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	struct mhafs *fs = fs_of(req);
	struct inode *in = itable_get(fs->inodes, ino);
	char proc[PROCFD_LEN];
	procfd(proc, in->fd);
	if (removexattr(proc, name) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fs_journal_xattr(fs, JOP_REMOVEXATTR, in, name);
	fuse_reply_err(req, 0);
}


const struct fuse_lowlevel_ops *fs_build_ops(void)
{
	static struct fuse_lowlevel_ops ops;
	ops.lookup = op_lookup;
	ops.forget = op_forget;
	ops.forget_multi = op_forget_multi;
	ops.getattr = op_getattr;
	ops.setattr = op_setattr;
	ops.readlink = op_readlink;
	ops.mknod = op_mknod;
	ops.mkdir = op_mkdir;
	ops.unlink = op_unlink;
	ops.rmdir = op_rmdir;
	ops.symlink = op_symlink;
	ops.rename = op_rename;
	ops.link = op_link;
	ops.statfs = op_statfs;
	ops.setxattr = op_setxattr;
	ops.getxattr = op_getxattr;
	ops.listxattr = op_listxattr;
	ops.removexattr = op_removexattr;
	fs_data_ops(&ops);
	return &ops;
}
