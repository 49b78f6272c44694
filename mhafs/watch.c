/* watch.c: the watch thread (see watch.h): space levels and their
 * crossings, the space hook, the metrics file's schedule, and relief of
 * an inode table at its limit. */
#define _GNU_SOURCE
#include "watch.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "hookrun.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"

#define TICK_MS 1000
#define HOOK_TICK_MS 100        /* while a hook runs: reap it quickly */
#define SEND_EVERY_US 2000000u  /* WIRE_SPACE to the peer */
#define RELIEF_EVERY_MS 2000    /* the kernel asked to drop entries at most this often */

struct watch {
	struct mhafs *fs;
	pthread_mutex_t lock;      /* fig[], the hook counters, stop */
	pthread_cond_t wake;       /* stop was set */
	struct watch_fig fig[SPACE_NFS];
	uint64_t hook_runs, hook_failures, hook_kills;
	struct hookrun hook;       /* the thread's own */
	int stop;
	pthread_t thread;
	int running;
	int metrics_failing;
	uint64_t refused_seen;     /* inode table refusals already answered */
	uint64_t next_relief;      /* mono_ms */
	uint64_t next_notice;      /* of a relief's log line with nothing refused */
	size_t level_after;        /* inodes + handles the tick after the last relief */
	int measure_after;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *store_dir(const struct mhafs *fs)
{
	return fs->root_path[0] ? fs->root_path : "/";
}

static const char *node_of(const struct watch *w, int f)
{
	const struct config *cfg = w->fs->cfg;
	const char *n = space_fs_is_peer(f) ? cfg->peer_name : cfg->node_name;
	return n ? n : "-";
}

struct watch *watch_new(struct mhafs *fs, char *err, size_t errlen)
{
	struct watch *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	if (!w) {
		snprintf(err, errlen, "watch: out of memory");
		return NULL;
	}
	w->fs = fs;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	for (int f = 0; f < SPACE_NFS; f++)
		w->fig[f].level = SPACE_UNKNOWN;
	const struct config *cfg = fs->cfg;
	hookrun_init(&w->hook, "space_hook", cfg->space_hook, cfg->space_hook_timeout);
	if (cfg->space_hook && access(cfg->space_hook, X_OK) < 0)
		log_warn("space_hook %s: %s: crossings will be logged, the hook will fail", cfg->space_hook,
			 strerror(errno));
	return w;
}

int watch_fig_level(const struct watch_fig *f, int fs, uint64_t now_ms)
{
	if (!f->at_ms || (space_fs_is_peer(fs) && now_ms - f->at_ms > WATCH_PEER_STALE_MS))
		return SPACE_UNKNOWN;
	return f->level;
}

/* Log a crossing and queue the hook: FS NODE LEVEL PERCENT OLD-LEVEL. */
static void crossed(struct watch *w, int f, int old, int level, unsigned pm)
{
	const struct config *cfg = w->fs->cfg;
	unsigned pct = (pm + 9) / 10;
	char where[4200];
	if (space_fs_is_peer(f))
		snprintf(where, sizeof(where), "the peer's");
	else
		snprintf(where, sizeof(where), "%s", f == SPACE_STORE ? store_dir(w->fs) : cfg->state_dir);
	if (level > SPACE_OK && level > old)
		log_msg(level == SPACE_CRITICAL ? LOG_ERR : LOG_WARNING,
			"space: the %s of node %s (%s) is %u%% used: over the %s threshold of %u%%",
			space_fs_name(f), node_of(w, f), where, pct, space_level_name(level),
			level == SPACE_CRITICAL ? cfg->space_crit_pct : cfg->space_warn_pct);
	else
		log_notice("space: the %s of node %s (%s) is %u%% used: back to %s (from %s)",
			   space_fs_name(f), node_of(w, f), where, pct, space_level_name(level),
			   space_level_name(old));
	char p[16];
	snprintf(p, sizeof(p), "%u", pct);
	const char *args[HOOKRUN_ARGS] = { space_fs_name(f), node_of(w, f), space_level_name(level), p,
					   space_level_name(old) };
	hookrun_queue(&w->hook, args);
}

/* New levels from the current figures; crossings logged and hooked. */
static void check_levels(struct watch *w)
{
	const struct config *cfg = w->fs->cfg;
	uint64_t total[2], avail[2];
	int ok[2] = { space_read(store_dir(w->fs), &total[0], &avail[0]) == 0,
		      space_read(cfg->state_dir, &total[1], &avail[1]) == 0 };
	uint64_t now = mono_ms();
	struct { int f, old, level; unsigned pm; } ev[SPACE_NFS];
	int n = 0;
	pthread_mutex_lock(&w->lock);
	for (int f = 0; f < SPACE_NFS; f++) {
		struct watch_fig *g = &w->fig[f];
		if (f < 2 && ok[f]) {
			g->total = total[f];
			g->avail = avail[f];
			g->at_ms = now;
		}
		if (!g->at_ms)
			continue;
		unsigned pm = space_used_pm(g->total, g->avail);
		int level = space_level_next(g->level, pm, cfg->space_warn_pct, cfg->space_crit_pct);
		/* the first figures are a crossing only when above ok */
		if (level != g->level && (g->level != SPACE_UNKNOWN || level > SPACE_OK)) {
			g->crossings++;
			ev[n].f = f;
			ev[n].old = g->level == SPACE_UNKNOWN ? SPACE_OK : g->level;
			ev[n].level = level;
			ev[n++].pm = pm;
		}
		g->level = level;
	}
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < n; i++)
		crossed(w, ev[i].f, ev[i].old, ev[i].level, ev[i].pm);
}

