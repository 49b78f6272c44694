/* hlc.h: hybrid logical clock.  A timestamp is 48 bits of wall-clock
 * milliseconds and 16 bits of logical counter, so it orders like an integer
 * and stays causal when wall clocks disagree.  The clock source and an
 * offset are injectable for tests. */
#ifndef MHAFS_HLC_H
#define MHAFS_HLC_H

#include <pthread.h>
#include <stdint.h>

typedef uint64_t hlc_t;

#define HLC_LOGICAL_BITS 16
#define HLC_LOGICAL_MASK ((UINT64_C(1) << HLC_LOGICAL_BITS) - 1)
#define HLC_MS(t) ((t) >> HLC_LOGICAL_BITS)
#define HLC_LOGICAL(t) ((t) & HLC_LOGICAL_MASK)
#define HLC_MAKE(ms, l) (((uint64_t)(ms) << HLC_LOGICAL_BITS) | ((uint64_t)(l) & HLC_LOGICAL_MASK))

/* Physical clock in milliseconds since the epoch. */
typedef uint64_t (*hlc_clock_fn)(void *arg);

struct hlc {
	pthread_mutex_t lock;
	hlc_t last;
	int64_t offset_ms;   /* added to the physical clock (test hook) */
	hlc_clock_fn clock;
	void *clock_arg;
};

/* clock NULL means CLOCK_REALTIME. */
void hlc_init(struct hlc *h, hlc_clock_fn clock, void *arg, int64_t offset_ms);
/* A new timestamp for a local event, greater than every earlier one. */
hlc_t hlc_now(struct hlc *h);
/* Merge a timestamp received from the peer; returns the new local time,
 * greater than both.  Never moves backwards. */
hlc_t hlc_update(struct hlc *h, hlc_t remote);
/* Restore after restart: the clock will never issue <= floor. */
void hlc_observe(struct hlc *h, hlc_t floor);
/* "ms.logical" text form into buf (at least 32 bytes). */
const char *hlc_format(hlc_t t, char *buf, unsigned long len);

#endif
