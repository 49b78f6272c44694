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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* A TCP socket on 127.0.0.1, listening (never accepting: a server that
 * does not greet) or closed at once (a port nobody serves).  Its port. */
static unsigned loopback_port(int listening, int *fd_out)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0 || (listening && listen(fd, 16) < 0))
		return 0;
	if (!listening)
		close(fd);
	else
		*fd_out = fd;
	return ntohs(sa.sin_port);
}

/* A greeting's window: from, to, and how late its thread saw the timeout. */
static const struct health_slow *win(uint64_t from, uint64_t to, uint64_t late)
{
	static struct health_slow s;
	s.from_ms = from;
	s.to_ms = to;
	s.late_ms = late;
	return &s;
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
	const char *tmo = "IMAP on port 143: no greeting within 1000 ms";
	init(&h, 1000);
	health_loop_tick(&h, 2000, 2100);
	CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(1100, 2100, 0)), 0);
	CHECK_INT(h.ok, 1);
	health_loop_tick(&h, 3500, 3600);
	CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(2600, 3600, 0)), 0);
	CHECK_INT(h.ok, 0);
	CHECK_STR(h.reason, tmo);
	CHECK_INT(h.uncounted_total, 0);

	/* a timeout across a stall of the main loop (2.3 s from 1.5 s, as
	 * the fault run's seed 83 saw) is not counted, nor the next one
	 * across another; a pass then keeps the node healthy */
	init(&h, 1000);
	health_loop_tick(&h, 1500, 3800);
	CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(1200, 2200, 0)), 1);
	health_loop_tick(&h, 3800, 6000);
	CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(4300, 5300, 0)), 1);
	CHECK_INT(h.ok, 1);
	CHECK_INT(h.fails, 0);
	CHECK_INT(h.uncounted_total, 2);
	CHECK_STR(h.uncounted_reason, tmo);
	health_loop_tick(&h, 6000, 6100);
	CHECK_INT(health_count(&h, 0, "", win(6100, 6110, 0)), 0);
	CHECK_INT(h.uncounted, 0);
	CHECK_INT(h.ok, 1);

	/* the main loop stalled now (not woken since 1.2 s): not counted */
	init(&h, 1000);
	health_loop_tick(&h, 1100, 1200);
	CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(1300, 2300, 0)), 1);
	/* the loop woke on time all along: counted */
	init(&h, 1000);
	for (uint64_t t = 1100; t <= 2300; t += 150)
		health_loop_tick(&h, t - 150, t);
	CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(1300, 2300, 0)), 0);
	/* a stall that ended before the greeting began: counted */
	init(&h, 1000);
	health_loop_tick(&h, 1000, 1900);
	health_loop_tick(&h, 1900, 2000);
	health_loop_tick(&h, 2000, 2150);
	CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(1950, 2200, 0)), 0);
	/* the greeting ended 250 ms past its timeout: this thread was frozen */
	init(&h, 1000);
	health_loop_tick(&h, 2400, 2500);
	CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(1300, 2550, 249)), 0);
	CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(1300, 2550, STALL_LATE_MS)), 1);
	CHECK_INT(h.fails, 1);

	/* a refusal counts, stall or not */
	init(&h, 1000);
	health_loop_tick(&h, 1000, 3000);
	CHECK_INT(health_count(&h, -1, "IMAP on port 143: Connection refused", win(1500, 1501, 0)), 0);
	CHECK_INT(health_count(&h, -1, "IMAP on port 143: Connection refused", win(2000, 2001, 0)), 0);
	CHECK_INT(h.ok, 0);

	/* a machine that stalls in every round: after UNCOUNTED_MAX rounds
	 * since the last pass, timeouts count again, and two demote */
	init(&h, 1000);
	uint64_t t = 1000;
	for (int i = 0; i < UNCOUNTED_MAX; i++, t += 2000) {
		health_loop_tick(&h, t, t + 1500);
		CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(t + 200, t + 1200, 0)), 1);
	}
	health_loop_tick(&h, t, t + 1500);
	CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(t + 200, t + 1200, 0)), 0);
	health_loop_tick(&h, t + 1500, t + 3500);
	CHECK_INT(health_count(&h, HEALTH_SLOW, tmo, win(t + 2200, t + 3200, 0)), 0);
	CHECK_INT(h.ok, 0);

	/* the rounds' own classes: a server that never greets is a timeout,
	 * a refusal is not; after an IMAP timeout, SMTP's refusal decides */
	int mute = -1;
	unsigned mute_port = loopback_port(1, &mute), shut_port = loopback_port(0, NULL);
	CHECK(mute_port != 0 && shut_port != 0);
	why[0] = '\0';
	CHECK_INT(hb_greeting("IMAP", "127.0.0.1", mute_port, "* OK", 200, why, sizeof(why)), HEALTH_SLOW);
	CHECK_HAS(why, "no greeting within 200 ms");
	CHECK_INT(hb_greeting("IMAP", "127.0.0.1", shut_port, "* OK", 200, why, sizeof(why)), -1);
	struct health_cfg rc_cfg;
	struct health_slow sl = { 0, 0, 0 };
	memset(&rc_cfg, 0, sizeof(rc_cfg));
	rc_cfg.timeout_ms = 200;
	rc_cfg.imap_port = mute_port;
	rc_cfg.smtp_port = shut_port;
	uint64_t t0 = mono_ms();
	CHECK_INT(health_round(&rc_cfg, why, sizeof(why), &sl), -1);
	CHECK_HAS(why, "SMTP on port");
	rc_cfg.smtp_port = mute_port;
	CHECK_INT(health_round(&rc_cfg, why, sizeof(why), &sl), HEALTH_SLOW);
	CHECK_HAS(why, "IMAP on port");
	CHECK(sl.from_ms >= t0 && sl.to_ms >= sl.from_ms + 400);
	rc_cfg.smtp_port = 0;
	CHECK_INT(health_round(&rc_cfg, why, sizeof(why), &sl), HEALTH_SLOW);
	CHECK(sl.to_ms >= sl.from_ms + 200);
	close(mute);
	return t_done("test_health");
}
