/* flagmerge.h: a Maildir message's flags as a set, the per-flag stamps the
 * catalog keeps for it, and the one merge of two versions of a message's
 * flags that the live apply path, the reconciliation walk (through it) and
 * mhafsck all use.  Pure functions: no I/O.
 *
 * Dovecot keeps a message's flags in its file name, "<base>:2,<letters>":
 * system flags are capitals (D draft, F flagged, P passed, R replied,
 * S seen, T trashed), keywords are a-z (their names are in the maildir's
 * dovecot-keywords file).  A flag rename changes the letters only.
 *
 * The merge is per flag: where two versions differ on a flag, the later
 * change of that flag wins (HLC, node id breaking ties).  A node stamps
 * each flag a change touched (the letters that differ between a rename's
 * source and target); a flag no change has stamped here is older than any
 * stamped one, and two unstamped flags fall back to the versions' whole
 * stamps, the rule before flags were merged one by one.  So "+\Seen" on one
 * node and "+\Flagged" on the other keep both, "-\Seen" against
 * "+\Flagged" gives \Flagged, and one flag set on one side and cleared on
 * the other takes the later change.  The result does not depend on which
 * version is a and which b, nor on the order a node meets the changes. */
#ifndef MHAFS_FLAGMERGE_H
#define MHAFS_FLAGMERGE_H

#include <stddef.h>
#include <stdint.h>

#define MFLAG_N 52 /* 'A'..'Z' are bits 0..25, 'a'..'z' bits 26..51 */

struct fstamp {
	uint64_t hlc;
	uint16_t node;
};

/* The stamps of one message's flags: st[i] is valid where bit i of known
 * is set. */
struct fregs {
	uint64_t known;
	struct fstamp st[MFLAG_N];
};

/* <0, 0, >0 as a is earlier than, the same as, later than b. */
int fstamp_cmp(const struct fstamp *a, const struct fstamp *b);

/* The flag set of a Maildir file name: 1 with *mask set when the name has
 * no info or an info "2,<letters>" (letters only, in any order); 0 when the
 * info is anything else (the name is then not merged flag by flag). */
int mflags_parse(const char *name, uint64_t *mask);
/* Whether the Maildir file name (or a path ending in one) carries \Deleted
 * (T): Dovecot's IMAP expunges only such messages. */
int mflags_deleted(const char *name);
/* name with its flags replaced by mask: "<base>:2,<letters>" with the
 * letters in Dovecot's order (ASCII).  0, or -1 if out is too small. */
int mflags_name(const char *name, uint64_t mask, char *out, size_t outlen);

/* Stamp with s every flag that differs between from and to, where s is
 * later than the flag's stamp. */
void fregs_note(struct fregs *r, uint64_t from, uint64_t to, const struct fstamp *s);
/* The catalog's form: 11 bytes per stamped flag (letter, HLC little
 * endian, node little endian), in letter order.  Returns the length, or 0
 * when nothing is stamped or cap is too small. */
#define FREGS_MAX_BYTES (MFLAG_N * 11)
size_t fregs_encode(const struct fregs *r, uint8_t *buf, size_t cap);
/* 0, or -1 if buf is not what fregs_encode writes (r is then empty). */
int fregs_decode(const uint8_t *buf, size_t len, struct fregs *r);

/* One version of a message's flags. */
struct fside {
	uint64_t mask;            /* its flags */
	const struct fregs *regs; /* its flags' stamps, or NULL: none known */
	struct fstamp msg;        /* the version's own last change */
};

/* The merged flag set (see the top of this file). */
uint64_t merge_flags(const struct fside *a, const struct fside *b);

/* The live form: a peer's change of a message's flags from src to dst,
 * made at s, meets this node's version (flags here, stamps regs, last
 * change here_msg).  Returns the flags this node's version takes: the
 * peer's change stamps only the flags it changed. */
uint64_t merge_flags_change(uint64_t here, const struct fregs *regs, const struct fstamp *here_msg,
			    uint64_t src, uint64_t dst, const struct fstamp *s);

#endif
