/* fuzz_socketmap.c: libFuzzer target for sm_parse, the socketmap request
 * parser of mhafs-route.  Whatever the input, it must not crash or read
 * out of bounds; what it accepts must lie inside the input and be the
 * exact netstring "LEN:NAME KEY," that the input begins with, with the
 * name and key free of the bytes the protocol forbids; "read more" only
 * for a prefix too short to decide. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socketmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct sm_request r;
	const char *why = NULL;
	long used = sm_parse(buf, size, &r, &why);
	if (used < 0) {
		if (!why)
			abort();
		return 0;
	}
	if (used == 0) {
		if (size >= SM_FRAME_MAX)
			abort(); /* a whole frame fits: it must be decided */
		return 0;
	}
	if ((size_t)used > size || r.name_len == 0 || r.key_len == 0 ||
	    r.name_len + 1 + r.key_len > SM_REQUEST_MAX)
		abort();
	if (r.name < buf || r.key + r.key_len > buf + used || r.name[r.name_len] != ' ' ||
	    r.key != r.name + r.name_len + 1 || memchr(r.name, ' ', r.name_len))
		abort();
	for (size_t i = 0; i < r.name_len + 1 + r.key_len; i++)
		if (r.name[i] == '\0' || r.name[i] == '\r' || r.name[i] == '\n')
			abort();
	char again[SM_FRAME_MAX + 16];
	int n = snprintf(again, sizeof(again), "%zu:%.*s %.*s,", r.name_len + 1 + r.key_len,
			 (int)r.name_len, r.name, (int)r.key_len, r.key);
	if (n != used || memcmp(again, buf, (size_t)n) != 0)
		abort();
	return 0;
}
