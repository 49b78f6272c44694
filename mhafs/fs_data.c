/* fs_data.c: FUSE operations on open files and directories (open, create,
 * read, write, flush, release, fsync, fallocate, lseek, opendir, readdir,
 * readdirplus, fsyncdir, releasedir) and the connection set-up (init).
 * A file's new content is journaled, with its hash, when the last writer
 * releases it. */
#define _GNU_SOURCE
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int is_writer(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct mhafs *fs = userdata;
	if (fs->cfg->writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	/* The backing file system decides about set-id bits on write, as it
	 * would for root: mail stores hold no set-id files.  It does not spare
	 * the kernel's getxattr(security.capability) before each write (6.18);
	 * only xattrs being off does (fs_meta.c xattrs_off). */
	if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV)
		conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
	conn->want &= ~FUSE_CAP_EXPORT_SUPPORT;
	/* Keep the pages a file was written, filled (fill_cache) or read
	 * through; only a change of size drops them.  The kernel would
	 * otherwise drop them whenever a GETATTR shows a new mtime, which
	 * every write through the mount causes: a message just delivered was
	 * read back from the backing file.  Nothing changes a file's content
	 * in place behind the kernel: the replicator installs content by
	 * renaming a new file over the name and invalidates the name and the
	 * inode (fs_invalidate_path). */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* Writes come in memory, not spliced from a pipe: a write to a control
	 * file that finds the disk full is made again in the reserve's room
	 * (fs_space.c), and a pipe cannot be read twice. */
	conn->want &= ~FUSE_CAP_SPLICE_READ;
	conn->time_gran = 1; /* nanosecond timestamps: mtime is INTERNALDATE */
	if (conn->max_background < 64)
		conn->max_background = 64;
	if (conn->congestion_threshold < 48)
		conn->congestion_threshold = 48;
	log_info("kernel FUSE protocol %u.%u, writeback cache %s, readdirplus %s, xattrs %s",
		 conn->proto_major, conn->proto_minor,
		 (conn->want & FUSE_CAP_WRITEBACK_CACHE) ? "on" : "off",
		 (conn->want & FUSE_CAP_READDIRPLUS) ? "on" : "off",
		 fs->cfg->xattrs ? "on" : "off");
}

/* With the writeback cache the kernel may read from a write-only file and
 * handles O_APPEND itself. */
