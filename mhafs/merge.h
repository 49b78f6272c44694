/* merge.h: the merge rules that make two diverged stores converge (DESIGN.md
 * decisions 3 and 4), as pure functions: the caller gathers each side's
 * state (from the catalog or, offline, from stat) and applies what these
 * decide.  No I/O happens here.
 *
 * Ordering: every state carries a stamp (HLC, node); the greater stamp is
 * the later write.  A missing side either has a tombstone (the user deleted
 * it, with the tombstone's stamp) or nothing is known, in which case the
 * present side is copied: no rule deletes what no user deleted. */
#ifndef MHAFS_MERGE_H
#define MHAFS_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

struct mstamp {
	uint64_t hlc;         /* HLC of the last change (or a time in HLC form) */
	const char *node;     /* tie-break: node name or id as text */
};

/* <0, 0, >0 as a is earlier than, the same as, later than b. */
int mstamp_cmp(const struct mstamp *a, const struct mstamp *b);

/* ---- Maildir file names (Dovecot's rules) ----
 * A message file name is "<base>[:<info>]"; Dovecot treats everything up
 * to the first ':' as the message's identity (",S=<size>,W=<vsize>" fields
 * belong to the base), and the info "2,<flags>" carries the flags. */

/* Length of the base name: the bytes before the first ':'. */
size_t maildir_base_len(const char *fname);
/* The info after the first ':' ("2,FS"), or "" when there is none. */
const char *maildir_info(const char *fname);
/* Whether the store-relative path names a message: a file directly in a
 * "cur" or "new" directory.  Sets *mbox_len to the length of the mailbox
 * directory (the path before "/cur/" or "/new/"; 0 for a top-level one). */
int maildir_is_message(const char *relpath, size_t *mbox_len);
/* The Maildir++ user root a mailbox belongs to: a mailbox whose last
 * component starts with '.' is a folder of its parent, any other mailbox is
 * its own root.  Returns the length of the root prefix of mbox. */
size_t maildir_root_len(const char *mbox, size_t mbox_len);
/* A new unique name for the loser of a same-name-different-content clash:
 * "<unique>.mhafsck-<16 hex of the content hash>" followed by the original
 * ",extra" fields and ":info", so Dovecot still reads the size and flags.
 * Deterministic (the same content gets the same name on a re-run).
 * Returns 0, or -1 if out is too small. */
int maildir_conflict_name(const char *fname, const struct hash128 *content,
			  char *out, size_t outlen);

/* ---- decisions ---- */

enum merge_class {
	MC_NONE = 0,
	MC_MISSING,       /* present on one side only */
	MC_LOCATION,      /* a message's folder and/or flags differ */
	MC_CONTENT,       /* same name, different content */
	MC_UIDLIST,       /* dovecot-uidlist files differ */
	MC_OTHER,         /* another file differs */
	MC_STRAY,         /* a node-local file (reported on request only) */
	MC_COUNT
};

enum merge_action {
	MA_NONE = 0,
	MA_COPY_TO_A,     /* B's object copied to A */
	MA_COPY_TO_B,
	MA_DELETE_ON_A,   /* B's newer tombstone wins */
	MA_DELETE_ON_B,
	MA_MOVE_ON_A,     /* A's message takes B's folder and flags */
	MA_MOVE_ON_B,
	MA_KEEP_BOTH_A_RENAMED, /* A's file gets a new unique name, both kept */
	MA_KEEP_BOTH_B_RENAMED,
	MA_MERGE_UIDLIST, /* write the semantic merge to both sides */
	MA_MERGE_FLAGS,   /* both take a third name: flags merged one by one */
	MA_COUNT
};

struct merge_decision {
	enum merge_class cls;
	enum merge_action act;
};

/* One side's view of a message key. */
struct msg_side {
	int present;            /* a live file exists */
	const char *dir;        /* present: its store-relative dir (".../cur") */
	const char *name;       /* present: its file name */
	struct hash128 hash;    /* present: content hash */
	struct mstamp stamp;    /* present: last (folder, flags) change;
				 * absent with tombstone: the expunge */
	int tombstone;          /* absent and expunged by a user */
};

/* Decide one message key.  Both present, same content: (folder, flags)
 * last-writer-wins.  Both present, different content: both kept, the copy
 * with the later stamp renamed (the earlier keeps the name).  One
 * present: the other side's tombstone wins only if newer; otherwise the
 * message is copied. */
void merge_message(const struct msg_side *a, const struct msg_side *b,
		   struct merge_decision *d);

/* One side's view of a small file (dovecot-keywords, subscriptions,
 * dovecot-uidvalidity*, sieve scripts, anything not a message). */
struct file_side {
	int present;
	struct hash128 hash;
	struct mstamp stamp;    /* last write, or the tombstone's */
	int tombstone;
};

/* Whole-file last-writer-wins; a missing side is copied to unless its
 * tombstone is newer. */
void merge_file(const struct file_side *a, const struct file_side *b,
		struct merge_decision *d);

/* One side's view of a directory. */
struct dir_side {
	int present;
	struct mstamp stamp;    /* its last change, or the tombstone's */
	int tombstone;
};

/* Directories are a union: one missing on a side is created there, unless
 * that side removed it (a tombstone) later than the other side's last
 * change AND nothing replicated stays under it on the other side once the
 * other rules are applied (keeps_content 0) - then it goes there too.  So a
 * folder deleted during a split is deleted, but one that received new mail
 * on the other side comes back with it. */
void merge_dir(const struct dir_side *a, const struct dir_side *b, int keeps_content,
	       struct merge_decision *d);

const char *merge_class_name(enum merge_class c);
const char *merge_action_name(enum merge_action a);

#endif
