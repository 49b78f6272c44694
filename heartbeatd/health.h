/* health.h: local health checks run by a thread of their own (a hung FUSE
 * mount may block stat() for ever): the interfaces are up with carrier,
 * mount_point answers stat(), and the IMAP and SMTP servers on 127.0.0.1
 * greet.  Also the witness probe (ICMP echo). */
#ifndef MHAFS_HB_HEALTH_H
#define MHAFS_HB_HEALTH_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#define HEALTH_REASON 160

struct health_cfg {
	char mount_point[256];      /* empty: no check */
	char ifname[2][32];         /* interfaces that must be up; empty: none */
	unsigned imap_port, smtp_port; /* 0: no check */
	unsigned interval_ms;
	unsigned timeout_ms;        /* per connect/greeting */
	unsigned loop_stall_ms;     /* a main-loop gap longer than this is a stall */
};

struct health {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct health_cfg cfg;
	int notify_fd;              /* a byte is written after each round */
	int stop, started;
	int known;                  /* a verdict exists */
	int ok;                     /* the verdict, with hysteresis */
	int fails, passes;          /* consecutive rounds */
	char reason[HEALTH_REASON]; /* why the last failing round failed */
	uint64_t last_round_ms;     /* monotonic end of the last round */
	uint64_t overdue_since_ms;  /* when an overdue round's timing began */
	uint64_t rounds;
	uint64_t loop_ms;           /* the main loop's last wake */
	uint64_t stall_from_ms, stall_to_ms; /* its last stall */
	unsigned uncounted;         /* rounds not counted since the last pass */
	uint64_t uncounted_total;
	char uncounted_reason[HEALTH_REASON]; /* the last one's failure */
};

int health_start(struct health *h, const struct health_cfg *cfg, int notify_fd);
void health_set_cfg(struct health *h, const struct health_cfg *cfg);
/* Current verdict: 1 healthy, 0 sick (reason filled), -1 not known yet.
 * A round not finished within interval + 2 timeouts + 1 s is overdue; one
 * still overdue a round's time (interval + 2 timeouts) after the main
 * loop first saw it so, or last resumed from a stall of its own
 * (health_loop_stalled), is "stalled" (a stat() hung on a dead mount):
 * sick.  health_get is the main loop's look, which starts that timing;
 * health_peek only reads (the status command). */
int health_get(struct health *h, uint64_t now_ms, char *reason, size_t len);
int health_peek(struct health *h, uint64_t now_ms, char *reason, size_t len);
/* Rounds not counted so far (health_count), and the last one's failure. */
uint64_t health_uncounted(struct health *h, char *reason, size_t len);
/* The main loop's pulse, on each wake (last: the wake before).  A gap over
 * cfg.loop_stall_ms is a stall of heartbeatd itself: it times an overdue
 * round again, and a round that timed out across it is not counted. */
void health_loop_tick(struct health *h, uint64_t last_ms, uint64_t now_ms);
void health_stop(struct health *h);

/* A greeting that timed out: when it began and ended (monotonic ms), and
 * how long past its timeout its thread got to see that. */
struct health_slow {
	uint64_t from_ms, to_ms, late_ms;
};
/* One round of checks; 0 ok, -1 with reason, HEALTH_SLOW (with reason,
 * and *slow filled) when greetings' timeouts alone failed it: after an
 * IMAP timeout SMTP is still asked, and its refusal decides (exposed for
 * tests). */
#define HEALTH_SLOW (-2)
int health_round(const struct health_cfg *cfg, char *reason, size_t len, struct health_slow *slow);
/* Count a round's result (health_round's) into the verdict (exposed for
 * tests).  A round failed by a timeout while heartbeatd was stalled (the
 * main loop's gap overlapped the greeting, the loop is stalled as it
 * ends, or the greeting's thread saw its timeout STALL_LATE_MS late)
 * proved nothing about the service: up to UNCOUNTED_MAX such rounds since
 * the last passing one count neither way.  Returns 1 when the round was
 * not counted.  slow: health_round's, for HEALTH_SLOW.  Called with
 * h->lock held. */
#define STALL_LATE_MS 250
#define UNCOUNTED_MAX 4
int health_count(struct health *h, int rc, const char *reason, const struct health_slow *slow);

/* Connect to addr:port (an IP literal) and read a greeting that starts
 * with want within timeout_ms.  0, HEALTH_SLOW when none came in time, or
 * -1, with reason filled (what names the service in it). */
int hb_greeting(const char *what, const char *addr, unsigned port, const char *want, unsigned timeout_ms,
		char *reason, size_t len);

/* ICMP echo to addr (numeric IPv4 or IPv6), waiting timeout_ms.
 * 1 answered, 0 no answer, -errno on a local error. */
int witness_probe(const char *addr, unsigned timeout_ms);

uint64_t mono_ms(void);

/* An IPv4 or IPv6 literal and a port as a socket address.  Returns 0, or
 * -1 when addr is not an IP literal. */
int hb_sockaddr(const char *addr, unsigned port, struct sockaddr_storage *ss, socklen_t *len);

/* A polling thread's pause: wait on cond (lock held) for ms milliseconds
 * of CLOCK_MONOTONIC, or until *stop is set and cond signalled. */
void hb_pause(pthread_cond_t *cond, pthread_mutex_t *lock, unsigned ms, const int *stop);
/* The same, also ended early when *wake is set (wake may be NULL). */
void hb_pause_until(pthread_cond_t *cond, pthread_mutex_t *lock, unsigned ms, const int *stop, const int *wake);

#endif
