/* hlc.c: hybrid logical clock (Kulkarni et al.), one mutex per clock. */
#include "hlc.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

static uint64_t realtime_ms(void *arg)
{
	struct timespec ts;
	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void hlc_init(struct hlc *h, hlc_clock_fn clock, void *arg, int64_t offset_ms)
{
	pthread_mutex_init(&h->lock, NULL);
	h->last = 0;
	h->offset_ms = offset_ms;
	h->clock = clock ? clock : realtime_ms;
	h->clock_arg = arg;
}

static uint64_t phys_ms(struct hlc *h)
{
	int64_t ms = (int64_t)h->clock(h->clock_arg) + h->offset_ms;
	return ms < 0 ? 0 : (uint64_t)ms;
}

/* Next timestamp after both last and a candidate; caller holds the lock. */
static hlc_t advance(struct hlc *h, hlc_t candidate)
{
	hlc_t base = candidate > h->last ? candidate : h->last;
	uint64_t pt = phys_ms(h);
	hlc_t next;
	if (pt > HLC_MS(base))
		next = HLC_MAKE(pt, 0);
	else if (HLC_LOGICAL(base) < HLC_LOGICAL_MASK)
		next = base + 1;
	else
		next = HLC_MAKE(HLC_MS(base) + 1, 0); /* counter full: borrow a ms */
	h->last = next;
	return next;
}

hlc_t hlc_now(struct hlc *h)
{
	pthread_mutex_lock(&h->lock);
	hlc_t t = advance(h, 0);
	pthread_mutex_unlock(&h->lock);
	return t;
}

hlc_t hlc_update(struct hlc *h, hlc_t remote)
{
	pthread_mutex_lock(&h->lock);
	hlc_t t = advance(h, remote);
	pthread_mutex_unlock(&h->lock);
	return t;
}

void hlc_observe(struct hlc *h, hlc_t floor)
{
	pthread_mutex_lock(&h->lock);
	if (floor > h->last)
		h->last = floor;
	pthread_mutex_unlock(&h->lock);
}

const char *hlc_format(hlc_t t, char *buf, unsigned long len)
{
	snprintf(buf, len, "%" PRIu64 ".%" PRIu64, (uint64_t)HLC_MS(t), (uint64_t)HLC_LOGICAL(t));
	return buf;
}
