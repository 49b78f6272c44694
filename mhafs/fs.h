/* fs.h: the state of one mounted mhafs file system, shared by the FUSE
 * operation files (fs_meta.c, fs_data.c), the journal glue (fs_journal.c)
 * and main.c. */
#ifndef MHAFS_FS_H
#define MHAFS_FS_H

#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "config.h"
#include "hlc.h"
#include "inode.h"
#include "journal.h"
#include "reserve.h"

struct mhafs {
	struct config *cfg;
	int root_fd;                 /* O_PATH of the backing directory */
	char *root_path;             /* its real path, no trailing '/' */
	size_t root_len;
	struct inode_table *inodes;
	struct journal *journal;
	struct hlc clock;
	struct fuse_session *se;
	struct repl *repl;           /* NULL without a peer */
	struct ctl *ctl;
	struct watch *watch;          /* space levels, hook, metrics (watch.h) */
	struct arrivals *arrivals;   /* messages just committed: tells a move's unlink */
	double entry_timeout, attr_timeout;
	int close_silent;            /* the root's file system's close() reports nothing and no writeback cache */
	atomic_int journal_failed;   /* a record failed: next start must check */
	atomic_int journal_full;     /* the journal's file system is full */
	atomic_ullong gate_checked_ms;
	struct reserve journal_reserve; /* state_dir/reserve: space kept for the journal */
	struct reserve control_reserve; /* in the store: space kept for Dovecot's control files */
	atomic_ulong ops_journaled;
	atomic_ulong ops_local;
	atomic_int stores_busy;      /* workers inside a notify_store (fs_data.c) */
	atomic_ulong stores_skipped; /* stores left out: no slot free */
	atomic_ulong flushes;        /* FLUSH requests: closes the kernel asked about */
	/* held from an unlink's path lookup to its entry's record, and from a
	 * content entry's last path lookup to its record: a file written in
	 * place and removed by another process meanwhile is journaled either
	 * written-then-removed or not written (fs_journal.c) */
	pthread_mutex_t ns_lock;
};

/* The operation table (fs_meta.c fills the name ops, fs_data.c the rest). */
const struct fuse_lowlevel_ops *fs_build_ops(void);
void fs_data_ops(struct fuse_lowlevel_ops *ops);
/* Look name up in parent and fill e (lookup count +1); 0 or an errno.
 * limited: a name new to the inode table is refused with ENFILE when the
 * table is at its limit (inode.h); an operation that has just made the
 * object asked itable_full before and passes 0. */
int fs_do_lookup(struct mhafs *fs, struct inode *parent, const char *name, struct fuse_entry_param *e,
		 int limited);
/* Whether name in parent is mhafs's own (CONFIG_STAGING_DIR at the top:
 * the replicator's staging files and the store's space reserve), which
 * the mount does not show. */
int fs_hidden(struct mhafs *fs, struct inode *parent, const char *name);

static inline struct mhafs *fs_of(fuse_req_t req)
{
	return (struct mhafs *)fuse_req_userdata(req);
}

/* ---- fs_journal.c: turning FUSE operations into journal entries ---- */

/* Store-relative path of an inode (NULL-free: "" for the root) into buf.
 * Returns 0, -ENOENT if the object is gone, -ENAMETOOLONG. */
int fs_inode_path(struct mhafs *fs, struct inode *in, char *buf, size_t len);
/* Store-relative path of name inside directory parent. */
int fs_child_path(struct mhafs *fs, struct inode *parent, const char *name, char *buf, size_t len);
int fs_is_local(struct mhafs *fs, const char *relpath);

/* Record one operation (helpers fill the jentry); returns 0 or -errno.
 * Local (node-local) paths are skipped by the callers. */
int fs_journal(struct mhafs *fs, enum jop op, const char *path, const char *path2,
	       const char *xname, uint32_t flags, const struct stat *st, int hash_fd);

/* Journal the effect of an entry-creating op (mkdir, mknod, create,
 * symlink) on parent/name. */
int fs_journal_new(struct mhafs *fs, enum jop op, struct inode *parent, const char *name,
		   const char *target, const struct stat *st);
/* Journal an unlink or rmdir of path (taken before the name was gone);
 * moved_to: where the message went, for an unlink that completes a move
 * (fs_moved_to), else NULL. */
int fs_journal_removed(struct mhafs *fs, enum jop op, const char *path, const char *moved_to);
/* Before unlinking the Maildir message parent/name (at path): 1 with
 * where it went in out if the unlink completes a move (arrivals.h; its
 * content is hashed only when its base name does not tell), else 0.
 * Asked for node-local paths too: fs_journal_removed skips those. */
