/* test_health.c: heartbeatd's verdict on its health-check thread
 * (heartbeatd/health.c health_get): a round overdue is a hang only when it
 * is still overdue a round's time after that was first seen; a round that
 * ends meanwhile (the thread was frozen with the whole machine) clears it,
 * and the hysteresis of failing and passing rounds is unchanged. */
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
	h->known = 1;
	h->ok = 1;
	h->last_round_ms = t;
}

int main(void)
{
	struct health h;
	char why[HEALTH_REASON];
	/* limit: interval + 2 x timeout + 1 s = 3,300 ms; confirmation:
	 * interval + timeout = 1,300 ms later */

	/* a hang: overdue at 3.4 s, still overdue 1.3 s later */
	init(&h, 1000);
	CHECK_INT(health_get(&h, 4000, why, sizeof(why)), 1);
	CHECK_INT(health_get(&h, 4400, why, sizeof(why)), 1); /* overdue, first seen */
	CHECK_INT(health_get(&h, 5000, why, sizeof(why)), 1);
	why[0] = '\0';
	CHECK_INT(health_get(&h, 5700, why, sizeof(why)), 0);
	CHECK_HAS(why, "health checks stalled for 4700 ms");
	CHECK_INT(health_get(&h, 9000, why, sizeof(why)), 0);

	/* a machine-wide stall: first seen overdue 4 s late (the main loop
	 * was frozen too), then the round ends: never a failure */
	init(&h, 1000);
	CHECK_INT(health_get(&h, 5000, why, sizeof(why)), 1);
	h.last_round_ms = 5100; /* the thread finished its round */
	CHECK_INT(health_get(&h, 6300, why, sizeof(why)), 1);
	CHECK_INT(health_get(&h, 8000, why, sizeof(why)), 1);
	/* a second episode is timed from its own first sighting */
	CHECK_INT(health_get(&h, 8500, why, sizeof(why)), 1);
	CHECK_INT(health_get(&h, 9700, why, sizeof(why)), 1);
	CHECK_INT(health_get(&h, 9800, why, sizeof(why)), 0);

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
	return t_done("test_health");
}
