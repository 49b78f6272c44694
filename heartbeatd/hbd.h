/* hbd.h: the heartbeat daemon's state, shared by main.c (the event loop,
 * heartbeats, VIP actions, reload), ctl.c (control socket, status,
 * role hook, telling mhafs about the peer) and agent.c (HAProxy's
 * agent-check, drain, the nodes file). */
#ifndef MHAFS_HBD_H
#define MHAFS_HBD_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "agent.h"
#include "config.h"
#include "fsm.h"
#include "health.h"
#include "proto.h"
#include "sessions.h"
#include "vip.h"

#define HBD_TRANS 16

struct hbd_trans {
	uint64_t wall_ms;
	enum hb_state from, to;
	enum hb_event ev;
	char why[HEALTH_REASON];
};

struct hbd_counters {
	uint64_t tx, tx_err, rx_ok, rx_bad_mac, rx_malformed, rx_replay, rx_self, rx_skew;
	uint64_t stalls;            /* event-loop stalls that extended the peer's time */
	uint64_t uncounted;         /* health rounds timed out in a stall, not counted */
};

struct hbd {
	struct config cfg;
	const char *cfg_path;
	char **overrides;          /* "key=value" from -o, applied again on reload */
	int n_overrides;
	struct hb_key key;
	struct vip_addr vips[CONFIG_MAX_LIST];
	size_t n_vips;
	struct sockaddr_storage peer;
	socklen_t peer_len;

	int udp_fd, ctl_fd, sig_fd, hpipe[2];

	enum hb_state state;
	uint64_t state_since_ms;   /* monotonic */
	uint64_t start_ms;
	uint64_t epoch, counter;
	uint64_t next_send_ms;
	unsigned announce_left;
	uint64_t next_announce_ms;
	uint64_t last_take_ms;     /* monotonic time the VIP was last taken */
	uint64_t last_reannounce_ms;

	/* the peer */
	struct hb_seq seq;
	struct hb_msg peer_msg;    /* last accepted */
	int peer_seen;
	uint64_t peer_rx_ms;       /* monotonic, last accepted */
	uint64_t peer_since_ms;    /* monotonic, first packet of its current epoch */
	uint64_t peer_unauth_ms;   /* last unverifiable packet from peer_address */
	int peer_reported;         /* what mhafs was told: -1 nothing, 0 down, 1 up */
	uint64_t mhafs_retry_ms;

	/* witness */
	int witness_ok;
	unsigned witness_misses;   /* probes in a row without an answer */
	uint64_t witness_checked_ms;

	struct health health;
	char health_reason[HEALTH_REASON];
	int healthy;               /* -1 unknown */

	struct hbd_counters c;
	uint64_t drop_log_ms;
	unsigned drops_unlogged;
	char drop_last[160];

	/* balancing (agent.c) */
	int agent_fd;
	struct probe probe;
	struct sessions sessions;  /* this node's mail sessions, published (sessions.h) */
	int drained;               /* mhactl drain (persisted) */
	int ready;                 /* caught up after the start (latched) */
	char ready_why[AGENT_REASON];
	struct agent_say said;     /* what the agent answers */
	int said_known;
	uint64_t agent_answers;
	enum hn_state peer_bal;    /* the peer as the nodes file gives it */
	int peer_bal_known;
	uint64_t peer_down_since_ms; /* monotonic; 0 unless peer_bal is down */
	char peer_bal_why[AGENT_REASON];
	unsigned peer_weight;      /* last weight its agent gave; 0 none yet */
	enum hn_state peer_agent_last; /* what its agent last said ... */
	int peer_agent_heard;      /* ... if it ever answered this run (or the kept table had it) */
	uint64_t peer_kicked_for;  /* peer_rx_ms for which a probe was kicked */
	char nodes_written[2048];  /* the nodes file's content as last written, less its stamp */
	uint64_t nodes_stamp;      /* the stamp written with it */
	int nodes_kept;            /* the previous run's file is kept until the peer is known */
	unsigned kept_peer_id;     /* the peer as that file had it, up or drained (0: none) */
	char nodes_err[512];

	struct hbd_trans trans[HBD_TRANS];
	unsigned n_trans;          /* total ever; ring of HBD_TRANS */
	int stopping;
};

/* ctl.c */
int ctl_open(struct hbd *d, char *err, size_t errlen);
void ctl_close(struct hbd *d);
void ctl_serve(struct hbd *d);
int ctl_status_client(const char *path);
void hook_run(struct hbd *d, enum hb_state from, enum hb_state to);
void hook_reap(void);
void mhafs_notify(struct hbd *d, uint64_t now);
int hbd_peer_alive(const struct hbd *d, uint64_t now);
uint64_t wall_ms(void);

/* agent.c */
int agent_open(struct hbd *d, char *err, size_t errlen);
void agent_close(struct hbd *d);
void agent_reload(struct hbd *d, const char *old_addr, unsigned old_port);
void agent_serve(struct hbd *d);
void agent_update(struct hbd *d, uint64_t now);
int agent_set_drain(struct hbd *d, int on, char *err, size_t errlen);
void agent_status(struct hbd *d, FILE *f);

#endif
