/* ctl.h: mhafs's control socket (config control_socket), a UNIX stream
 * socket with a line protocol, for mhactl and heartbeatd:
 *   "STATUS"              -> "key=value" lines, then "END"
 *   "PEER up" / "PEER down" -> "OK" (heartbeatd's view of the peer)
 * Anything else -> "ERR unknown command".  Only root may connect (0600). */
#ifndef MHAFS_CTL_H
#define MHAFS_CTL_H

struct mhafs;
struct ctl;

/* Bind the socket (before the daemon forks): NULL with err if it cannot,
 * e.g. another mhafs uses it.  ctl_run starts serving (after the fork). */
struct ctl *ctl_start(struct mhafs *fs, char *err, unsigned long errlen);
int ctl_run(struct ctl *c);
void ctl_stop(struct ctl *c);

#endif