void watch_snapshot(struct watch *w, struct watch_snap *s)
{
	pthread_mutex_lock(&w->lock);
	memcpy(s->fig, w->fig, sizeof(s->fig));
	s->hook_runs = w->hook_runs;
	s->hook_failures = w->hook_failures;
	s->hook_kills = w->hook_kills;
	pthread_mutex_unlock(&w->lock);
	s->now_ms = mono_ms();
}

static void write_metrics(struct watch *w)
{
	struct watch_snap s;
	char err[512];
	watch_snapshot(w, &s);
	if (metrics_write(w->fs, &s, err, sizeof(err)) < 0) {
		if (!w->metrics_failing)
			log_err("metrics_file: %s (will keep trying)", err);
		w->metrics_failing = 1;
	} else if (w->metrics_failing) {
		log_notice("metrics_file %s: written again", w->fs->cfg->metrics_file);
		w->metrics_failing = 0;
	}
}

/* The inode table near its limit (seven eighths, and grown by a
 * sixteenth since the last relief took effect: what open files and
 * working directories pin cannot be dropped), or at it with lookups or
 * opens refused since the last look (at most every 2 s):
 * have the kernel drop this mount's unused entries, so it forgets their
 * inodes and their descriptors close, and say so (refusals every time,
 * the rest once a minute). */
static void relieve_inodes(struct watch *w, uint64_t now)
{
	struct mhafs *fs = w->fs;
	struct itable_stats is;
	itable_stats(fs->inodes, &is);
	size_t limit = is.limit, held = is.inodes, handles = is.handles;
	uint64_t refused = is.refused, n = refused - w->refused_seen;
	size_t level = held + handles;
	if (w->measure_after) { /* the tick after a relief: what it left */
		w->level_after = level;
		w->measure_after = 0;
	}
	if (!limit || now < w->next_relief ||
	    (n == 0 && (level < limit - limit / 8 || level < w->level_after + limit / 16)))
		return;
	int names = fs_drop_unused_entries(fs);
	if (names < 0)
		log_err("open files: cannot list the store's top level to relieve the inode table: %s",
			strerror(-names));
	else if (n > 0)
		log_warn("open files: %zu files held by the kernel and %zu open handles reach mhafs's "
			 "limit of %zu (inodes_limit); %" PRIu64 " lookups, opens or creations refused with "
			 "ENFILE since the last look; the kernel is asked to drop the unused entries under "
			 "%d top-level names (raise LimitNOFILE for a store this large)",
			 held, handles, limit, n, names);
	else if (now >= w->next_notice) {
		log_notice("open files: %zu files held by the kernel and %zu open handles, near mhafs's "
			   "limit of %zu (inodes_limit); the kernel is asked to drop the unused entries "
			   "under %d top-level names (said once a minute)", held, handles, limit, names);
		w->next_notice = now + 60000;
	}
	w->refused_seen = refused;
	w->next_relief = now + RELIEF_EVERY_MS;
	w->measure_after = 1;
}

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	const struct config *cfg = w->fs->cfg;
	uint64_t next_metrics = 0;
	for (;;) {
		check_levels(w);
		uint64_t now = mono_ms();
		relieve_inodes(w, now);
		hookrun_poll(&w->hook, now);
		pthread_mutex_lock(&w->lock);
		w->hook_runs = w->hook.runs;
		w->hook_failures = w->hook.failures;
		w->hook_kills = w->hook.kills;
		pthread_mutex_unlock(&w->lock);
		if (cfg->metrics_file && now >= next_metrics) {
			write_metrics(w);
			next_metrics = now + (uint64_t)cfg->metrics_interval * 1000u;
		}
		/* sleep a tick, or until watch_stop */
		uint64_t until_ms = mono_ms() + (hookrun_busy(&w->hook) ? HOOK_TICK_MS : TICK_MS);
		struct timespec ts = { .tv_sec = (time_t)(until_ms / 1000), .tv_nsec = (long)(until_ms % 1000) * 1000000L };
		pthread_mutex_lock(&w->lock);
		while (!w->stop && pthread_cond_timedwait(&w->wake, &w->lock, &ts) == 0) {
		}
		int stop = w->stop;
		pthread_mutex_unlock(&w->lock);
		if (stop)
			break;
	}
	hookrun_fini(&w->hook);
	return NULL;
}

