/* uidlist.h: Dovecot's dovecot-uidlist file (parse, semantic merge, write)
 * and the removal of the mailbox index beside it once its UIDs moved.
 *
 * Format version 3 (what Dovecot 1.1+ writes):
 *   header: "3 V<uidvalidity> N<nextuid> G<mailbox guid> [<key><value> ...]"
 *   record: "<uid> [<key><value> ...] :<base name>"
 * records in ascending UID order, base names without the ":2,<flags>" part.
 * Version 1 ("1 <uidvalidity> <nextuid>", records "<uid> <name>") is read
 * too; the output is always version 3.  Dovecot appends records without
 * rewriting the header, so the usable next UID is max(N, last UID + 1). */
#ifndef MHAFS_UIDLIST_H
#define MHAFS_UIDLIST_H

#include <stddef.h>
#include <stdint.h>

struct uidlist_rec {
	uint32_t uid;
	char *ext;      /* the record's extension fields as written, or NULL */
	char *base;     /* message base name */
};

struct uidlist {
	uint32_t uidvalidity;
	uint32_t nextuid;       /* from the header */
	char guid[33];          /* 32 hex digits, or "" when absent */
	char *hdr_ext;          /* other header fields as written, or NULL */
	struct uidlist_rec *rec;
	size_t n, cap;
};

/* Parse len bytes.  0, or -1 with a message "line N: what" in err (the
 * list is then empty).  Free with uidlist_free either way. */
int uidlist_parse(const char *buf, size_t len, struct uidlist *u,
		  char *err, size_t errlen);
void uidlist_free(struct uidlist *u);
/* max(nextuid, highest UID + 1). */
uint32_t uidlist_next(const struct uidlist *u);
/* Dovecot's index of a Maildir mailbox, beside its dovecot-uidlist:
 * node-local, and stale once a merge moves the uidlist's UIDs. */
#define UIDLIST_INDEX_FILES { "dovecot.index", "dovecot.index.log", "dovecot.index.log.2", \
			      "dovecot.index.cache" }

/* Called with the name of each index file uidlist_drop_index removed. */
typedef void (*uidlist_dropped_fn)(void *arg, const char *name);
/* Sync the directory after the removal (before the second mark). */
#define UIDLIST_DROP_SYNC 1
/* Stop at errors: when the first mark fails nothing is removed, and when
 * a removal fails (the other files still go) neither the sync nor the
 * second mark follow.  Without it every step is tried and the first
 * error returned: a stale index must not stay for a missed mark. */
#define UIDLIST_DROP_STRICT 2
/* Remove Dovecot's index (UIDLIST_INDEX_FILES) from the mailbox directory
 * dfd, so that Dovecot rebuilds it from the uidlist and the files.  The
 * rebuilt index starts from low MODSEQs: when any index file is there, the
 * index drop mark (lib/smallfile.h) in the state directory mark_dfd (-1:
 * none) is raised before the removal (a crash in between still raises
 * the MODSEQ floor again) and after it (a floor raised meanwhile, on the
 * old index, is raised again).  dropped (or NULL) is called for each file
 * removed, with arg.  flags: UIDLIST_DROP_*.  The number of files removed
 * (0 when there was no index), or -errno. */
int uidlist_drop_index(int dfd, int mark_dfd, int flags, uidlist_dropped_fn dropped, void *arg);

/* Whether a and b mean the same to Dovecot: UIDVALIDITY, mailbox GUID,
 * header fields, usable next UID and the records with their fields, in
 * order.  Texts may still differ (Dovecot appends records without
 * rewriting the header's next UID; uidlist_format writes it). */
int uidlist_same(const struct uidlist *a, const struct uidlist *b);
/* Version 3 text into a malloc'd buffer.  0 or -1 (out of memory). */
int uidlist_format(const struct uidlist *u, char **out, size_t *outlen);

struct uidlist_stats {
	int uidvalidity_conflict;  /* the two UIDVALIDITYs differed */
	int guid_conflict;         /* the two mailbox GUIDs differed */
	size_t common;             /* entries on both sides with one UID */
	size_t only_a, only_b;     /* entries kept from one side */
	size_t collisions;         /* same UID naming different messages */
	size_t reassigned;         /* entries given a new UID */
	size_t dropped;            /* entries the keep callback refused */
};

/* Whether the message with this base name will exist in the mailbox after
 * the merge (entries for expunged messages are dropped). */
typedef int (*uidlist_keep_fn)(const char *base, void *arg);

/* Semantic merge of a and b into out (which the caller frees):
 *  - an entry on both sides with the same UID keeps it;
 *  - UIDVALIDITY (and the mailbox GUID) is kept; if the sides differ, the
 *    newer file's (b_newer) wins and the conflict is counted;
 *  - entries whose UIDs collide (one UID, different base names), entries
 *    whose two UIDs disagree, and an entry known to one side only whose UID
 *    is below the other side's next UID (that side's clients would never
 *    see it) get new UIDs above both next UIDs, in a stable order, so a
 *    client sees an expunge plus a new message, never a wrong message;
 *  - next UID = max(highest UID + 1, both next UIDs).
 * keep may be NULL (keep everything).  0, or -1 out of memory. */
int uidlist_merge(const struct uidlist *a, const struct uidlist *b, int b_newer,
		  uidlist_keep_fn keep, void *arg, struct uidlist *out,
		  struct uidlist_stats *st);

/* Whether merging changed what a UID of ours names in a way a Dovecot
 * index built on ours could see: a message of ours that is still here
 * (still_here(base, arg) nonzero, also when unsure) got another UID or
 * none, or an old UID of ours now names another message.  An entry that
 * lost its UID after its file went (expunged or moved away) does not
 * count: Dovecot drops that UID as after any expunge, and removing the
 * index for it would log every client of the mailbox out for nothing.
 * Past UIDLIST_GONE_CHECKS such entries, the answer is yes.  1 or 0 (1
 * when out of memory). */
#define UIDLIST_GONE_CHECKS 64
int uidlist_uids_moved(const struct uidlist *ours, const struct uidlist *merged,
		       uidlist_keep_fn still_here, void *arg);

#endif
