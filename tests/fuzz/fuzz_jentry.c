/* fuzz_jentry.c: libFuzzer target for jentry_decode.  Whatever the input,
 * decode must not crash or read out of bounds, and anything it accepts
 * must be a valid entry that re-encodes to exactly the same bytes (so the
 * format has one encoding per entry and the decoder checks every field). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[JENTRY_MAX_ENCODED];
	static char strbuf[JENTRY_MAX_STRBUF];
	struct jentry e;

	if (jentry_decode(data, size, &e, strbuf, sizeof(strbuf)) != 0)
		return 0;
	if (jentry_invalid(&e, 1))
		abort();
	long n = jentry_encode(&e, out, sizeof(out));
	if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0)
		abort();
	return 0;
}