int watch_run(struct watch *w)
{
	w->running = pthread_create(&w->thread, NULL, watch_main, w) == 0;
	return w->running ? 0 : -1;
}

void watch_stop(struct watch *w)
{
	if (!w)
		return;
	if (w->running) {
		pthread_mutex_lock(&w->lock);
		w->stop = 1;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL); /* a hook still running is killed first */
		w->running = 0;
	}
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	watch_stop(w);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static void fig_lines(FILE *out, const char *prefix, const struct watch_fig *g, int level)
{
	fprintf(out, "%s_level=%s\n", prefix, space_level_name(level));
	if (!g->at_ms) {
		fprintf(out, "%s_used_pct=-\n%s_size_bytes=-\n%s_avail_bytes=-\n", prefix, prefix, prefix);
		return;
	}
	fprintf(out, "%s_used_pct=%u\n%s_size_bytes=%" PRIu64 "\n%s_avail_bytes=%" PRIu64 "\n", prefix,
		(space_used_pm(g->total, g->avail) + 9) / 10, prefix, g->total, prefix, g->avail);
}

void watch_status(struct watch *w, FILE *out)
{
	const struct config *cfg = w->fs->cfg;
	static const char *const prefix[SPACE_NFS] = { "space_store", "space_journal", "space_peer_store",
						       "space_peer_journal" };
	struct watch_snap s;
	watch_snapshot(w, &s);
	fprintf(out, "space_warn_pct=%u\nspace_crit_pct=%u\n", cfg->space_warn_pct, cfg->space_crit_pct);
	for (int f = 0; f < SPACE_NFS; f++) {
		if (space_fs_is_peer(f) && !w->fs->repl)
			break;
		fig_lines(out, prefix[f], &s.fig[f], watch_fig_level(&s.fig[f], f, s.now_ms));
	}
	if (w->fs->repl) {
		if (s.fig[SPACE_PEER_STORE].at_ms)
			fprintf(out, "space_peer_age_ms=%" PRIu64 "\n", s.now_ms - s.fig[SPACE_PEER_STORE].at_ms);
		else
			fprintf(out, "space_peer_age_ms=-\n");
	}
	fprintf(out, "space_hook=%s\nspace_hook_runs=%" PRIu64 "\nspace_hook_failures=%" PRIu64 "\n",
		cfg->space_hook ? cfg->space_hook : "-", s.hook_runs, s.hook_failures);
	fprintf(out, "metrics_file=%s\n", cfg->metrics_file ? cfg->metrics_file : "-");
}

void watch_peer_space(struct watch *w, const struct wire_space *sp)
{
	if (!w)
		return;
	uint64_t now = mono_ms();
	pthread_mutex_lock(&w->lock);
	w->fig[SPACE_PEER_STORE].total = sp->store_total;
	w->fig[SPACE_PEER_STORE].avail = sp->store_avail;
	w->fig[SPACE_PEER_STORE].at_ms = now;
	w->fig[SPACE_PEER_JOURNAL].total = sp->journal_total;
	w->fig[SPACE_PEER_JOURNAL].avail = sp->journal_avail;
	w->fig[SPACE_PEER_JOURNAL].at_ms = now;
	pthread_mutex_unlock(&w->lock);
}

int watch_send_space(struct mhafs *fs, struct tls_conn *c, uint64_t *last_us)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if (*last_us && now - *last_us < SEND_EVERY_US)
		return 0;
	*last_us = now;
	struct wire_space sp;
	if (space_read(store_dir(fs), &sp.store_total, &sp.store_avail) < 0 ||
	    space_read(fs->cfg->state_dir, &sp.journal_total, &sp.journal_avail) < 0)
		return 0;
	return wire_send(c, WIRE_SPACE, &sp);
}
