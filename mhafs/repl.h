/* repl.h: replication of this node's journal to the peer and of the
 * peer's journal to this node, over mutually authenticated TLS (lib/tls.h)
 * with the framed protocol of lib/wire.h.  One connection per direction:
 * this node's sender connects to the peer's listener and streams its own
 * journal; the peer's sender does the same the other way.  Sync commit:
 * a commit (a file arriving out of a node-local path) returns only when the
 * peer has acknowledged it, or the peer has been declared down. */
#ifndef MHAFS_REPL_H
#define MHAFS_REPL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mhafs;
struct repl;

/* Check the configuration and load the credentials (before the daemon
 * forks).  Returns NULL with err filled when they are bad. */
struct repl *repl_start(struct mhafs *fs, char *err, size_t errlen);
/* Start the listener, the sender and the invalidation worker (after the
 * fork).  0, or -1 with err. */
int repl_run(struct repl *r, char *err, size_t errlen);
void repl_stop(struct repl *r);

/* New entries are in the journal: wake the sender. */
void repl_notify(struct repl *r);
/* In sync mode, wait until the peer acknowledged seq or is declared down
 * (after sync_timeout_ms).  Returns at once in async mode or when the
 * peer is not connected and caught up. */
void repl_commit_wait(struct repl *r, uint64_t seq);
/* What heartbeatd says of the peer: 1 up, 0 down. */
void repl_peer_hint(struct repl *r, int up);

/* Remember (in state_dir) that the store holds what no journal entry
 * describes, so the next connection to the peer starts with a full sync. */
void repl_mark_full_sync(const char *state_dir);

struct repl_status {
	int configured;          /* a peer is configured */
	int out_connected;       /* our sender is connected */
	int synced;              /* ... and caught up: commits wait for it */
	int full_sync;           /* a full copy of the store is being sent */
	int walking;             /* a reconciliation walk with the peer runs */
	int in_connected;        /* the peer's sender is connected to us */
	int peer_proto;          /* protocol level agreed on our stream, 0 if none yet */
	int peer_hint;           /* heartbeatd: 1 up, 0 down, -1 unknown */
	uint64_t last_seq;       /* our last journaled seq */
	uint64_t acked_seq;      /* highest of ours the peer acknowledged */
	uint64_t backlog_ops, backlog_bytes;
	uint64_t sent_ops, sent_bytes;
	uint64_t applied_ops, applied_skipped, peer_applied_seq;
	uint64_t apply_syncs;     /* group commits: syncs of applied entries */
	/* split-brain conflicts resolved, by rule */
	uint64_t conflicts_theirs_newer, conflicts_ours_newer, conflicts_expunge_wins,
		conflicts_redirected, conflicts_removals_met, conflicts_flags_merged, uidlist_merges;
	uint64_t commit_waits, commit_timeouts;
	uint64_t last_ack_lag_us; /* last commit-to-acknowledgement time */
	/* reconciliation walks toward the peer: runs, digests and catalog rows
	 * compared, differing paths, entries sent, last walk's duration */
	uint64_t reconcile_runs, reconcile_nodes, reconcile_entries, reconcile_diffs,
		reconcile_sent, reconcile_last_ms;
	uint64_t tombstones_collected;
	/* cluster-wide dotlocks: granted by the peer, busy there, taken
	 * here alone (peer down), and taken here for the peer */
	uint64_t locks_granted, locks_busy, locks_alone, locks_served;
	char last_error[256];
};
void repl_get_status(struct repl *r, struct repl_status *st);
/* Walk the digest trees against the peer now, over the sender's
 * connection, and write to out one line per differing path,
 * "DIFF class newer path" (class: missing_on_peer, missing_here,
 * deleted_on_peer, deleted_here, kind, content, metadata; newer: here,
 * peer), then "SUMMARY ...".  repair: also send what the peer lacks or
 * holds older, as the walk on connect does.  0, or -ENOTCONN (no peer
 * connection), -ETIMEDOUT, -ECANCELED (*cancel became non-zero, or the
 * node is stopping), or the walk's error. */
int repl_reconcile(struct repl *r, int repair, int timeout_ms, const int *cancel, FILE *out);

#endif
