/* ready.c: when mhafs tells systemd it is ready, and what feeds its
 * watchdog.  main.c starts this after the start-up check is done, the
 * store is mounted and the replication and control threads run; the FUSE
 * loop starts right after.  A thread asks the mount for its statfs, which
 * the kernel never caches and always sends to the FUSE loop: the first
 * answer means clients are being served (READY=1); with WatchdogSec= set,
 * each later answer within the interval sends WATCHDOG=1.  So the watchdog
 * is fed only while the loop answers requests: a hung loop, or a backing
 * disk that no longer answers fstatvfs, lets systemd's watchdog fire.
 * Without systemd (no NOTIFY_SOCKET, or built without libsystemd) the
 * probes cost one statfs at start. */
#define _GNU_SOURCE
#include "ready.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>

#include "log.h"
#include "sdnotify.h"

#define FUSE_MAGIC 0x65735546 /* statfs f_type of a FUSE mount */

struct ready {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	char *mnt, *status;
};

/* Whether the mount answers as a FUSE file system. */
static int answers(const char *mnt)
{
	struct statfs sf;

	return statfs(mnt, &sf) == 0 && sf.f_type == FUSE_MAGIC;
}

/* Wait up to usec, or until ready_stop; returns non-zero when stopping. */
static int nap(struct ready *r, uint64_t usec)
{
	struct timespec dl;
	int stop;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	uint64_t ns = (uint64_t)dl.tv_nsec + usec * 1000u;
	dl.tv_sec += (time_t)(ns / 1000000000u);
	dl.tv_nsec = (long)(ns % 1000000000u);
	pthread_mutex_lock(&r->lock);
	while (!r->stop && pthread_cond_timedwait(&r->cond, &r->lock, &dl) != ETIMEDOUT)
		;
	stop = r->stop;
	pthread_mutex_unlock(&r->lock);
	return stop;
}

static void *ready_main(void *arg)
{
	struct ready *r = arg;
	uint64_t wd = sdn_watchdog_usec();

	while (!answers(r->mnt))
		if (nap(r, 20000))
			return NULL;
	sdn_ready(r->status);
	log_info("ready: %s answers%s", r->mnt, wd ? "; feeding the systemd watchdog while it does" : "");
	if (!wd)
		return NULL;
	/* three probes per interval: one slow answer does not fire it */
	while (!nap(r, wd / 3))
		if (answers(r->mnt))
			sdn_watchdog();
	return NULL;
}

struct ready *ready_start(const char *mnt, const char *status)
{
	struct ready *r = calloc(1, sizeof(*r));
	pthread_condattr_t ca;

	if (!r)
		return NULL;
	r->mnt = strdup(mnt);
	r->status = strdup(status);
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!r->mnt || !r->status || pthread_create(&r->thread, NULL, ready_main, r) != 0) {
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		free(r->mnt);
		free(r->status);
		free(r);
		return NULL;
	}
	return r;
}

void ready_stop(struct ready *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r->mnt);
	free(r->status);
	free(r);
}
