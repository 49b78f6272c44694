/* maildir_key.h: a Maildir message's identity is its base name, the part
 * of the file name before ":2," (or the first ':'); flags change the rest
 * of the name and moves between new/ and cur/ change the directory.  This
 * finds this node's version of a message that a peer's entry names under
 * another name. */
#ifndef MHAFS_MAILDIR_KEY_H
#define MHAFS_MAILDIR_KEY_H

#include <stddef.h>

/* Whether path (store-relative) names a file directly in a maildir's new/
 * or cur/: a message. */
int maildir_is_message(const char *path);
/* Length of the base name of a Maildir file name. */
size_t maildir_base_len(const char *name);
/* If path (store-relative) is a file in some maildir's new/ or cur/, look
 * in that maildir's new/ and cur/ (beneath root_fd, no symlinks) for a file
 * with the same base name; 1 with its store path in out, 0 if there is
 * none or path is not a Maildir message, -errno on error. */
int maildir_find_key(int root_fd, const char *path, char *out, size_t outlen);
/* If path (store-relative) is a Maildir message, 1 with the length of its
 * folder (the maildir holding new/ and cur/: path's first *folder_len
 * bytes, 0 for a maildir at the top) and its base name (*base, *base_len);
 * else 0. */
int maildir_split(const char *path, size_t *folder_len, const char **base, size_t *base_len);

#endif
