/* arrivals.h: the Maildir messages that arrived in a folder through this
 * node's mount in the last minute (commits out of tmp/), by base name and
 * content hash.  Dovecot moves a message by committing a copy in the
 * target folder (under the same base name when it can hard-link it, else
 * under a new one) and then unlinking the source; an unlink whose message
 * just arrived in another folder of the same maildir, under its base name
 * or with its content, is such a move's second half, and its journal entry
 * says where the message went.  Any other unlink of a message names no
 * destination (an expunge, or a removal of unknown kind: apply_move.c).
 * So does one whose own arrival (in its folder, through this
 * mount) came less than the sibling window before the other: copies of
 * one delivery (Sieve fileinto and keep) arrive together, and a move's
 * copy is made from a message that was already there.  Thread safe. */
#ifndef MHAFS_ARRIVALS_H
#define MHAFS_ARRIVALS_H

#include <stddef.h>
#include <stdint.h>

#define ARRIVALS_WINDOW_MS 60000 /* a move's unlink follows its copy within this */
#define ARRIVALS_SIBLING_MS 5000 /* the least sibling window: arrivals this close
				  * are one delivery's copies (a commit waits for
				  * the peer at most sync_timeout_ms, 3 s by default) */

struct arrivals;
struct hash128;

/* sibling_ms: the sibling window, at least ARRIVALS_SIBLING_MS (mhafs
 * gives sync_timeout_ms + 2 s, so one delivery's commits, each waiting
 * for the peer, fall inside it). */
struct arrivals *arrivals_new(uint64_t sibling_ms);
void arrivals_free(struct arrivals *ar);
/* A message with content h arrived at path (store-relative) at now_ms;
 * other paths are ignored. */
void arrivals_note(struct arrivals *ar, const char *path, const struct hash128 *h, uint64_t now_ms);
/* Where the message at path (about to be unlinked) went: ARRIVAL_MOVED,
 * with that arrival's path in out, when it arrived under its base name in
 * another folder of the same maildir within the window (and not as a
 * sibling of path's own arrival, see above); ARRIVAL_BY_CONTENT
 * when it did not, but something arrived in another folder of its maildir
 * (its content can tell: arrivals_with_content); else ARRIVAL_NONE. */
enum { ARRIVAL_NONE = 0, ARRIVAL_MOVED = 1, ARRIVAL_BY_CONTENT = 2 };
int arrivals_moved_to(struct arrivals *ar, const char *path, uint64_t now_ms, char *out, size_t outlen);
/* If a message with content h arrived in another folder of path's maildir
 * within the window, not as a sibling of path's own arrival: 1 with the
 * latest such arrival's path in out, else 0. */
int arrivals_with_content(struct arrivals *ar, const char *path, const struct hash128 *h,
			  uint64_t now_ms, char *out, size_t outlen);

#endif
