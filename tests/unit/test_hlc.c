/* test_hlc.c: the hybrid logical clock with an injected wall clock:
 * strictly monotonic, causal when the peer's clock is 60 s ahead, the
 * logical counter's overflow, never backwards when the wall clock steps
 * back, the restart floor, and the text form. */
#include "hlc.h"
#include "tcheck.h"

static uint64_t fake_ms;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_ms;
}

int main(void)
{
	struct hlc a, b;
	char buf[32];
	const uint64_t T = 1700000000000ull; /* ms */

	/* Monotonic, and following the wall clock when it moves. */
	fake_ms = T;
	hlc_init(&a, fake_clock, NULL, 0);
	hlc_t t1 = hlc_now(&a), prev = t1;
	CHECK_INT(HLC_MS(t1), T);
	CHECK_INT(HLC_LOGICAL(t1), 0);
	int mono = 1;
	for (int i = 0; i < 1000; i++) {
		hlc_t t = hlc_now(&a);
		mono &= t > prev;
		prev = t;
	}
	CHECK(mono);
	CHECK_INT(HLC_MS(prev), T);        /* same millisecond: logical grows */
	CHECK_INT(HLC_LOGICAL(prev), 1000);
	fake_ms = T + 5;
	hlc_t t2 = hlc_now(&a);
	CHECK_INT(HLC_MS(t2), T + 5);
	CHECK_INT(HLC_LOGICAL(t2), 0);

	/* Causality: b's wall clock is 60 s ahead (offset), a receives b's
	 * stamp and must order every later local event after it. */
	fake_ms = T + 10;
	hlc_init(&a, fake_clock, NULL, 0);
	hlc_init(&b, fake_clock, NULL, 60000);
	hlc_t tb = hlc_now(&b);
	CHECK_INT(HLC_MS(tb), T + 10 + 60000);
	hlc_t ta_before = hlc_now(&a);
	CHECK(ta_before < tb);               /* a's own clock is behind */
	hlc_t ta = hlc_update(&a, tb);
	CHECK(ta > tb);
	CHECK(hlc_now(&a) > tb);
	/* ...and b, hearing back, still moves forward. */
	CHECK(hlc_update(&b, ta) > ta);
	/* A remote stamp in the past does not move a backwards. */
	hlc_t before = hlc_now(&a);
	CHECK(hlc_update(&a, HLC_MAKE(T - 1000, 5)) > before);

	/* Logical overflow: 70000 events in one millisecond borrow the next
	 * millisecond instead of wrapping. */
	fake_ms = T + 20;
	hlc_init(&a, fake_clock, NULL, 0);
	prev = 0;
	mono = 1;
	for (int i = 0; i < 70000; i++) {
		hlc_t t = hlc_now(&a);
		mono &= t > prev;
		prev = t;
	}
	CHECK(mono);
	CHECK_INT(HLC_MS(prev), T + 21);
	CHECK_INT(HLC_LOGICAL(prev), 70000 - 65536 - 1);
	/* A remote stamp with a full counter also carries. */
	hlc_t full = HLC_MAKE(T + 500, HLC_LOGICAL_MASK);
	hlc_t after = hlc_update(&a, full);
	CHECK(after > full);
	CHECK_INT(HLC_MS(after), T + 501);

	/* The wall clock steps back 10 s: timestamps keep increasing. */
	fake_ms = T + 100000;
	hlc_init(&a, fake_clock, NULL, 0);
	hlc_t hi = hlc_now(&a);
	fake_ms = T + 90000;
	hlc_t lo1 = hlc_now(&a), lo2 = hlc_now(&a);
	CHECK(lo1 > hi);
	CHECK(lo2 > lo1);
	CHECK_INT(HLC_MS(lo2), T + 100000);
	fake_ms = T + 100001; /* and resumes from the wall clock once it passes */
	CHECK_INT(HLC_MS(hlc_now(&a)), T + 100001);

	/* Restart floor: a fresh clock behind the saved floor stays above it. */
	fake_ms = T;
	hlc_init(&a, fake_clock, NULL, 0);
	hlc_observe(&a, HLC_MAKE(T + 3600000, 7));
	hlc_t r = hlc_now(&a);
	CHECK(r > HLC_MAKE(T + 3600000, 7));
	hlc_observe(&a, HLC_MAKE(T, 0)); /* a lower floor changes nothing */
	CHECK(hlc_now(&a) > r);

	/* Negative offsets never go below zero; the text form is ms.logical. */
	fake_ms = 5;
	hlc_init(&a, fake_clock, NULL, -1000);
	CHECK_INT(HLC_MS(hlc_now(&a)), 0);
	CHECK_STR(hlc_format(HLC_MAKE(1700000000123ull, 42), buf, sizeof(buf)), "1700000000123.42");

	/* The real clock works too. */
	hlc_init(&a, NULL, NULL, 0);
	hlc_t x = hlc_now(&a);
	CHECK(HLC_MS(x) > T);
	CHECK(hlc_now(&a) > x);
	return t_done("test_hlc");
}