static int adjust_flags(struct mhafs *fs, int flags)
{
	if (fs->cfg->writeback_cache) {
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags & ~O_NOFOLLOW;
}

/* Whether the close of a file opened with these flags must ask mhafs
 * (FLUSH, op_flush): only a writer's, and only where the backing file
 * system's close may report an error.  The root's file system decides
 * whether it can (main.c); a file on another one mounted inside the
 * store is always asked about.  Otherwise the kernel answers the close
 * alone: one request fewer per file closed. */
static int close_asks(struct mhafs *fs, struct inode *in, int flags)
{
	return is_writer(flags) && !(fs->close_silent && in->dev == itable_root(fs->inodes)->dev);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mhafs *fs = fs_of(req);
	struct inode *in = itable_get(fs->inodes, ino);
	char proc[64];
	if ((fi->flags & O_TRUNC) && fs_gate(fs)) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	int err = itable_handle_open(fs->inodes); /* descriptors short: ENFILE */
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", in->fd);
	int fd = open(proc, adjust_flags(fs, fi->flags) | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		itable_handles(fs->inodes, -1);
		fuse_reply_err(req, err);
		return;
	}
	if (is_writer(fi->flags)) {
		fs_fill_stale(in);
		atomic_fetch_add(&in->writers, 1);
		if (fi->flags & O_TRUNC)
			atomic_store(&in->dirty, 1);
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1; /* the replicator invalidates what it changes */
	fi->noflush = !close_asks(fs, in, fi->flags);
	fuse_reply_open(req, fi);
}

/* Open-or-create as O_EXCL first, so we know whether the file is new (a
 * new file is journaled as a create; an existing one truncated by O_TRUNC
 * is new content). */
static int open_create(struct inode *p, const char *name, int flags, mode_t mode, int *created)
{
	for (int tries = 0; tries < 8; tries++) {
		int fd = openat(p->fd, name, flags | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0) {
			*created = 1;
			return fd;
		}
		if (errno != EEXIST || (flags & O_EXCL))
			return -1;
		fd = openat(p->fd, name, (flags & ~O_CREAT) | O_CLOEXEC);
		if (fd >= 0) {
			*created = 0;
			return fd;
		}
		if (errno != ENOENT)
			return -1;
		/* removed between the two calls: try again */
	}
	errno = EAGAIN;
	return -1;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	if (fs_gate(fs_of(req))) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	struct mhafs *fs = fs_of(req);
	struct inode *p = itable_get(fs->inodes, parent);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	int created = 0, err;

	if (name[0] == '\0' || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (itable_full(fs->inodes)) { /* before the file is made: see start_new */
		fuse_reply_err(req, ENFILE);
		return;
	}
	int shared = fs_dotlock_take(fs, p, name, fi->flags);
	if (shared < 0) {
		fuse_reply_err(req, -shared);
		return;
	}
	int fd = open_create(p, name, adjust_flags(fs, fi->flags), mode, &created);
	if (fd < 0) {
		err = errno;
		if (shared)
			fs_dotlock_give(fs, p, name, 0);
		fuse_reply_err(req, err);
		return;
	}
	if (created && !(ctx->uid == 0 && ctx->gid == 0)) {
		struct stat pst;
		gid_t gid = ctx->gid;
		if (fstat(p->fd, &pst) == 0 && (pst.st_mode & S_ISGID))
			gid = (gid_t)-1;
		if (fchown(fd, ctx->uid, gid) < 0) {
			err = errno;
			close(fd);
			unlinkat(p->fd, name, 0);
			fuse_reply_err(req, err);
			return;
		}
	}
	err = fs_do_lookup(fs, p, name, &e, 0);
	if (err) {
		/* not journaled: a file made here goes again */
		close(fd);
		if (created)
			unlinkat(p->fd, name, 0);
		if (shared)
			fs_dotlock_give(fs, p, name, 0);
		fuse_reply_err(req, err);
		return;
	}
	struct inode *in = itable_get(fs->inodes, e.ino);
	if (is_writer(fi->flags)) {
		fs_fill_stale(in);
		/* only a file this writer made and alone wrote is filled */
		if (created && atomic_load(&in->writers) == 0)
			atomic_fetch_or(&in->fill, 1);
		atomic_fetch_add(&in->writers, 1);
		if (!created && (fi->flags & O_TRUNC))
			atomic_store(&in->dirty, 1);
	}
	if (created)
		fs_journal_new(fs, JOP_CREATE, p, name, NULL, &e.attr);
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	fi->noflush = !close_asks(fs, in, fi->flags);
	itable_handles(fs->inodes, 1);
	fuse_reply_create(req, &e, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	(void)ino;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/* A write that stopped after n of its bytes (only an error does that: a
 * full disk or quota) and so extended the file from before.st_size to
 * off + n: cut the file back to its old size, if nothing else grew it
 * since.  1 when the file is as before the write. */
static int undo_short_write(int fd, const struct stat *before, off_t off, ssize_t n)
{
	struct stat now;
	if (off + n <= before->st_size || off < before->st_size)
		return 0; /* it overwrote bytes of the old file: nothing to undo cleanly */
	if (fstat(fd, &now) < 0 || now.st_size != off + n)
		return 0;
	return ftruncate(fd, before->st_size) == 0;
}

/* Write in_buf to fd at off: the count written, or -errno.  A write the
 * disk filled part way fails whole with the file as it was, when it can
 * be (Dovecot appends records to dovecot-uidlist in place; a record cut in
 * two breaks the file for good). */
static ssize_t write_whole(int fd, struct fuse_bufvec *in_buf, off_t off, size_t want,
			   const struct stat *before)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(want);
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fd;
	out.buf[0].pos = off;
	ssize_t n = fuse_buf_copy(&out, in_buf, 0);
	if (n >= 0 && (size_t)n < want && before && undo_short_write(fd, before, off, n))
		n = -ENOSPC;
	return n;
}

/* The byte at position pos of the memory buffers of v from (idx, boff). */
static int buf_byte(const struct fuse_bufvec *v, size_t idx, size_t boff, size_t pos, char *c)
{
	for (; idx < v->count; idx++, boff = 0) {
		const struct fuse_buf *b = &v->buf[idx];
		if (b->flags & FUSE_BUF_IS_FD)
			return -1;
		if (pos < b->size - boff) {
			*c = ((const char *)b->mem)[boff + pos];
			return 0;
		}
		pos -= b->size - boff;
	}
	return -1;
}

/* A notify_store locks pages of the kernel's cache, and a page may be
 * locked by a process whose WRITE or READ waits for a worker: a worker in
 * a store waits for the others to answer that request.  With every worker
 * in a store, nobody would (the fault suite's node 2 and 64 appenders on
 * one mount both hung so, all 32 workers in __filemap_get_folio).  So at
 * most STORE_SLOTS workers store at once; a store that finds no slot is
 * left out, which costs a settled size or a filled cache, never an answer
 * (tests/fs/storestall.sh).  Settling takes at most SETTLE_SLOTS of them:
 * a writer's settles wait for the page its next WRITE holds and pile up
 * under load, and the last slot is kept for filling the cache at close
 * (tests/fs/cachefill.sh lost its fill so). */
#define STORE_SLOTS 4
#define SETTLE_SLOTS (STORE_SLOTS - 1)
static int store_begin(struct mhafs *fs, int slots)
{
	/* compare and swap: a settle turned away never holds a slot, not
	 * even for a moment in which a fill would find none */
	int busy = atomic_load(&fs->stores_busy);
	do {
		if (busy >= slots) {
			atomic_fetch_add(&fs->stores_skipped, 1);
			return 0;
		}
	} while (!atomic_compare_exchange_weak(&fs->stores_busy, &busy, busy + 1));
	return 1;
}

static void store_end(struct mhafs *fs)
{
	atomic_fetch_sub(&fs->stores_busy, 1);
}

/* A write that extended the file to end was just answered.  The kernel
 * sets its own size (i_size) from that answer only when the writer runs
 * again; until then it ignores a GETATTR answer that shows the new size
 * but still hands that size to the process that asked (fstat), which may
 * map the file that far and touch a page past the kernel's i_size: SIGBUS.
 * Storing the write's last byte into the kernel's cache (a 1-byte
 * notify_store) makes the kernel take the new size now; op_getattr waits
 * while in->growing says such a write is not settled.  The page lock the
 * store takes is held only by requests other threads answer, and at most
 * STORE_SLOTS workers wait so. */
static void settle_size(struct mhafs *fs, fuse_ino_t ino, off_t end, char last)
{
	struct fuse_bufvec one = FUSE_BUFVEC_INIT(1);
	one.buf[0].mem = &last;
	if (!store_begin(fs, SETTLE_SLOTS))
		return;
	int rc = fuse_lowlevel_notify_store(fs->se, ino, end - 1, &one, 0);
	store_end(fs);
	if (rc < 0 && rc != -ENOENT)
		log_debug("settling the size of node %llu at %lld: %s", (unsigned long long)ino,
			  (long long)end, strerror(-rc));
}

/* Before a write or fallocate: 0, or ENOSPC when the journal's disk is
 * full or the store keeps its last room for Dovecot's control files. */
static int may_take_space(struct mhafs *fs, int fd)
{
	int err = fs_gate(fs);
	return err ? err : fs_space_admit(fs, fd);
}

/* Whether in_buf can be copied again (memory; a pipe is drained). */
static int rewindable(const struct fuse_bufvec *in_buf)
{
	for (size_t i = 0; i < in_buf->count; i++)
		if (in_buf->buf[i].flags & FUSE_BUF_IS_FD)
			return 0;
	return 1;
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in_buf, off_t off,
			 struct fuse_file_info *fi)
{
	struct mhafs *fs = fs_of(req);
	int fd = (int)fi->fh;
	int err = may_take_space(fs, fd);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	struct inode *in = itable_get(fs->inodes, ino);
	size_t want = fuse_buf_size(in_buf), idx = in_buf->idx, boff = in_buf->off;
	struct stat before;
	int sized = fstat(fd, &before) == 0;
	/* past EOF (or unknown): op_getattr waits until the kernel holds the size */
	int grows = !sized || off + (off_t)want > before.st_size;
	if (grows)
		atomic_fetch_add(&in->growing, 1);
	ssize_t n = write_whole(fd, in_buf, off, want, sized ? &before : NULL);
	if (n == -ENOSPC && rewindable(in_buf) && fs_space_release_for(fs, fd)) {
		in_buf->idx = idx; /* a control file: once more, in the reserve's room */
		in_buf->off = boff;
		n = write_whole(fd, in_buf, off, want, sized ? &before : NULL);
	}
	char last;
	int settle = grows && n > 0 && buf_byte(in_buf, idx, boff, (size_t)n - 1, &last) == 0;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else {
		atomic_store(&in->dirty, 1);
		fuse_reply_write(req, (size_t)n);
	}
	/* after the reply the kernel may forget the inode at any time (the
	 * file closed and unlinked): a growing write holds it until here */
	if (settle)
		settle_size(fs, ino, off + n, last);
	if (grows)
		itable_growing_done(fs->inodes, in);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	atomic_fetch_add(&fs_of(req)->flushes, 1);
	/* closing a duplicate reports delayed write errors, as close() would;
	 * with no descriptor to spare there is nothing to report that the
	 * backing file systems mhafs runs on do not report at fsync */
	int d = dup((int)fi->fh);
	int err = d >= 0 ? (close(d) < 0 ? errno : 0) : errno == EMFILE || errno == ENFILE ? 0 : errno;
	fuse_reply_err(req, err);
}

void fs_fill_stale(struct inode *in)
{
	atomic_fetch_and(&in->fill, ~1);
	atomic_fetch_add(&in->fill, 2);
}

/* A file the kernel saw made and written whole by one writer, now closed:
 * hand the kernel its content (notify_store), so that its page cache holds
 * every page.  Writes through the mount leave pages they covered only in
 * part (a header written in pieces, the last page) unread, and the first
 * read of the message (IMAP FETCH of new mail) would ask for them.  The
 * content goes from the backing file, so it is what a READ would return;
 * a writer's open or a truncation since the file was read (another fill
 * generation) drops what was stored. */
#define FILL_MAX (1 << 20)
#define FILL_CHUNK (64 << 10)
static void fill_cache(struct mhafs *fs, fuse_ino_t ino, struct inode *in, int gen)
{
	char proc[64];
	struct stat st;
	if (!fs->se || fs->cfg->writeback_cache || fstatat(in->fd, "", &st, AT_EMPTY_PATH) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > FILL_MAX)
		return;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", in->fd);
	/* no read of the user's: the file's atime stays what it was (a
	 * delivery sets it with utimensat, maybe after this close) */
	if (!store_begin(fs, STORE_SLOTS))
		return;
	int fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0) {
		store_end(fs);
		return;
	}
	char *buf = malloc(FILL_CHUNK);
	off_t off = 0;
	int stored = 0;
	while (buf && off < st.st_size) {
		ssize_t n = pread(fd, buf, FILL_CHUNK, off);
		if (n <= 0 || atomic_load(&in->fill) != gen)
			break;
		struct fuse_bufvec v = FUSE_BUFVEC_INIT((size_t)n);
		v.buf[0].mem = buf;
		if (fuse_lowlevel_notify_store(fs->se, ino, off, &v, 0) < 0)
			break;
		stored = 1;
		off += n;
	}
	free(buf);
	close(fd);
	/* dropping pages locks them as a store does: inside the slot */
	if (stored && atomic_load(&in->fill) != gen)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	store_end(fs);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mhafs *fs = fs_of(req);
	struct inode *in = itable_get(fs->inodes, ino);
	close((int)fi->fh);
	itable_handles(fs->inodes, -1);
	if (is_writer(fi->flags) && atomic_fetch_sub(&in->writers, 1) == 1) {
		if (atomic_exchange(&in->dirty, 0))
			fs_journal_content(fs, in);
		int f = atomic_load(&in->fill);
		/* before the reply: the kernel holds the inode until then */
		if ((f & 1) && atomic_compare_exchange_strong(&in->fill, &f, f & ~1))
			fill_cache(fs, ino, in, f & ~1);
	}
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct mhafs *fs = fs_of(req);
	int rc = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	if (rc < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	/* a queue file's commit point (fsync_commit): on the peer too */
	rc = fs_journal_fsync(fs, itable_get(fs->inodes, ino));
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct mhafs *fs = fs_of(req);
	int fd = (int)fi->fh;
	int err = may_take_space(fs, fd);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	int rc = fallocate(fd, mode, off, len);
	if (rc < 0 && errno == ENOSPC && fs_space_release_for(fs, fd))
		rc = fallocate(fd, mode, off, len);
	if (rc < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	atomic_store(&itable_get(fs->inodes, ino)->dirty, 1);
	fuse_reply_err(req, 0);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	(void)ino;
	off_t r = lseek((int)fi->fh, off, whence);
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

/* ---- directories ---- */

struct dirp {
	DIR *dp;
	struct dirent *entry;
	off_t offset;
};

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mhafs *fs = fs_of(req);
	struct inode *in = itable_get(fs->inodes, ino);
	int err = itable_handle_open(fs->inodes); /* descriptors short: ENFILE */
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	struct dirp *d = calloc(1, sizeof(*d));
	int fd = d ? openat(in->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (!d || fd < 0 || !(d->dp = fdopendir(fd))) {
		err = d ? errno : ENOMEM;
		if (fd >= 0)
			close(fd);
		free(d);
		itable_handles(fs->inodes, -1);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->cache_readdir = 0; /* names change underneath with replication */
	fuse_reply_open(req, fi);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		       struct fuse_file_info *fi, int plus)
{
	struct mhafs *fs = fs_of(req);
	struct inode *dir = itable_get(fs->inodes, ino);
	struct dirp *d = (struct dirp *)(uintptr_t)fi->fh;
	char *buf = calloc(1, size), *p = buf;
	size_t rem = size;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		const char *name = d->entry->d_name;
		off_t next = d->entry->d_off;
		size_t sz;
		if (fs_hidden(fs, dir, name)) {
			d->entry = NULL;
			d->offset = next;
			continue;
		}
		if (plus) {
			struct fuse_entry_param e;
			int dots = !strcmp(name, ".") || !strcmp(name, "..");
			if (dots) {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = d->entry->d_ino;
				e.attr.st_mode = (mode_t)d->entry->d_type << 12;
			} else {
				int lerr = fs_do_lookup(fs, dir, name, &e, 1);
				if (lerr == ENOENT) { /* vanished since readdir: skip it */
					d->entry = NULL;
					d->offset = next;
					continue;
				}
				if (lerr == ENFILE) {
					/* the inode table is full: the name without
					 * its attributes (node id 0), as readdir */
					memset(&e, 0, sizeof(e));
					e.attr.st_ino = d->entry->d_ino;
					e.attr.st_mode = (mode_t)d->entry->d_type << 12;
					lerr = 0;
				}
				if (lerr) {
					err = lerr;
					break;
				}
			}
			sz = fuse_add_direntry_plus(req, p, rem, name, &e, next);
			if (sz > rem) {
				if (e.ino) /* a lookup the kernel will not get */
					itable_forget(fs->inodes, itable_get(fs->inodes, e.ino), 1);
				break;
			}
		} else {
			struct stat st;
			memset(&st, 0, sizeof(st));
			st.st_ino = d->entry->d_ino;
			st.st_mode = (mode_t)d->entry->d_type << 12;
			sz = fuse_add_direntry(req, p, rem, name, &st, next);
			if (sz > rem)
				break;
		}
		p += sz;
		rem -= sz;
		d->entry = NULL;
		d->offset = next;
	}
	/* an error after some entries is reported by the next call */
	if (err && rem == size)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirp *d = (struct dirp *)(uintptr_t)fi->fh;
	(void)ino;
	closedir(d->dp);
	free(d);
	itable_handles(fs_of(req)->inodes, -1);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct dirp *d = (struct dirp *)(uintptr_t)fi->fh;
	int fd = dirfd(d->dp);
	(void)ino;
	int rc = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, rc < 0 ? errno : 0);
}

void fs_data_ops(struct fuse_lowlevel_ops *ops)
{
	ops->init = op_init;
	ops->open = op_open;
	ops->create = op_create;
	ops->read = op_read;
	ops->write_buf = op_write_buf;
	ops->flush = op_flush;
	ops->release = op_release;
	ops->fsync = op_fsync;
	ops->fallocate = op_fallocate;
	ops->lseek = op_lseek;
	ops->opendir = op_opendir;
	ops->readdir = op_readdir;
	ops->readdirplus = op_readdirplus;
	ops->releasedir = op_releasedir;
	ops->fsyncdir = op_fsyncdir;
}
