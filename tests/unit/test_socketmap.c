/* test_socketmap.c: the socketmap framing (lib/socketmap.c): requests
 * taken, held for more input, or refused, and replies formatted; then
 * the libFuzzer target's checks over every truncation and single-byte
 * corruption of a few valid requests (tests/fuzz/fuzz_socketmap.c). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "socketmap.h"
#include "tcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long parse(const char *s, struct sm_request *r)
{
	const char *why = NULL;
	return sm_parse(s, strlen(s), r, &why);
}

int main(void)
{
	struct sm_request r;
	char out[128];
	const char *why = NULL;

	CHECK(parse("18:route alice@a.test,", &r) == 22);
	CHECK(r.name_len == 5 && !memcmp(r.name, "route", 5));
	CHECK(r.key_len == 12 && !memcmp(r.key, "alice@a.test", 12));
	/* two requests back to back: the first only */
	CHECK(parse("7:route x,7:route y,", &r) == 10 && r.key[0] == 'x');
	/* a key with spaces after the first: the name ends at the first */
	CHECK(parse("9:route a b,", &r) == 12 && r.key_len == 3);
	/* incomplete: read more */
	CHECK(parse("", &r) == 0);
	CHECK(parse("1", &r) == 0);
	CHECK(parse("18", &r) == 0);
	CHECK(parse("18:", &r) == 0);
	CHECK(parse("18:route alice@a.test", &r) == 0);
	/* malformed */
	CHECK(parse("18:route alice@a.test;", &r) == -1);
	CHECK(parse("018:route alice@a.test,", &r) == -1);
	CHECK(parse(":route x,", &r) == -1);
	CHECK(parse("x:route x,", &r) == -1);
	CHECK(parse("7;route x,", &r) == -1);
	CHECK(parse("5:route,", &r) == -1);       /* no key */
	CHECK(parse("6:route ,", &r) == -1);      /* empty key */
	CHECK(parse("2: x,", &r) == -1);          /* empty name */
	CHECK(parse("9:route a\nb,", &r) == -1);
	CHECK(parse("9:route a\rb,", &r) == -1);
	CHECK(sm_parse("9:route a\0b,", 12, &r, &why) == -1 && why != NULL);
	CHECK(parse("4097:", &r) == -1);          /* too long, before its data */
	CHECK(parse("4096:", &r) == 0);
	CHECK(parse("99999999999999999999999:", &r) == -1);
	/* the longest request taken */
	static char big[SM_FRAME_MAX + 1];
	int h = snprintf(big, sizeof(big), "%d:route ", SM_REQUEST_MAX);
	memset(big + h, 'k', SM_REQUEST_MAX - 6);
	big[h + SM_REQUEST_MAX - 6] = ',';
	CHECK(sm_parse(big, (size_t)h + SM_REQUEST_MAX - 6 + 1, &r, &why) == h + SM_REQUEST_MAX - 6 + 1);

	CHECK(sm_format(out, sizeof(out), "NOTFOUND", "") == 12 && !strcmp(out, "9:NOTFOUND ,"));
	CHECK(sm_format(out, sizeof(out), "OK", "lmtp:inet:[192.0.2.12]:24") == 32 &&
	      !strcmp(out, "28:OK lmtp:inet:[192.0.2.12]:24,"));
	CHECK(sm_format(out, 10, "OK", "lmtp:inet:[192.0.2.12]:24") == -1);

	/* the fuzz target over truncations and corruptions */
	const char *seeds[] = { "18:route alice@a.test,", "7:route x,7:route y,", "9:route a b," };
	long accepted = 0, refused = 0;
	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		uint8_t buf[64];
		size_t n = strlen(seeds[s]);
		for (size_t cut = 0; cut <= n; cut++)
			LLVMFuzzerTestOneInput((const uint8_t *)seeds[s], cut);
		for (size_t i = 0; i < n; i++)
			for (int v = 0; v < 256; v++) {
				memcpy(buf, seeds[s], n);
				buf[i] = (uint8_t)v;
				LLVMFuzzerTestOneInput(buf, n);
				long k = sm_parse((const char *)buf, n, &r, &why);
				if (k > 0)
					accepted++;
				else if (k < 0)
					refused++;
			}
	}
	CHECK(accepted > 0 && refused > 0);
	/* the longest frame: every truncation is "read more", the whole one
	 * is taken (the fuzz target aborts on a whole frame left undecided) */
	size_t whole = (size_t)h + SM_REQUEST_MAX - 6 + 1;
	for (size_t cut = 0; cut < whole; cut++)
		CHECK(sm_parse(big, cut, &r, &why) == 0);
	for (size_t cut = 0; cut <= whole; cut++)
		LLVMFuzzerTestOneInput((const uint8_t *)big, cut);
	return t_done("socketmap");
}
