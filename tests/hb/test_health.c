/* test_health.c: heartbeatd's verdict on its health-check thread
 * (heartbeatd/health.c): a round overdue is a hang only when it is still
 * overdue a whole round's time after the main loop first saw it so, or
 * last resumed from a stall of its own; a round that ends meanwhile (the
 * thread was frozen with the whole machine) clears it; the status
 * command's peek starts nothing; the rounds' own verdict is unchanged.
 * And how rounds count (health_count): two failing rounds demote, two
 * passing ones restore, but a round that failed only by a greeting's
 * timeout while heartbeatd itself stalled counts neither way, at most
 * UNCOUNTED_MAX in a row. */
#include <pthread.h>
#include <string.h>

#include "health.h"
#include "../unit/tcheck.h"

/* A health state as the thread leaves it: a passing verdict, the last
 * round ended at t ms (no thread runs: the test moves the clock). */
static void init(struct health *h, uint64_t t)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->cfg.interval_ms = 300;
	h->cfg.timeout_ms = 1000;
	h->cfg.loop_stall_ms = 400;
	h->known = 1;
	h->ok = 1;
	h->last_round_ms = t;
}

int main(void)
{
	struct health h;
	char why[HEALTH_REASON];
	/* overdue: interval + 2 x timeout + 1 s = 3,300 ms after the last
	 * round; a hang: still overdue a round (2,300 ms) after first seen */

	/* a hang: overdue from 4.3 s, seen at 4.4 s, still so at 6.7 s */
	init(&h, 1000);
	CHECK_INT(health_get(&h, 4000, why, sizeof(why)), 1);
	CHECK_INT(health_get(&h, 4400, why, sizeof(why)), 1); /* overdue, first seen */
	CHECK_INT(health_get(&h, 6600, why, sizeof(why)), 1);
	why[0] = '\0';
	CHECK_INT(health_get(&h, 6700, why, sizeof(why)), 0);
	CHECK_HAS(why, "health checks stalled for 5700 ms");
	CHECK_INT(health_get(&h, 9000, why, sizeof(why)), 0);

	/* the status command's peek starts no episode */
	init(&h, 1000);
	CHECK_INT(health_peek(&h, 4400, why, sizeof(why)), 1);
	CHECK_INT(health_peek(&h, 9000, why, sizeof(why)), 1);
	CHECK_INT(health_get(&h, 9000, why, sizeof(why)), 1); /* the loop's first look */
	CHECK_INT(health_peek(&h, 11300, why, sizeof(why)), 0);

	/* a machine-wide stall: first seen overdue 4 s late (the main loop
	 * was frozen too), then the round ends: never a failure */
	init(&h, 1000);
	CHECK_INT(health_get(&h, 5000, why, sizeof(why)), 1);
	h.last_round_ms = 5100; /* the thread finished its round */
	CHECK_INT(health_get(&h, 7300, why, sizeof(why)), 1);
	CHECK_INT(health_get(&h, 8000, why, sizeof(why)), 1);

	/* two stalls back to back: the second restarts the timing */
	init(&h, 1000);
	CHECK_INT(health_get(&h, 4500, why, sizeof(why)), 1); /* seen after a 3.5 s stall */
	health_loop_tick(&h, 4500, 6600);                     /* resumed from 2 s more */
	CHECK_INT(health_get(&h, 6600, why, sizeof(why)), 1);
	CHECK_INT(health_get(&h, 8800, why, sizeof(why)), 1);
	CHECK_INT(health_get(&h, 8900, why, sizeof(why)), 0); /* unfinished a round later */
	/* a stall with no overdue round starts nothing */
	init(&h, 1000);
	health_loop_tick(&h, 1000, 2000);
	CHECK_INT(health_get(&h, 2000, why, sizeof(why)), 1);

	/* a failing verdict of the rounds themselves still counts at once */
	init(&h, 1000);
	h.ok = 0;
	strcpy(h.reason, "IMAP on port 143: connection refused");
	why[0] = '\0';
	CHECK_INT(health_get(&h, 1200, why, sizeof(why)), 0);
	CHECK_STR(why, "IMAP on port 143: connection refused");
	/* no verdict yet */
	init(&h, 1000);
	h.known = 0;
	CHECK_INT(health_get(&h, 1200, why, sizeof(why)), -1);
	/* counting: two timeouts with no stall demote */
	const char *slow = "IMAP on port 143: no greeting within 1000 ms";
	init(&h, 1000);
	health_loop_tick(&h, 2000, 2100);
	CHECK_INT(health_count(&h, HEALTH_SLOW, slow, 1100, 2100, 0), 0);
	CHECK_INT(h.ok, 1);
	health_loop_tick(&h, 3500, 3600);
	CHECK_INT(health_count(&h, HEALTH_SLOW, slow, 2600, 3600, 0), 0);
	CHECK_INT(h.ok, 0);
	CHECK_STR(h.reason, slow);
	CHECK_INT(h.uncounted_total, 0);

	/* a timeout across a stall of the main loop (2.3 s from 1.5 s, as
	 * the fault run's seed 83 saw) is not counted, nor the next one
	 * across another; a pass then keeps the node healthy */
	init(&h, 1000);
	health_loop_tick(&h, 1500, 3800);
	CHECK_INT(health_count(&h, HEALTH_SLOW, slow, 1200, 2200, 0), 1);
	health_loop_tick(&h, 3800, 6000);
	CHECK_INT(health_count(&h, HEALTH_SLOW, slow, 4300, 5300, 0), 1);
	CHECK_INT(h.ok, 1);
	CHECK_INT(h.fails, 0);
	CHECK_INT(h.uncounted_total, 2);
	CHECK_STR(h.uncounted_reason, slow);
	health_loop_tick(&h, 6000, 6100);
	CHECK_INT(health_count(&h, 0, "", 6100, 6110, 0), 0);
	CHECK_INT(h.uncounted, 0);
	CHECK_INT(h.ok, 1);

	/* the main loop stalled now (not woken since 1.2 s): not counted */
	init(&h, 1000);
	health_loop_tick(&h, 1100, 1200);
	CHECK_INT(health_count(&h, HEALTH_SLOW, slow, 1300, 2300, 0), 1);
	/* the loop woke on time meanwhile: counted */
	health_loop_tick(&h, 2000, 2200);
	CHECK_INT(health_count(&h, HEALTH_SLOW, slow, 1300, 2300, 0), 0);
	/* the greeting ended 250 ms past its timeout: this thread was frozen */
	init(&h, 1000);
	health_loop_tick(&h, 2400, 2500);
	CHECK_INT(health_count(&h, HEALTH_SLOW, slow, 1300, 2550, 249), 0);
	CHECK_INT(health_count(&h, HEALTH_SLOW, slow, 1300, 2550, STALL_LATE_MS), 1);
	CHECK_INT(h.fails, 1);

	/* a refusal counts, stall or not */
	init(&h, 1000);
	health_loop_tick(&h, 1000, 3000);
	CHECK_INT(health_count(&h, -1, "IMAP on port 143: Connection refused", 1500, 1501, 0), 0);
	CHECK_INT(health_count(&h, -1, "IMAP on port 143: Connection refused", 2000, 2001, 0), 0);
	CHECK_INT(h.ok, 0);

	/* a machine that stalls in every round: after UNCOUNTED_MAX rounds
	 * since the last pass, timeouts count again, and two demote */
	init(&h, 1000);
	uint64_t t = 1000;
	for (int i = 0; i < UNCOUNTED_MAX; i++, t += 2000) {
		health_loop_tick(&h, t, t + 1500);
		CHECK_INT(health_count(&h, HEALTH_SLOW, slow, t + 200, t + 1200, 0), 1);
	}
	health_loop_tick(&h, t, t + 1500);
	CHECK_INT(health_count(&h, HEALTH_SLOW, slow, t + 200, t + 1200, 0), 0);
	health_loop_tick(&h, t + 1500, t + 3500);
	CHECK_INT(health_count(&h, HEALTH_SLOW, slow, t + 2200, t + 3200, 0), 0);
	CHECK_INT(h.ok, 0);
	return t_done("test_health");
}
