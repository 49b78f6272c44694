/* fsm.h: heartbeatd's state machine.  Every transition is one row of the
 * table in fsm.c: (state, event) -> (next state, action).  hb_classify()
 * turns what the daemon knows (local health, the peer's last heartbeat,
 * the witness) into at most one event; hb_step() looks the event up.
 * Both are pure functions so the unit tests can drive them. */
#ifndef MHAFS_HB_FSM_H
#define MHAFS_HB_FSM_H

enum hb_state {
	HB_S_STARTING,   /* just started, VIP released, listening for the peer */
	HB_S_SECONDARY,  /* peer alive and holds (or is about to hold) the VIP */
	HB_S_PRIMARY,    /* holds the VIP, peer alive */
	HB_S_SOLO,       /* holds the VIP, peer dead or gone */
	HB_S_ISOLATED,   /* peer silent and witness unreachable: no VIP */
	HB_S_FAULT,      /* local health check failed: no VIP */
	HB_S_STOPPED,    /* shutting down: VIP released, peer told */
	HB_NSTATES
};

enum hb_event {
	HB_E_PEER_PRIMARY_WIN,   /* peer holds the VIP, the tie-break favours us */
	HB_E_PEER_PRIMARY_LOSE,  /* peer holds the VIP, the tie-break favours it */
	HB_E_PEER_STANDBY_WIN,   /* peer healthy without VIP, we have the lower id */
	HB_E_PEER_STANDBY_LOSE,  /* peer healthy without VIP, it has the lower id */
	HB_E_PEER_FAULT,         /* peer alive but unhealthy */
	HB_E_PEER_LEAVING,       /* peer announced a clean shutdown */
	HB_E_PEER_DEAD,          /* peer silent for peer_dead_ms, witness ok/none */
	HB_E_PEER_DEAD_ISOLATED, /* peer silent and the witness unreachable */
	HB_E_HEALTH_BAD,
	HB_E_HEALTH_OK,
	HB_E_STOP,               /* SIGTERM / SIGINT */
	HB_NEVENTS,
	HB_E_NONE = -1
};

enum hb_action {
	HB_A_NONE,
	HB_A_TAKE,       /* add the VIPs and announce them */
	HB_A_RELEASE,    /* remove the VIPs */
	HB_A_ANNOUNCE,   /* keep the VIPs and announce them again (won a tie) */
	HB_A_LEAVE,      /* remove the VIPs and tell the peer we are leaving */
	HB_NACTIONS
};

struct hb_row {
	enum hb_state state;
	enum hb_event event;
	enum hb_state next;
	enum hb_action action;
};

/* The whole table and its length (exactly one row per (state, event)). */
extern const struct hb_row hb_table[];
extern const unsigned hb_table_len;

/* The row for (s, e); NULL only if the table is incomplete (a bug). */
const struct hb_row *hb_step(enum hb_state s, enum hb_event e);

/* What the daemon knows when it decides. */
struct hb_facts {
	int stopping;
	int healthy;            /* local health checks pass */
	int peer_alive;         /* an ALIVE heartbeat within peer_dead_ms */
	int peer_leaving;       /* the peer's last word was LEAVING */
	int peer_holds_vip;
	int peer_healthy;
	int start_wait_over;    /* STARTING has waited peer_dead_ms */
	int witness_ok;         /* witness answered, or none configured */
	int peer_unauthenticated; /* peer_address sends packets we cannot verify */
	unsigned my_id, peer_id;
};

/* The event these facts mean in state s, or HB_E_NONE. */
enum hb_event hb_classify(enum hb_state s, const struct hb_facts *f);

int hb_state_holds_vip(enum hb_state s);
const char *hb_state_name(enum hb_state s);
const char *hb_event_name(enum hb_event e);
const char *hb_action_name(enum hb_action a);

#endif
