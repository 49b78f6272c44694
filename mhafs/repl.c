/* repl.c: replication state, start and stop, sync-commit waiting, status,
 * and the worker that invalidates the kernel's caches for paths the peer
 * changed (kept off the receive path so that acknowledgements never wait
 * for a directory lock held by a local request). */
#define _GNU_SOURCE
#include "repl_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "journal_repl.h"
#include "log.h"

uint64_t repl_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void repl_set_error(struct repl *r, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&r->lock);
	va_start(ap, fmt);
	vsnprintf(r->last_error, sizeof(r->last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&r->lock);
}

void repl_queue_inval(struct repl *r, const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->inval_tail - r->inval_head < INVAL_QUEUE) {
		r->inval[r->inval_tail++ % INVAL_QUEUE] = copy;
		copy = NULL;
		pthread_cond_signal(&r->inval_cond);
	}
	pthread_mutex_unlock(&r->lock);
	free(copy); /* queue full: the entry and attribute timeouts still expire */
}

/* The applier's hook for files it removes that no entry names. */
static void applier_inval(void *arg, const char *path)
{
	repl_queue_inval(arg, path);
}

static void *invalidator_main(void *arg)
{
	struct repl *r = arg;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->stop && r->inval_head == r->inval_tail)
			pthread_cond_wait(&r->inval_cond, &r->lock);
		if (r->stop && r->inval_head == r->inval_tail)
			break;
		char *path = r->inval[r->inval_head++ % INVAL_QUEUE];
		pthread_mutex_unlock(&r->lock);
		if (r->fs->se)
			fs_invalidate_path(r->fs, path);
		free(path);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void kick(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the reader is awake anyway */
	}
}

#define FULL_SYNC_MARK "full-sync-needed"

void repl_mark_full_sync(const char *state_dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/" FULL_SYNC_MARK, state_dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

int repl_full_sync_marked(const char *state_dir, int clear)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/" FULL_SYNC_MARK, state_dir);
	if (clear)
		return unlink(path) == 0;
	return access(path, F_OK) == 0;
}

void repl_notify(struct repl *r)
{
	if (r)
		kick(r->notify_fd);
}

void repl_peer_hint(struct repl *r, int up)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	int was = r->peer_hint;
	r->peer_hint = up;
	if (!up && r->synced) {
		r->synced = 0; /* commits stop waiting at once */
		log_notice("replication: heartbeat says peer %s is down; commits no longer wait for it",
			   r->cfg->peer_name);
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (up && was != 1)
		kick(r->wake_fd); /* reconnect now rather than after the back-off */
}

void repl_want_ack_locked(struct repl *r, uint64_t seq)
{
	if (seq > r->ack_wanted) {
		r->ack_wanted = seq;
		kick(r->notify_fd); /* the sender sends the PING that asks */
	}
}

