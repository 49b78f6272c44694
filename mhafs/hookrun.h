/* hookrun.h: runs an admin's hook script (mhafs.conf space_hook) without
 * ever blocking mhafs: one run at a time, in its own process group, from
 * a small queue; a run that outlasts the timeout is killed (the whole
 * group), and a run that fails, cannot start or is killed is logged with
 * the first line it wrote.  Not thread safe: one thread (the watch
 * thread) queues and polls. */
#ifndef MHAFS_HOOKRUN_H
#define MHAFS_HOOKRUN_H

#include <stdint.h>
#include <sys/types.h>

#define HOOKRUN_ARGS 5
#define HOOKRUN_ARGLEN 80
#define HOOKRUN_QUEUE 16

struct hookrun {
	const char *path;          /* NULL: no hook, queue does nothing */
	const char *what;          /* its name in the log ("space_hook") */
	uint64_t timeout_ms;
	char q[HOOKRUN_QUEUE][HOOKRUN_ARGS][HOOKRUN_ARGLEN];
	unsigned qhead, qlen;
	pid_t pid;                 /* the run in progress, or 0 */
	int out_fd;                /* its stdout and stderr (non-blocking), or -1 */
	uint64_t started_ms;
	int killed;
	char out[256];
	size_t outlen;
	char args[160];            /* the run's arguments, for the log */
	uint64_t runs, failures, kills, dropped;
};

void hookrun_init(struct hookrun *h, const char *what, const char *path, unsigned timeout_s);
/* Queue a run with these arguments (after the path); a full queue drops
 * the run and logs it. */
void hookrun_queue(struct hookrun *h, const char *const args[HOOKRUN_ARGS]);
/* Whether a run is in progress or queued. */
int hookrun_busy(const struct hookrun *h);
/* Reap a finished run, kill one past its timeout, start the next. */
void hookrun_poll(struct hookrun *h, uint64_t now_ms);
/* Kill a run in progress and wait for it (mhafs is stopping). */
void hookrun_fini(struct hookrun *h);

#endif
