/* pathpat.h: node-local path patterns and store-relative path checks.
 * A pattern without '/' matches any path component by fnmatch(3)
 * ("dovecot.index*", "*.lock"); a pattern "name/" matches a directory
 * component of that name and everything below it ("tmp/"). */
#ifndef MHAFS_PATHPAT_H
#define MHAFS_PATHPAT_H

#include <stddef.h>

/* Whether the store-relative path (no leading '/') is node-local. */
int pathpat_is_local(char *const *patterns, size_t n, const char *relpath);

/* Whether relpath is a safe store-relative path: not empty, not absolute,
 * no "." or ".." component, no empty component, no NUL.  (Symlink escapes
 * are checked where paths are resolved, with openat2 RESOLVE_BENEATH.) */
int pathpat_is_safe(const char *relpath);

/* Open path (store-relative) beneath the directory root_fd with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS):
 * no "..", absolute path or symlink can lead outside.  O_CLOEXEC is
 * added.  Returns the fd or -errno. */
int pathpat_open_beneath(int root_fd, const char *path, int flags);

#endif