void repl_commit_wait(struct repl *r, uint64_t seq)
{
	struct timespec dl;
	if (!r || r->cfg->sync_mode != SYNC_MODE_SYNC)
		return;
	uint64_t t0 = repl_now_us();
	clock_gettime(CLOCK_MONOTONIC, &dl);
	uint64_t ns = (uint64_t)dl.tv_nsec + (uint64_t)r->cfg->sync_timeout_ms * 1000000u;
	dl.tv_sec += (time_t)(ns / 1000000000u);
	dl.tv_nsec = (long)(ns % 1000000000u);

	pthread_mutex_lock(&r->lock);
	if (r->synced && r->acked < seq) {
		r->commit_waits++;
		repl_want_ack_locked(r, seq);
		while (!r->stop && r->synced && r->acked < seq) {
			if (pthread_cond_timedwait(&r->cond, &r->lock, &dl) == ETIMEDOUT) {
				if (r->acked >= seq || !r->synced)
					break;
				r->synced = 0;
				r->commit_timeouts++;
				pthread_cond_broadcast(&r->cond); /* the other waiters stop too */
				if (r->sent_seq < seq) {
					/* not even sent: the stream is busy (a long
					 * reconciliation walk, or a backlog), not the
					 * peer dead; a cut would only start the same
					 * work again.  The sender's own checks catch a
					 * dead peer; commits wait again once it has
					 * caught up. */
					int walk = __atomic_load_n(&r->walking, __ATOMIC_RELAXED);
					log_warn("replication: %s peer %s %s: seq %llu not sent within %u ms; "
						 "commits no longer wait for the peer until it has caught up",
						 walk ? "the reconciliation walk with" : "the stream to",
						 r->cfg->peer_name, walk ? "holds the stream" : "is behind",
						 (unsigned long long)seq, r->cfg->sync_timeout_ms);
					break;
				}
				r->drop_out = 1;
				log_warn("replication: peer %s did not acknowledge seq %llu within %u ms: "
					 "declared down, this node goes on alone and keeps its journal",
					 r->cfg->peer_name, (unsigned long long)seq, r->cfg->sync_timeout_ms);
				snprintf(r->last_error, sizeof(r->last_error),
					 "peer did not acknowledge seq %llu within %u ms",
					 (unsigned long long)seq, r->cfg->sync_timeout_ms);
				kick(r->wake_fd);
				break;
			}
		}
		if (r->acked >= seq)
			r->last_ack_lag_us = repl_now_us() - t0;
	}
	pthread_mutex_unlock(&r->lock);
}

void repl_get_status(struct repl *r, struct repl_status *st)
{
	memset(st, 0, sizeof(*st));
	st->peer_hint = -1;
	if (!r)
		return;
	st->configured = 1;
	pthread_mutex_lock(&r->lock);
	st->out_connected = r->out_connected;
	st->synced = r->synced;
	st->full_sync = r->full_sync;
	st->walking = __atomic_load_n(&r->walking, __ATOMIC_RELAXED);
	st->in_connected = r->in_connected;
	st->peer_proto = r->out_connected ? r->out_proto : 0;
	st->peer_hint = r->peer_hint;
	st->acked_seq = r->acked;
	st->sent_ops = r->sent_ops;
	st->sent_bytes = r->sent_bytes;
	st->applied_ops = r->applied_ops;
	st->applied_skipped = r->applied_skipped;
	st->apply_syncs = r->apply_syncs;
	st->conflicts_theirs_newer = r->applier.n_remote_newer;
	st->conflicts_ours_newer = r->applier.n_local_newer;
	st->conflicts_expunge_wins = r->applier.n_expunged;
	st->conflicts_redirected = r->applier.n_redirected;
	st->conflicts_removals_met = r->applier.n_removals_met;
	st->conflicts_flags_merged = r->applier.n_flags_merged;
	st->uidlist_merges = r->applier.n_uidlist_merges;
	st->peer_applied_seq = r->peer_applied;
	st->commit_waits = r->commit_waits;
	st->commit_timeouts = r->commit_timeouts;
	st->last_ack_lag_us = r->last_ack_lag_us;
	st->reconcile_runs = r->rec_runs;
	st->reconcile_nodes = r->rec_nodes;
	st->reconcile_entries = r->rec_entries;
	st->reconcile_diffs = r->rec_diffs;
	st->reconcile_sent = r->rec_sent;
	st->reconcile_last_ms = r->rec_last_ms;
	st->tombstones_collected = r->tombs_collected;
	snprintf(st->last_error, sizeof(st->last_error), "%s", r->last_error);
	pthread_mutex_unlock(&r->lock);
	repl_lock_stats(r, st);
	st->last_seq = journal_last_seq(r->fs->journal);
	char err[256];
	struct jcursor *c = jcursor_open(r->cfg->state_dir, err, sizeof(err));
	if (c) {
		jcursor_backlog(c, (uint16_t)r->cfg->node_id, st->acked_seq, &st->backlog_ops,
				&st->backlog_bytes);
		jcursor_close(c);
	}
}

struct repl *repl_start(struct mhafs *fs, char *err, size_t errlen)
{
	struct config *cfg = fs->cfg;
	struct repl *r;

