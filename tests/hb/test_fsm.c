/* test_fsm.c: unit tests (TAP) for heartbeatd's transition table and
 * event classifier: the table is complete and consistent (every action
 * matches the VIP ownership change it makes), the classifier's priorities,
 * and whole scenarios played through both nodes' machines: start-up,
 * failover, rejoin after a split (exactly one owner), health demotion. */
#include "fsm.h"

#include <stdio.h>
#include <string.h>

static int n_test, n_fail;

static void ok(int cond, const char *what)
{
	n_test++;
	if (!cond)
		n_fail++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n_test, what);
}

/* A simulated node: its state and what it last told the other. */
struct node {
	enum hb_state s;
	unsigned id;
	int healthy, alive, leaving;
};

static struct hb_facts facts(const struct node *me, const struct node *peer, int link_up, int witness)
{
	struct hb_facts f;
	memset(&f, 0, sizeof(f));
	f.healthy = me->healthy;
	f.peer_alive = link_up && peer->alive && !peer->leaving;
	f.peer_leaving = link_up && peer->leaving;
	f.peer_holds_vip = hb_state_holds_vip(peer->s);
	f.peer_healthy = peer->s != HB_S_FAULT;
	f.start_wait_over = 1;
	f.witness_ok = witness;
	f.my_id = me->id;
	f.peer_id = peer->id;
	return f;
}

/* Let the two machines exchange news until neither changes (max 10 rounds). */
static void settle(struct node *a, struct node *b, int link_up, int wa, int wb)
{
	for (int i = 0; i < 10; i++) {
		int changed = 0;
		struct node *n[2] = { a, b };
		for (int k = 0; k < 2; k++) {
			struct hb_facts f = facts(n[k], n[1 - k], link_up, k ? wb : wa);
			enum hb_event e = hb_classify(n[k]->s, &f);
			if (e == HB_E_NONE)
				continue;
			const struct hb_row *r = hb_step(n[k]->s, e);
			if (r && r->next != n[k]->s) {
				n[k]->s = r->next;
				changed = 1;
			}
		}
		if (!changed)
			return;
	}
}

static int owners(const struct node *a, const struct node *b)
{
	return hb_state_holds_vip(a->s) + hb_state_holds_vip(b->s);
}

