/* uask.h: one question to a local daemon over a UNIX stream socket (the
 * control sockets of heartbeatd, HAProxy's stats socket): send a command,
 * read the whole answer until the daemon closes. */
#ifndef MHAFS_UASK_H
#define MHAFS_UASK_H

#include <stddef.h>

/* The answer to cmd (sent as given) from the socket at path, as a
 * malloc'd NUL-terminated string of at most max bytes, each read waiting
 * at most timeout_ms; NULL with why (no daemon, a timeout, an empty or
 * overlong answer). */
char *uask(const char *path, const char *cmd, int timeout_ms, size_t max, char *why, size_t len);

#endif
