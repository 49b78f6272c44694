/* ready.h: mhafs's readiness and watchdog for systemd (see ready.c). */
#ifndef MHAFS_READY_H
#define MHAFS_READY_H

struct ready;

/* Start the thread that sends READY=1 once the mount at mnt answers, then
 * WATCHDOG=1 each time it answers again (when systemd asks for a
 * watchdog).  status is the STATUS= line sent with READY=1.  Returns NULL
 * when the thread cannot be started (nothing to stop then). */
struct ready *ready_start(const char *mnt, const char *status);
/* Stop and free it.  Call after the FUSE session is unmounted: a probe
 * waiting on the mount returns only then.  NULL is a no-op. */
void ready_stop(struct ready *r);

#endif
