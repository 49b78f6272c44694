/* fsm.c: the heartbeatd transition table and the event classifier.
 * Rule on rejoin: when both nodes hold the VIP the one with the lower
 * node_id keeps it (and announces it again), the other releases it; a node
 * that does not hold the VIP never takes it from a peer that does.  A SOLO
 * node that hears its peer again announces the VIP again: during the
 * split the peer may have held it and turned the neighbours' caches. */
#include "fsm.h"

#include <stddef.h>

#define S(x) HB_S_##x
#define E(x) HB_E_##x
#define A(x) HB_A_##x
#define ROW(s, e, n, a) { S(s), E(e), S(n), A(a) }

const struct hb_row hb_table[] = {
	ROW(STARTING, PEER_PRIMARY_WIN,  SECONDARY, NONE),
	ROW(STARTING, PEER_PRIMARY_LOSE, SECONDARY, NONE),
	ROW(STARTING, PEER_STANDBY_WIN,  PRIMARY,   TAKE),
	ROW(STARTING, PEER_STANDBY_LOSE, SECONDARY, NONE),
	ROW(STARTING, PEER_FAULT,        PRIMARY,   TAKE),
	ROW(STARTING, PEER_LEAVING,      SOLO,      TAKE),
	ROW(STARTING, PEER_DEAD,         SOLO,      TAKE),
	ROW(STARTING, PEER_DEAD_ISOLATED, ISOLATED, NONE),
	ROW(STARTING, HEALTH_BAD,        FAULT,     NONE),
	ROW(STARTING, HEALTH_OK,         STARTING,  NONE),
	ROW(STARTING, STOP,              STOPPED,   LEAVE),

	ROW(SECONDARY, PEER_PRIMARY_WIN,  SECONDARY, NONE),
	ROW(SECONDARY, PEER_PRIMARY_LOSE, SECONDARY, NONE),
	ROW(SECONDARY, PEER_STANDBY_WIN,  PRIMARY,   TAKE),
	ROW(SECONDARY, PEER_STANDBY_LOSE, SECONDARY, NONE),
	ROW(SECONDARY, PEER_FAULT,        PRIMARY,   TAKE),
	ROW(SECONDARY, PEER_LEAVING,      SOLO,      TAKE),
	ROW(SECONDARY, PEER_DEAD,         SOLO,      TAKE),
	ROW(SECONDARY, PEER_DEAD_ISOLATED, ISOLATED, NONE),
	ROW(SECONDARY, HEALTH_BAD,        FAULT,     NONE),
	ROW(SECONDARY, HEALTH_OK,         SECONDARY, NONE),
	ROW(SECONDARY, STOP,              STOPPED,   LEAVE),

	ROW(PRIMARY, PEER_PRIMARY_WIN,  PRIMARY,   ANNOUNCE),
	ROW(PRIMARY, PEER_PRIMARY_LOSE, SECONDARY, RELEASE),
	ROW(PRIMARY, PEER_STANDBY_WIN,  PRIMARY,   NONE),
	ROW(PRIMARY, PEER_STANDBY_LOSE, PRIMARY,   NONE),
	ROW(PRIMARY, PEER_FAULT,        PRIMARY,   NONE),
	ROW(PRIMARY, PEER_LEAVING,      SOLO,      NONE),
	ROW(PRIMARY, PEER_DEAD,         SOLO,      NONE),
	ROW(PRIMARY, PEER_DEAD_ISOLATED, ISOLATED, RELEASE),
	ROW(PRIMARY, HEALTH_BAD,        FAULT,     RELEASE),
	ROW(PRIMARY, HEALTH_OK,         PRIMARY,   NONE),
	ROW(PRIMARY, STOP,              STOPPED,   LEAVE),

	ROW(SOLO, PEER_PRIMARY_WIN,  PRIMARY,   ANNOUNCE),
	ROW(SOLO, PEER_PRIMARY_LOSE, SECONDARY, RELEASE),
	ROW(SOLO, PEER_STANDBY_WIN,  PRIMARY,   ANNOUNCE),
	ROW(SOLO, PEER_STANDBY_LOSE, PRIMARY,   ANNOUNCE),
	ROW(SOLO, PEER_FAULT,        PRIMARY,   ANNOUNCE),
	ROW(SOLO, PEER_LEAVING,      SOLO,      NONE),
	ROW(SOLO, PEER_DEAD,         SOLO,      NONE),
	ROW(SOLO, PEER_DEAD_ISOLATED, ISOLATED, RELEASE),
	ROW(SOLO, HEALTH_BAD,        FAULT,     RELEASE),
	ROW(SOLO, HEALTH_OK,         SOLO,      NONE),
	ROW(SOLO, STOP,              STOPPED,   LEAVE),

	ROW(ISOLATED, PEER_PRIMARY_WIN,  SECONDARY, NONE),
	ROW(ISOLATED, PEER_PRIMARY_LOSE, SECONDARY, NONE),
	ROW(ISOLATED, PEER_STANDBY_WIN,  PRIMARY,   TAKE),
	ROW(ISOLATED, PEER_STANDBY_LOSE, SECONDARY, NONE),
	ROW(ISOLATED, PEER_FAULT,        PRIMARY,   TAKE),
	ROW(ISOLATED, PEER_LEAVING,      SOLO,      TAKE),
	ROW(ISOLATED, PEER_DEAD,         SOLO,      TAKE),
	ROW(ISOLATED, PEER_DEAD_ISOLATED, ISOLATED, NONE),
	ROW(ISOLATED, HEALTH_BAD,        FAULT,     NONE),
	ROW(ISOLATED, HEALTH_OK,         ISOLATED,  NONE),
	ROW(ISOLATED, STOP,              STOPPED,   LEAVE),

	ROW(FAULT, PEER_PRIMARY_WIN,  FAULT,    NONE),
	ROW(FAULT, PEER_PRIMARY_LOSE, FAULT,    NONE),
	ROW(FAULT, PEER_STANDBY_WIN,  FAULT,    NONE),
	ROW(FAULT, PEER_STANDBY_LOSE, FAULT,    NONE),
	ROW(FAULT, PEER_FAULT,        FAULT,    NONE),
	ROW(FAULT, PEER_LEAVING,      FAULT,    NONE),
	ROW(FAULT, PEER_DEAD,         FAULT,    NONE),
	ROW(FAULT, PEER_DEAD_ISOLATED, FAULT,   NONE),
	ROW(FAULT, HEALTH_BAD,        FAULT,    NONE),
	ROW(FAULT, HEALTH_OK,         STARTING, NONE),
	ROW(FAULT, STOP,              STOPPED,  LEAVE),

	ROW(STOPPED, PEER_PRIMARY_WIN,  STOPPED, NONE),
	ROW(STOPPED, PEER_PRIMARY_LOSE, STOPPED, NONE),
	ROW(STOPPED, PEER_STANDBY_WIN,  STOPPED, NONE),
	ROW(STOPPED, PEER_STANDBY_LOSE, STOPPED, NONE),
	ROW(STOPPED, PEER_FAULT,        STOPPED, NONE),
	ROW(STOPPED, PEER_LEAVING,      STOPPED, NONE),
	ROW(STOPPED, PEER_DEAD,         STOPPED, NONE),
	ROW(STOPPED, PEER_DEAD_ISOLATED, STOPPED, NONE),
	ROW(STOPPED, HEALTH_BAD,        STOPPED, NONE),
	ROW(STOPPED, HEALTH_OK,         STOPPED, NONE),
	ROW(STOPPED, STOP,              STOPPED, NONE),
};
const unsigned hb_table_len = sizeof(hb_table) / sizeof(hb_table[0]);

