/* repl_int.h: state shared by repl.c, repl_send.c, repl_reconcile.c and
 * repl_recv.c. */
#ifndef MHAFS_REPL_INT_H
#define MHAFS_REPL_INT_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "apply.h"
#include "fs.h"
#include "repl.h"
#include "repl_lock.h"
#include "tls.h"
#include "wire.h"

#define REPL_WINDOW 256          /* entries in flight before waiting for acks */
#define REPL_CHUNK (256 * 1024)  /* content bytes per DATA frame */
#define INVAL_QUEUE 4096
#define REFUSAL_LOG_S 600        /* a refused peer's repeats: one log line per 10 min */

struct repl {
	struct mhafs *fs;
	struct config *cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* acked, synced or stop changed */
	int stop;
	int notify_fd;            /* eventfd: journal has new entries */
	int wake_fd;              /* eventfd: stop or peer hint */
	uint64_t acked;
	/* the highest of our seqs someone waits to see acknowledged (a commit,
	 * a lock grant's barrier): the sender follows it with a PING, which
	 * makes the peer's receiver sync and acknowledge at once (level 4) */
	uint64_t ack_wanted;
	int out_connected, synced, in_connected, peer_hint;
	int out_proto;            /* protocol level agreed on our stream (wire.h WIRE_PROTO) */
	int drop_out;             /* commit wait timed out: reconnect */
	int walking;              /* the sender is in a reconciliation walk (atomic: read for logs and lock takes) */
	uint64_t sent_seq;        /* the last of our entries the sender has sent */
	int full_sync;            /* a full sync is being streamed */
	struct tls_conn *out_conn, *in_conn; /* for repl_stop's abort; under lock */
	uint64_t sent_ops, sent_bytes, applied_ops, applied_skipped, peer_applied;
	uint64_t apply_syncs;      /* receiver's syncs (group commits) */
	uint64_t commit_waits, commit_timeouts, last_ack_lag_us;
	/* reconciliation walks toward the peer (repl_send.c) */
	uint64_t rec_runs, rec_nodes, rec_entries, rec_diffs, rec_sent, rec_last_ms;
	uint64_t tombs_collected;  /* tombstones removed by the GC */
	int tree_unsupported;      /* the peer refused TREE_REQ: walk no more */
	/* HLC of each entry in flight (by seq), to learn the HLC of the last
	 * acknowledged one: what the tombstone collection may remove */
	struct { uint64_t seq; hlc_t hlc; } sent_ring[2 * REPL_WINDOW];
	hlc_t acked_hlc;
	/* a walk asked for on the control socket (repl_reconcile): the sender
	 * runs it when rec_req_gen moves past rec_done_gen */
	uint64_t rec_req_gen, rec_done_gen;
	int rec_req_repair, rec_req_rc;
	char *rec_report;          /* malloc'd lines of the last asked walk */
	uint64_t last_in_entry_us; /* when the peer's stream last connected or delivered entries */
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
/* Someone waits for the peer to acknowledge seq: ask for it now (under
 * r->lock). */
void repl_want_ack_locked(struct repl *r, uint64_t seq);
uint64_t repl_now_us(void);

/* The full-sync mark: 1 if set (clear: remove it, 1 if it was there). */
int repl_full_sync_marked(const char *state_dir, int clear);

void *repl_sender_main(void *arg);
/* repl_send.c: act on one frame from the peer on the sender's connection
 * (ACK, PONG, ERROR, BYE): 0, or an error that ends the stream. */
int repl_handle_frame(struct repl *r, const struct wire_msg *m);
/* repl_reconcile.c: the walk against the peer on the sender's connection
 * (dry: report only; report: DIFF and SUMMARY lines, or NULL); 0 or -errno.
 * The walk waits for repl_both_quiet; the tombstone collection runs after. */
int repl_walk(struct repl *r, struct tls_conn *c, uint8_t *buf, int dry, FILE *report);
/* Whether the peer's catalog holds nothing live (asked with one TREE_REQ):
 * 1, 0, or -errno (no answer: an older peer, or the connection failed). */
int repl_peer_empty(struct repl *r, struct tls_conn *c, uint8_t *buf);
int repl_both_quiet(struct repl *r);
void repl_collect_tombstones(struct repl *r);
void *repl_listener_main(void *arg);

#endif
