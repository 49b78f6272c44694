/* journal.h: the node's journal and catalog (one SQLite database in WAL
 * mode under state_dir).  The journal is the ordered stream of this node's
 * mutating operations, (origin, seq) with an HLC timestamp each, that the
 * replicator ships to the peer.  The catalog is the current state of every
 * replicated path, kept in the same transaction as the journal row, and is
 * what the start-up check compares with the backing tree after a crash. */
#ifndef MHAFS_JOURNAL_H
#define MHAFS_JOURNAL_H

#include <stddef.h>
#include <stdio.h>
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

/* SQL statements this process has run on its journal database (every
 * connection: the journal's own, the sender's and the receiver's readers;
 * a trigger's body is not counted apart from the statement that fired it).
 * A figure for `mhactl status` and bench/lmtp-delivery. */
uint64_t journal_statements(void);

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
/* Asynchronous writing (group commit).  Once started, journal_record only
 * assigns seq and hlc and queues the entry; a writer thread commits queued
 * entries in batches, one transaction each.  An entry still queued when the
 * process dies is lost from the journal but not from the store: the
 * start-up check after an unclean stop journals what the tree holds.
 * Callers that must know an entry is in the database (a sync commit waits
 * for the peer, which reads the database) are told through committed(). */
struct journal_hooks {
	void *arg;
	void (*committed)(void *arg, uint64_t seq); /* entries up to seq are in the database */
	int (*full)(void *arg);    /* the database's disk is full: free room, 1 if it did */
	void (*failed)(void *arg); /* a batch could not be written */
};
/* Start the writer (after any fork).  0 or -errno. */
int journal_start_writer(struct journal *j, const struct journal_hooks *hooks);
/* Wait until every entry queued so far is committed. */
void journal_flush(struct journal *j);
/* No committed() call after this returns (one running is waited for):
 * before freeing what the hook uses.  The writer goes on committing. */
void journal_hooks_off(struct journal *j);

/* Make the next seq greater than floor (no-op if it already is).  mhafs
 * starts a new journal's numbering at the current HLC, so a journal lost
 * and recreated never reuses numbers a peer has already seen from it. */
void journal_seq_floor(struct journal *j, uint64_t floor);

/* Mark a clean stop (to be called after the last operation) and close. */
void journal_close(struct journal *j, int clean);
const char *jop_name(enum jop op);

/* Binary encoding of an entry, for the wire and for tests: returns the
 * length written (or needed, when > cap), or -1 on a bad entry. */
long jentry_encode(const struct jentry *e, uint8_t *buf, size_t cap);
/* Decode; strings point into buf (copied to NUL-terminated storage in
 * strbuf).  Returns 0, or -1 for malformed input (every field checked). */
int jentry_decode(const uint8_t *buf, size_t len, struct jentry *e, char *strbuf, size_t strcap);


/* ---- Additions (journal owner).  The declarations above keep their
 * meaning; what follows makes the contract precise and adds helpers. ---- */

/* Rules every entry obeys (journal_record returns -EINVAL otherwise, and
 * the decoder rejects them): path is a safe store-relative path
 * (pathpat_is_safe) of at most JENTRY_MAX_PATH bytes; path2 is given for
 * exactly SYMLINK (any target), RENAME and LINK (safe paths), and may be
 * given for COMMIT (the node-local source, when known; safe) and UNLINK
 * (a Maildir message's removal that is the source half of a move: where
 * the message arrived just before, in another folder; safe); xname
 * for exactly SETXATTR and REMOVEXATTR (at most JENTRY_MAX_XNAME bytes);
 * flags are 0 except RENAME (renameat2 bits below, not NOREPLACE with
 * EXCHANGE), SETATTR (FUSE_SET_ATTR_* bits) and SETXATTR (XATTR_CREATE |
 * XATTR_REPLACE); st_mode, if has_st, is a valid file type and permission.
 *
 * What the catalog does with each op: MKDIR/CREATE/MKNOD/SYMLINK insert a
 * live row (kind from st if given, else from the op; a symlink's hash is
 * that of its target); UNLINK makes path a tombstone, RMDIR path and
 * anything below it; RENAME moves the row and, for a directory, the whole
 * subtree to path2 and leaves tombstones (with the new hlc) at the old
 * paths, so a peer learns that they are gone; RENAME_EXCHANGE swaps the two
 * subtrees; LINK copies the row to path2; SETATTR/WRITE/COMMIT update (or
 * insert) the row at path from st and the hash (SETATTR with
 * FUSE_SET_ATTR_SIZE and no hash, and WRITE without hash, clear the hash);
 * an UNLINK of a Maildir message also records, per (folder, base name),
 * the latest removal of that message from that folder: its hlc, origin and
 * path2 (where it went, or none for an expunge), for apply_move.c;
 * SETXATTR/REMOVEXATTR stamp the row's hlc.  Every change carries the
 * entry's hlc and origin. */
#define JENTRY_MAX_PATH 4096
#define JENTRY_MAX_XNAME 255
#define JOP_RENAME_NOREPLACE 1u   /* = RENAME_NOREPLACE */
#define JOP_RENAME_EXCHANGE 2u    /* = RENAME_EXCHANGE */
#define JOP_RENAME_WHITEOUT 4u    /* = RENAME_WHITEOUT */
#define JOP_RENAME_FLAGS 7u
#define JOP_SETATTR_FLAGS 0x3ffffu /* FUSE_SET_ATTR_MODE .. _TOUCH */
/* An UNLINK the reconciliation walk sends to re-state a deletion its
 * catalog holds (protocol level 2): not a user's expunge or move, so the
 * move rule (apply_move.c) does not take it for one. */
#define JOP_UNLINK_RESTATED 1u
#define JOP_SETXATTR_FLAGS 3u      /* XATTR_CREATE | XATTR_REPLACE */
/* Largest encoded entry: fixed part, st, hash and three maximal strings. */
#define JENTRY_MAX_ENCODED (25 + 36 + 16 + 3 * 2 + 2 * JENTRY_MAX_PATH + JENTRY_MAX_XNAME)
/* String buffer big enough for any decoded entry. */
#define JENTRY_MAX_STRBUF (2 * (JENTRY_MAX_PATH + 1) + JENTRY_MAX_XNAME + 1)

/* NULL if e obeys the rules above, else why not.  need_ids: also require
 * origin, seq and hlc (set on recorded entries, not on new ones). */
const char *jentry_invalid(const struct jentry *e, int need_ids);
/* Operation number for a name from jop_name, or -1. */
int jop_from_name(const char *name);

/* clean_out from journal_open is also 0 when the catalog has never been
 * built (a new or replaced database), so "if (!clean) journal_recover()"
 * covers both cases; this says which. */
int journal_catalog_built(struct journal *j);
/* This node's name, which names its Postfix queue area on the store
 * (.mhafs-queue/NAME/): the start-up check leaves other nodes' queue files
 * to them (recover.c). */
void journal_set_node_name(struct journal *j, const char *name);
/* Last sequence number this node assigned (0 if none). */
uint64_t journal_last_seq(struct journal *j);

/* Read-only comparison of the catalog in state_dir/journal.db with the
 * backing tree (for mhactl check; safe while mhafs runs).  Each difference
 * is written to out as one line "KIND path: detail" (KIND is missing,
 * extra, changed or hash).  verify_hash: also re-hash every regular file.
 * Returns the number of differences (>= 0), or -1 with err filled. */
long journal_check(const char *state_dir, int backing_fd, char *const *local, size_t nlocal,
		   int verify_hash, FILE *out, char *err, size_t errlen);

#endif
