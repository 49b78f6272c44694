/* watch.h: what an admin watches a node by, kept by one thread of mhafs
 * (the watch thread): once a second the free space of this node's store
 * and journal, and the peer's as its WIRE_SPACE frames told it, each
 * against space_warn_pct and space_crit_pct (space.h), with a log line
 * and a run of space_hook (hookrun.h) on every crossing either way; the
 * "space_" lines of the control socket's STATUS; and every
 * metrics_interval seconds the metrics file (metrics.h). */
#ifndef MHAFS_WATCH_H
#define MHAFS_WATCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "space.h"

struct mhafs;
struct watch;
struct wire_space;
struct tls_conn;

/* The peer's figures count as current for this long after they came. */
#define WATCH_PEER_STALE_MS 15000

struct watch_fig {
	uint64_t total, avail;   /* bytes */
	uint64_t at_ms;          /* monotonic time of the figures; 0: none yet */
	int level;               /* enum space_level, kept while figures are stale */
	uint64_t crossings;      /* level changes (the first level above ok counts) */
};

struct watch_snap {
	struct watch_fig fig[SPACE_NFS];
	uint64_t now_ms;
	uint64_t hook_runs, hook_failures, hook_kills;
};

/* Set up (before the daemon forks); NULL with err only when out of memory.
 * A hook that is not an executable file is logged, not refused. */
struct watch *watch_new(struct mhafs *fs, char *err, size_t errlen);
/* Start the thread (after the fork): 0 or -1. */
int watch_run(struct watch *w);
/* Stop the thread, killing a hook still running (before replication
 * stops: the thread reads its status); again is harmless.  watch_free
 * stops it too and frees (after replication stopped: its receiver hands
 * over the peer's figures).  NULL is fine for both. */
void watch_stop(struct watch *w);
void watch_free(struct watch *w);
/* The "space_" and "metrics_" lines of STATUS. */
void watch_status(struct watch *w, FILE *out);
void watch_snapshot(struct watch *w, struct watch_snap *s);
/* The level a figure shows at now_ms: SPACE_UNKNOWN when it has none or
 * (the peer's) they are stale. */
int watch_fig_level(const struct watch_fig *f, int fs, uint64_t now_ms);
/* repl_recv.c: the peer's figures, from its WIRE_SPACE frame. */
void watch_peer_space(struct watch *w, const struct wire_space *sp);
/* repl_send.c, on a stream of protocol level 3 or more: send this node's
 * figures when 2 s have passed since *last_us.  0 or a WIRE_E* code. */
int watch_send_space(struct mhafs *fs, struct tls_conn *c, uint64_t *last_us);

#endif
