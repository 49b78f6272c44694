/* repl_int.h: state shared by repl.c, repl_send.c and repl_recv.c. */
#ifndef MHAFS_REPL_INT_H
#define MHAFS_REPL_INT_H

#include <pthread.h>
#include <stdint.h>

#include "apply.h"
#include "fs.h"
#include "repl.h"
#include "repl_lock.h"
#include "tls.h"
#include "wire.h"

#define REPL_WINDOW 256          /* entries in flight before waiting for acks */
#define REPL_CHUNK (256 * 1024)  /* content bytes per DATA frame */
#define INVAL_QUEUE 4096

struct repl {
	struct mhafs *fs;
	struct config *cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* acked, synced or stop changed */
	int stop;
	int notify_fd;            /* eventfd: journal has new entries */
	int wake_fd;              /* eventfd: stop or peer hint */
	uint64_t acked;
	int out_connected, synced, in_connected, peer_hint;
	int drop_out;             /* commit wait timed out: reconnect */
	int full_sync;            /* a full sync is being streamed */
	struct tls_conn *out_conn, *in_conn; /* for repl_stop's abort; under lock */
	uint64_t sent_ops, sent_bytes, applied_ops, applied_skipped, peer_applied;
	uint64_t commit_waits, commit_timeouts, last_ack_lag_us;
	char last_error[256];
	struct tls_ctx *client_ctx, *server_ctx;
	struct applier applier;
	pthread_t sender, listener, invalidator;
	int started_sender, started_listener, started_invalidator;
	int listen_fd;
	/* invalidation queue (paths, malloc'd) */
	char *inval[INVAL_QUEUE];
	unsigned inval_head, inval_tail;
	pthread_cond_t inval_cond;
	struct rlocks *locks;     /* cluster-wide dotlocks (repl_lock.c) */
};

void repl_set_error(struct repl *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void repl_queue_inval(struct repl *r, const char *path);
uint64_t repl_now_us(void);

/* The full-sync mark: 1 if set (clear: remove it, 1 if it was there). */
int repl_full_sync_marked(const char *state_dir, int clear);

void *repl_sender_main(void *arg);
void *repl_listener_main(void *arg);

#endif