const struct hb_row *hb_step(enum hb_state s, enum hb_event e)
{
	for (unsigned i = 0; i < hb_table_len; i++)
		if (hb_table[i].state == s && hb_table[i].event == e)
			return &hb_table[i];
	return NULL;
}

enum hb_event hb_classify(enum hb_state s, const struct hb_facts *f)
{
	if (s == HB_S_STOPPED)
		return HB_E_NONE;
	if (f->stopping)
		return HB_E_STOP;
	if (!f->healthy)
		return HB_E_HEALTH_BAD;
	if (s == HB_S_FAULT)
		return HB_E_HEALTH_OK;
	if (f->peer_leaving)
		return HB_E_PEER_LEAVING;
	if (f->peer_alive) {
		int win = f->my_id < f->peer_id;
		if (f->peer_holds_vip)
			return win ? HB_E_PEER_PRIMARY_WIN : HB_E_PEER_PRIMARY_LOSE;
		if (!f->peer_healthy)
			return HB_E_PEER_FAULT;
		return win ? HB_E_PEER_STANDBY_WIN : HB_E_PEER_STANDBY_LOSE;
	}
	/* A starting node that hears its peer sign with another key waits: a
	 * wrong cluster key must not make a second VIP owner. */
	if (s == HB_S_STARTING && (!f->start_wait_over || f->peer_unauthenticated))
		return HB_E_NONE;
	return f->witness_ok ? HB_E_PEER_DEAD : HB_E_PEER_DEAD_ISOLATED;
}

int hb_state_holds_vip(enum hb_state s)
{
	return s == HB_S_PRIMARY || s == HB_S_SOLO;
}

const char *hb_state_name(enum hb_state s)
{
	static const char *const n[HB_NSTATES] = {
		"STARTING", "SECONDARY", "PRIMARY", "SOLO", "ISOLATED", "FAULT", "STOPPED",
	};
	return (unsigned)s < HB_NSTATES ? n[s] : "?";
}

const char *hb_event_name(enum hb_event e)
{
	static const char *const n[HB_NEVENTS] = {
		"peer-primary-win", "peer-primary-lose", "peer-standby-win", "peer-standby-lose",
		"peer-fault", "peer-leaving", "peer-dead", "peer-dead-isolated",
		"health-bad", "health-ok", "stop",
	};
	return (unsigned)e < HB_NEVENTS ? n[e] : "none";
}

const char *hb_action_name(enum hb_action a)
{
	static const char *const n[HB_NACTIONS] = { "none", "take", "release", "announce", "leave" };
	return (unsigned)a < HB_NACTIONS ? n[a] : "?";
}
