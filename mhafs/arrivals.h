/* arrivals.h: the Maildir messages that arrived in a folder through this
 * node's mount in the last minute (commits out of tmp/), by base name.
 * Dovecot moves a message by committing a copy under the same base name in
 * the target folder and then unlinking the source; an unlink whose base
 * name has just arrived in another folder of the same maildir is such a
 * move's second half, and its journal entry says where the message went.
 * Any other unlink of a message is an expunge.  Thread safe. */
#ifndef MHAFS_ARRIVALS_H
#define MHAFS_ARRIVALS_H

#include <stddef.h>
#include <stdint.h>

#define ARRIVALS_WINDOW_MS 60000 /* a move's unlink follows its copy within this */

struct arrivals;

struct arrivals *arrivals_new(void);
void arrivals_free(struct arrivals *ar);
/* A message arrived at path (store-relative) at now_ms; other paths are
 * ignored. */
void arrivals_note(struct arrivals *ar, const char *path, uint64_t now_ms);
/* If the message at path (being unlinked) arrived in another folder of the
 * same maildir within the window: 1 with that arrival's path in out, else
 * 0. */
int arrivals_moved_to(struct arrivals *ar, const char *path, uint64_t now_ms, char *out,
		      size_t outlen);

#endif