int fs_moved_to(struct mhafs *fs, struct inode *parent, const char *name, const char *path,
		char *out, size_t outlen);
/* Journal a rename; called after it succeeded.  obj_fd is an O_PATH fd of
 * the object now at the destination (for hashing a commit). */
int fs_journal_rename(struct mhafs *fs, struct inode *p1, const char *n1, struct inode *p2,
		      const char *n2, unsigned flags);
/* Journal a hard link of in to newparent/newname. */
int fs_journal_link(struct mhafs *fs, struct inode *in, struct inode *newparent, const char *newname);
/* Journal an attribute change of in (mask of FUSE_SET_ATTR_*). */
int fs_journal_setattr(struct mhafs *fs, struct inode *in, int mask);
/* Journal the new content of in after a writer closed it. */
int fs_journal_content(struct mhafs *fs, struct inode *in);
int fs_journal_fsync(struct mhafs *fs, struct inode *in);
/* Journal an xattr change. */
int fs_journal_xattr(struct mhafs *fs, enum jop op, struct inode *in, const char *name);

/* ---- cluster-wide dotlocks (repl_lock.c) ----
 * Before an O_EXCL create of a shared dotlock (dovecot-uidlist.lock) in
 * parent: 1 when the peer now holds it for us too, 0 when there is no
 * peer to ask, -EEXIST when it is taken there (the create must fail). */
int fs_dotlock_take(struct mhafs *fs, struct inode *parent, const char *name, int flags);
/* The dotlock parent/name is gone here (renamed over the file it locks:
 * renamed = 1; removed, or its create failed: 0): content written to the
 * locked file goes to the peer, then the peer may let go of the lock.  A
 * no-op for other names. */
void fs_dotlock_give(struct mhafs *fs, struct inode *parent, const char *name, int renamed);

/* ---- the journal's disk space ----
 * A reserve file in state_dir is released when the journal finds its file
 * system full, so the operation that hit it can still be journaled; from
 * then on every change is refused with ENOSPC (fs_gate) until space is
 * free again and the reserve is back.  No change is ever acknowledged
 * without its journal entry. */
void fs_space_init(struct mhafs *fs);
/* 0 if changes may proceed, else ENOSPC. */
int fs_gate(struct mhafs *fs);

/* ---- fs_space.c: room in the store for Dovecot's control files ----
 * A reserve in the backing file system (CONFIG_STAGING_DIR/reserve) is
 * released when a write to one of Dovecot's control files (dovecot-uidlist,
 * dovecot-keywords, its indexes, subscriptions, and their .lock files)
 * finds the file system full,
 * and that write is made again.  Until there is room for the reserve
 * twice over, other writes that would take space (mail) get ENOSPC, so the
 * room goes to the control files: a Dovecot that fails to write its
 * uidlist can lose its map of UIDs to messages (tests/fs/controlfull.sh). */
void fs_control_space_init(struct mhafs *fs);
/* Before a write or fallocate on fd: 0 to go ahead, or ENOSPC while the
 * reserve is given away and fd is not a control file. */
int fs_space_admit(struct mhafs *fs, int fd);
/* The same for content the peer sent for a store path (the receiver). */
int fs_space_admit_path(struct mhafs *fs, const char *path);
/* A write or fallocate on fd failed with ENOSPC: 1 when fd is a control
 * file and the reserve was just released for it (try once more). */
int fs_space_release_for(struct mhafs *fs, int fd);
/* Switch the journal to its writer thread (group commit), after the fork. */
int fs_start_journal_writer(struct mhafs *fs);

/* ---- cache invalidation, for changes made underneath the kernel ---- */
/* Tell the kernel that relpath (store-relative) changed: drops its cached
 * attributes and data, and the directory entry in its parent.  Safe to
 * call for paths the kernel never saw.  Returns 0 or -errno. */
int fs_invalidate_path(struct mhafs *fs, const char *relpath);
/* Ask the kernel to drop its entries of the store's top-level names, and
 * with them every unused entry beneath, so that it forgets their inodes
 * and their descriptors close (the inode table at its limit).  Not from a
 * FUSE worker.  The number of names, or -errno. */
int fs_drop_unused_entries(struct mhafs *fs);
/* A writer opened or truncated in: a pending cache fill is stale (fs_data.c). */
void fs_fill_stale(struct inode *in);

#endif