	if (!cfg->peer_address || !cfg->peer_name || !cfg->node_name) {
		snprintf(err, errlen, "replication needs node_name, peer_name and peer_address");
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->fs = fs;
	r->cfg = cfg;
	r->peer_hint = -1;
	r->listen_fd = -1;
	r->applier.staging_fd = -1;
	r->applier.mark_fd = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&r->inval_cond, NULL);
	r->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->notify_fd < 0 || r->wake_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	char terr[512];
	r->client_ctx = tls_ctx_new(0, cfg->ca_file, cfg->cert_file, cfg->key_file, terr, sizeof(terr));
	if (!r->client_ctx) {
		snprintf(err, errlen, "TLS: %s", terr);
		goto fail;
	}
	r->server_ctx = tls_ctx_new(1, cfg->ca_file, cfg->cert_file, cfg->key_file, terr, sizeof(terr));
	if (!r->server_ctx || tls_ctx_check_name(r->server_ctx, cfg->node_name, cfg->cert_file, terr,
						 sizeof(terr)) < 0) {
		snprintf(err, errlen, "TLS: %s", terr);
		goto fail;
	}
	if (applier_init(&r->applier, fs->root_fd, cfg->node_local, cfg->n_node_local, err, errlen) < 0)
		goto fail;
	r->applier.batched = 1; /* the receiver syncs once per batch */
	r->applier.local_hlc = journal_catalog_hlc;
	r->applier.removal = journal_message_removal;
	r->applier.flag_regs = journal_flag_regs;
	r->applier.hlc_arg = fs->journal;
	r->applier.inval = applier_inval;
	r->applier.inval_arg = r;
	r->applier.mark_fd = open(cfg->state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->applier.mark_fd < 0) {
		snprintf(err, errlen, "state_dir %s: %s", cfg->state_dir, strerror(errno));
		goto fail;
	}
	if (repl_lock_init(r) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return r;
fail:
	repl_stop(r);
	return NULL;
}

int repl_run(struct repl *r, char *err, size_t errlen)
{
	struct config *cfg = r->cfg;
	if (pthread_create(&r->invalidator, NULL, invalidator_main, r) != 0)
		goto fail_thread;
	r->started_invalidator = 1;
	if (pthread_create(&r->listener, NULL, repl_listener_main, r) != 0)
		goto fail_thread;
	r->started_listener = 1;
	if (pthread_create(&r->sender, NULL, repl_sender_main, r) != 0)
		goto fail_thread;
	r->started_sender = 1;
	log_notice("replication: peer %s at %s:%u, listening on %s:%u, %s commit (timeout %u ms)",
		   cfg->peer_name, cfg->peer_address, cfg->peer_port, cfg->listen_address,
		   cfg->listen_port, cfg->sync_mode == SYNC_MODE_SYNC ? "sync" : "async",
		   cfg->sync_timeout_ms);
	return 0;
fail_thread:
	snprintf(err, errlen, "cannot start replication threads");
	return -1;
}

void repl_stop(struct repl *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	/* wake threads blocked on a peer that does not answer */
	if (r->out_conn)
		tls_conn_abort(r->out_conn);
	if (r->in_conn)
		tls_conn_abort(r->in_conn);
	pthread_cond_broadcast(&r->cond);
	pthread_cond_broadcast(&r->inval_cond);
	pthread_mutex_unlock(&r->lock);
	if (r->wake_fd >= 0)
		kick(r->wake_fd);
	if (r->started_sender)
		pthread_join(r->sender, NULL);
	if (r->started_listener)
		pthread_join(r->listener, NULL);
	if (r->started_invalidator)
		pthread_join(r->invalidator, NULL);
	repl_lock_fini(r);
	while (r->inval_head != r->inval_tail)
		free(r->inval[r->inval_head++ % INVAL_QUEUE]);
	applier_fini(&r->applier);
	if (r->client_ctx)
		tls_ctx_free(r->client_ctx);
	if (r->server_ctx)
		tls_ctx_free(r->server_ctx);
	if (r->notify_fd >= 0)
		close(r->notify_fd);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	free(r->rec_report);
	free(r);
}
