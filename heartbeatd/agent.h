/* agent.h: heartbeatd's part in balancing the two nodes (both serve).
 *   agent_line.c   the HAProxy agent-check lines this node answers and the
 *                  parser of the peer's (pure; unit-tested)
 *   agent_probe.c  a thread that polls the peer's agent, asks the local
 *                  mhafs whether it has caught up with the peer, and, when
 *                  the agent does not answer, whether the peer still serves
 *                  mail without its heartbeatd
 *   agent.c        the TCP responder on node_address:agent_port, the drain
 *                  flag (persisted), readiness, and the nodes file */
#ifndef MHAFS_HB_AGENT_H
#define MHAFS_HB_AGENT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "homenode.h"

#define AGENT_REASON 160
#define AGENT_LINE_MAX 64

/* ---- agent_line.c ---- */

/* What an agent says: up (with a weight 1..256), drain, or down. */
struct agent_say {
	enum hn_state state;
	unsigned weight;          /* HN_UP only */
};

/* "up ready W%\n", "up drain\n" or "down\n" into buf.  Returns the length. */
size_t agent_line_format(const struct agent_say *s, char *buf, size_t len);

/* Parse what the peer's agent sent (n bytes, one line, '\n' optional).
 * Only the three forms above are accepted.  0, or -1 with why filled. */
int agent_line_parse(const char *buf, size_t n, struct agent_say *s, char *why, size_t whylen);

/* What this node says: down unless healthy; drain if drained or not
 * ready; else up with weight. */
void agent_decide(int healthy, int drained, int ready, unsigned weight, struct agent_say *s);

/* Readiness from the local mhafs's STATUS answer: whether it has caught
 * up with the peer.  Fields as mhafs prints them; -1 where not given. */
struct mhafs_view {
	int answered;             /* STATUS was answered (with END) */
	int replication;          /* replication=on */
	int peer_connected, peer_synced, peer_stream_in, full_sync;
};
/* Feed one "key=value" line of the answer. */
void mhafs_view_line(struct mhafs_view *v, const char *line);
/* 1 caught up (or replication off), 0 not yet; why says which. */
int mhafs_view_ready(const struct mhafs_view *v, char *why, size_t whylen);

/* ---- agent_probe.c ---- */

struct probe_cfg {
	char peer_address[64];
	unsigned agent_port;      /* 0: the peer is not polled */
	char control_socket[108];
	int ask_mhafs_always;     /* every round (until ready); else only when
				   * the agent fails */
	unsigned peer_imap_port;  /* the peer's IMAP, greeted when its agent
				   * fails; 0: never (health_imap_port = 0) */
	unsigned interval_ms;
	unsigned timeout_ms;
};

struct probe_result {
	uint64_t rounds;
	uint64_t poll_ms;         /* monotonic start of the last poll */
	int peer_ok;              /* the last poll got a valid line */
	struct agent_say peer;    /* ... and this is it */
	char peer_why[AGENT_REASON]; /* why the last poll failed */
	unsigned peer_fails;      /* polls in a row that failed */
	struct mhafs_view mhafs;  /* the last STATUS answer */
	/* When the agent poll fails: does the peer still serve mail without
	 * its heartbeatd (its IMAP greets, and this node's mhafs is connected
	 * to its mhafs both ways)?  1 yes, 0 no (serves_why says why), -1 not
	 * asked in the last round (its agent answered). */
	int serves;
	char serves_why[AGENT_REASON];
};

struct probe {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct probe_cfg cfg;
	struct probe_result res;
	int notify_fd, stop, started;
	int kick;                 /* probe_kick: a round now */
};

int probe_start(struct probe *p, const struct probe_cfg *cfg, int notify_fd);
void probe_set_cfg(struct probe *p, const struct probe_cfg *cfg);
void probe_get(struct probe *p, struct probe_result *out);
/* Start the next round now rather than at the end of the interval. */
void probe_kick(struct probe *p);
void probe_stop(struct probe *p);

/* One poll of an agent at addr:port (exposed for tests).  0 with s, or -1
 * with why. */
int probe_agent(const char *addr, unsigned port, unsigned timeout_ms, struct agent_say *s, char *why,
		size_t whylen);

#endif
