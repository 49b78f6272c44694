/* journal.h: the node's journal and catalog (one SQLite database in WAL
 * mode under state_dir).  The journal is the ordered stream of this node's
 * mutating operations, (origin, seq) with an HLC timestamp each, that the
 * replicator ships to the peer.  The catalog is the current state of every
 * replicated path, kept in the same transaction as the journal row, and is
 * what the start-up check compares with the backing tree after a crash. */
#ifndef MHAFS_JOURNAL_H
#define MHAFS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "hash.h"
#include "hlc.h"

enum jop {
	JOP_MKDIR = 1,
	JOP_RMDIR = 2,
	JOP_CREATE = 3,      /* new empty regular file (outside node-local paths) */
	JOP_MKNOD = 4,
	JOP_SYMLINK = 5,     /* path2 = link target */
	JOP_UNLINK = 6,
	JOP_RENAME = 7,      /* path -> path2, flags = renameat2 flags */
	JOP_LINK = 8,        /* existing path -> new name path2 */
	JOP_SETATTR = 9,     /* flags = FUSE_SET_ATTR_* mask; st has the result */
	JOP_WRITE = 10,      /* content of path final (closed after writing) */
	JOP_SETXATTR = 11,   /* xname; value not journaled in v1 */
	JOP_REMOVEXATTR = 12,
	JOP_COMMIT = 13,     /* file arrived at path from a node-local path
			      * (rename or link out of tmp/): path2 = source */
};
#define JOP_MAX 13

/* One operation.  The caller fills op, paths, flags, st and the hash; the
 * journal assigns origin, seq and hlc. */
struct jentry {
	uint16_t origin;
	uint64_t seq;
	hlc_t hlc;
	enum jop op;
	const char *path;    /* store-relative, no leading '/' */
	const char *path2;   /* second path or symlink target, or NULL */
	const char *xname;   /* xattr name or NULL */
	uint32_t flags;
	int has_st;
	struct stat st;      /* state of the (resulting) object, if has_st */
	int has_hash;
	struct hash128 hash; /* xxh3-128 of the content, for committed files */
};

struct journal;

/* Open or create state_dir/journal.db.  clean_out (may be NULL) gets 1 if
 * the last run closed the journal cleanly, 0 after a crash. */
struct journal *journal_open(const char *state_dir, uint16_t node_id, struct hlc *clock,
			     int *clean_out, char *err, size_t errlen);
/* Record e (assigning seq and hlc) and update the catalog, atomically.
 * Thread safe.  Returns 0 or -errno (e.g. -ENOSPC). */
int journal_record(struct journal *j, struct jentry *e);
/* Start-up check after an unclean stop: walk the backing tree (skipping
 * node-local paths), compare with the catalog, and journal what differs.
 * On a fresh catalog it only builds the catalog.  Reports counts. */
struct recover_stats {
	uint64_t scanned, added, changed, removed;
};
int journal_recover(struct journal *j, int backing_fd, char *const *local, size_t nlocal,
		    struct recover_stats *st);
/* Mark a clean stop (to be called after the last operation) and close. */
void journal_close(struct journal *j, int clean);
const char *jop_name(enum jop op);

/* Binary encoding of an entry, for the wire and for tests: returns the
 * length written (or needed, when > cap), or -1 on a bad entry. */
long jentry_encode(const struct jentry *e, uint8_t *buf, size_t cap);
/* Decode; strings point into buf (copied to NUL-terminated storage in
 * strbuf).  Returns 0, or -1 for malformed input (every field checked). */
int jentry_decode(const uint8_t *buf, size_t len, struct jentry *e, char *strbuf, size_t strcap);

#endif