int main(void)
{
	/* table shape */
	int complete = 1, unique = 1, consistent = 1;
	for (int s = 0; s < HB_NSTATES; s++)
		for (int e = 0; e < HB_NEVENTS; e++) {
			int n = 0;
			for (unsigned i = 0; i < hb_table_len; i++)
				n += hb_table[i].state == (enum hb_state)s && hb_table[i].event == (enum hb_event)e;
			complete &= n >= 1;
			unique &= n <= 1;
		}
	for (unsigned i = 0; i < hb_table_len; i++) {
		const struct hb_row *r = &hb_table[i];
		int before = hb_state_holds_vip(r->state), after = hb_state_holds_vip(r->next);
		int ok_row;
		switch (r->action) {
		case HB_A_TAKE: ok_row = !before && after; break;
		case HB_A_RELEASE: ok_row = before && !after; break;
		case HB_A_ANNOUNCE: ok_row = before && after; break;
		case HB_A_LEAVE: ok_row = r->next == HB_S_STOPPED; break;
		default: ok_row = before == after; break;
		}
		if (!ok_row) {
			printf("# row %s + %s -> %s (%s) breaks VIP consistency\n", hb_state_name(r->state),
			       hb_event_name(r->event), hb_state_name(r->next), hb_action_name(r->action));
			consistent = 0;
		}
	}
	ok(complete, "every (state, event) pair has a row");
	ok(unique, "no (state, event) pair has two rows");
	ok(hb_table_len == HB_NSTATES * HB_NEVENTS, "table size is states x events");
	ok(consistent, "every row's action matches the VIP ownership change");
	int stop_ok = 1;
	for (int s = 0; s < HB_NSTATES; s++)
		stop_ok &= hb_step((enum hb_state)s, HB_E_STOP)->next == HB_S_STOPPED;
	ok(stop_ok, "STOP ends in STOPPED from every state");
	int fault_ok = 1;
	for (int s = 0; s < HB_NSTATES; s++)
		if (s != HB_S_STOPPED)
			fault_ok &= !hb_state_holds_vip(hb_step((enum hb_state)s, HB_E_HEALTH_BAD)->next);
	ok(fault_ok, "a health failure never leaves the VIP held");
	int iso_ok = 1;
	for (int s = 0; s < HB_NSTATES; s++)
		iso_ok &= !hb_state_holds_vip(hb_step((enum hb_state)s, HB_E_PEER_DEAD_ISOLATED)->next);
	ok(iso_ok, "without the witness a silent peer never gives us the VIP");
	int defer_ok = 1;
	for (int s = 0; s < HB_NSTATES; s++)
		if (!hb_state_holds_vip((enum hb_state)s))
			defer_ok &= !hb_state_holds_vip(hb_step((enum hb_state)s, HB_E_PEER_PRIMARY_WIN)->next);
	ok(defer_ok, "a node without the VIP never takes it from a peer that holds it");

	int reann = 1;
	for (int e = 0; e < HB_NEVENTS; e++) {
		const struct hb_row *r = hb_step(HB_S_SOLO, (enum hb_event)e);
		if (r->next == HB_S_PRIMARY)
			reann &= r->action == HB_A_ANNOUNCE;
	}
	ok(reann, "SOLO -> PRIMARY (peer back after a split) always announces the VIP again");

	/* classifier priorities */
	struct hb_facts f;
	memset(&f, 0, sizeof(f));
	f.healthy = 1;
	f.my_id = 1;
	f.peer_id = 2;
	f.stopping = 1;
	ok(hb_classify(HB_S_PRIMARY, &f) == HB_E_STOP, "stopping comes first");
	f.stopping = 0;
	f.healthy = 0;
	ok(hb_classify(HB_S_PRIMARY, &f) == HB_E_HEALTH_BAD, "then health");
	f.healthy = 1;
	ok(hb_classify(HB_S_FAULT, &f) == HB_E_HEALTH_OK, "healthy again in FAULT");
	ok(hb_classify(HB_S_STOPPED, &f) == HB_E_NONE, "nothing happens once stopped");
	ok(hb_classify(HB_S_STARTING, &f) == HB_E_NONE, "STARTING waits for peer_dead_ms");
	f.start_wait_over = 1;
	f.peer_unauthenticated = 1;
	ok(hb_classify(HB_S_STARTING, &f) == HB_E_NONE, "STARTING waits while the peer uses another key");
	f.peer_unauthenticated = 0;
	f.witness_ok = 1;
	ok(hb_classify(HB_S_STARTING, &f) == HB_E_PEER_DEAD, "then the peer is dead");
	f.witness_ok = 0;
	ok(hb_classify(HB_S_SECONDARY, &f) == HB_E_PEER_DEAD_ISOLATED, "dead peer, no witness: isolated");
	f.peer_alive = 1;
	f.peer_healthy = 1;
	ok(hb_classify(HB_S_SECONDARY, &f) == HB_E_PEER_STANDBY_WIN, "lower id wins a standby peer");
	f.my_id = 3;
	ok(hb_classify(HB_S_SECONDARY, &f) == HB_E_PEER_STANDBY_LOSE, "higher id loses");
	f.peer_holds_vip = 1;
	ok(hb_classify(HB_S_PRIMARY, &f) == HB_E_PEER_PRIMARY_LOSE, "both primary, higher id loses");
	f.peer_holds_vip = 0;
	f.peer_healthy = 0;
	ok(hb_classify(HB_S_SECONDARY, &f) == HB_E_PEER_FAULT, "sick peer");
	f.peer_leaving = 1;
	ok(hb_classify(HB_S_SECONDARY, &f) == HB_E_PEER_LEAVING, "leaving peer");

	/* scenarios */
	struct node a = { HB_S_STARTING, 1, 1, 1, 0 }, b = { HB_S_STARTING, 2, 1, 1, 0 };
	settle(&a, &b, 1, 1, 1);
	ok(a.s == HB_S_PRIMARY && b.s == HB_S_SECONDARY, "start-up: lower id primary");
	a.alive = 0; /* a dies */
	settle(&a, &b, 1, 1, 1);
	ok(b.s == HB_S_SOLO, "peer death: b SOLO");
	a.alive = 1;
	a.s = HB_S_STARTING; /* a restarts */
	settle(&a, &b, 1, 1, 1);
	ok(b.s == HB_S_PRIMARY && a.s == HB_S_SECONDARY && owners(&a, &b) == 1,
	   "restarted node rejoins as SECONDARY, VIP stays");
	settle(&a, &b, 0, 1, 1); /* partition, both reach the witness */
	ok(a.s == HB_S_SOLO && b.s == HB_S_SOLO, "partition with witness on both sides: both SOLO");
	settle(&a, &b, 1, 1, 1); /* heal */
	ok(owners(&a, &b) == 1 && a.s == HB_S_PRIMARY && b.s == HB_S_SECONDARY,
	   "healed split: exactly one owner, the lower id");
	settle(&a, &b, 0, 0, 1); /* a cut off from everyone */
	ok(a.s == HB_S_ISOLATED && b.s == HB_S_SOLO && owners(&a, &b) == 1,
	   "isolated node drops the VIP, the other takes it");
	settle(&a, &b, 1, 1, 1);
	ok(a.s == HB_S_SECONDARY && b.s == HB_S_PRIMARY, "isolated node rejoins without moving the VIP");
	b.healthy = 0;
	settle(&a, &b, 1, 1, 1);
	ok(b.s == HB_S_FAULT && a.s == HB_S_PRIMARY && owners(&a, &b) == 1, "sick primary demoted");
	b.healthy = 1;
	settle(&a, &b, 1, 1, 1);
	ok(b.s == HB_S_SECONDARY && a.s == HB_S_PRIMARY, "recovered node comes back as SECONDARY");
	a.leaving = 1;
	a.s = HB_S_STOPPED;
	settle(&a, &b, 1, 1, 1);
	ok(b.s == HB_S_SOLO, "clean shutdown: peer takes over at once");
	a.healthy = 0;
	a.leaving = 0;
	a.s = HB_S_STARTING;
	b.healthy = 0;
	b.s = HB_S_STARTING;
	settle(&a, &b, 1, 1, 1);
	ok(owners(&a, &b) == 0 && a.s == HB_S_FAULT, "two sick nodes: nobody holds the VIP");

	printf("1..%d\n", n_test);
	return n_fail ? 1 : 0;
}
