/* inode.h: the table of inodes the kernel knows about.  As in libfuse's
 * passthrough_hp, each inode holds an O_PATH descriptor of the backing
 * object, is keyed by the backing (st_dev, st_ino), and lives while the
 * kernel's lookup count is above zero.  The FUSE node id is the address of
 * the struct; the root is FUSE_ROOT_ID. */
#ifndef MHAFS_INODE_H
#define MHAFS_INODE_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/* One per file the kernel holds: a million after a walk of a large store.
 * The 4-byte fields come first, so the struct is 56 bytes and one 64-byte
 * malloc chunk (in the former order, with padding, 64 bytes and an 80-byte
 * chunk; bench/memory). */
struct inode {
	int fd;               /* O_PATH|O_NOFOLLOW of the backing object */
	mode_t type;          /* S_IFMT bits */
	atomic_int dirty;     /* written since the last journaled content */
	atomic_int writers;   /* open handles with write access */
	atomic_int growing;   /* writes past EOF whose size the kernel may not hold yet */
	atomic_int fill;      /* fs_data.c's cache fill: generation * 2 + "fresh" bit */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;     /* guarded by the table lock */
	int forgotten;        /* nlookup reached 0 while growing: the last write frees it */
	struct inode *next;   /* hash chain */
};

struct inode_table;
/* A write past EOF counted in in->growing is done (after its reply and its
 * size settling): the inode is freed here if the kernel forgot it meanwhile. */
void itable_growing_done(struct inode_table *t, struct inode *in);

struct inode_table *itable_new(int root_fd, dev_t dev, ino_t ino);
void itable_free(struct inode_table *t);
struct inode *itable_root(struct inode_table *t);
/* Map a FUSE node id to its inode (root for FUSE_ROOT_ID). */
struct inode *itable_get(struct inode_table *t, fuse_ino_t ino);
fuse_ino_t itable_nodeid(struct inode_table *t, struct inode *in);
/* Find or add the inode for an object just opened as fd (O_PATH) with stat
 * st; bumps nlookup by one.  Takes ownership of fd (closed if the inode
 * already existed).  Returns NULL with errno on failure. */
struct inode *itable_learn(struct inode_table *t, int fd, const struct stat *st);
/* The same for a lookup the kernel will hold: a new inode beyond the
 * table's limit (inodes and open handles together) is refused (NULL,
 * errno ENFILE, counted), so the descriptors left over stay for the
 * journal, SQLite and the peer. */
struct inode *itable_learn_limited(struct inode_table *t, int fd, const struct stat *st);
/* The most inodes and open handles together (0: no limit); main.c sets it
 * from the open files limit. */
void itable_set_limit(struct inode_table *t, size_t limit);
/* Whether inodes and handles are at the limit; counts a refusal when they
 * are.  An operation that would make an object the kernel then holds asks
 * before it makes anything, and answers ENFILE. */
int itable_full(struct inode_table *t);
/* An open file or directory handle (a descriptor) about to be made: 0 and
 * counted, or ENFILE (a refusal) at the limit.  itable_handles(t, -1) when
 * it closes, or when the open then fails; itable_handles(t, 1) counts one
 * whose room was asked with itable_full. */
int itable_handle_open(struct inode_table *t);
void itable_handles(struct inode_table *t, int delta);
struct itable_stats {
	size_t inodes, handles, limit;
	uint64_t refused; /* lookups, opens and creations, since the start */
};
void itable_stats(struct inode_table *t, struct itable_stats *st);
/* Find without changing counts; NULL if unknown. */
struct inode *itable_find(struct inode_table *t, dev_t dev, ino_t ino);
/* Drop n lookups; frees the inode at zero. */
void itable_forget(struct inode_table *t, struct inode *in, uint64_t n);

#endif
