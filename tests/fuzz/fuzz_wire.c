/* fuzz_wire.c: libFuzzer target for the frame decoder (wire_decode_header
 * and wire_decode in lib/wire.c).  Each input is tried as is, and again
 * with its length field and checksum made right so the fuzzer reaches the
 * field parsers.  Beyond memory safety (ASan/UBSan) it checks two
 * properties and aborts when one breaks: every refusal is a known WIRE_E*
 * code, and every accepted frame re-encodes to exactly its input bytes
 * (the encoding is canonical, so no two byte strings mean the same frame). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Frames accepted so far (the replay test checks it is not zero). */
unsigned long fuzz_wire_accepted;

static uint8_t out[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];

static void check_one(const uint8_t *buf, size_t size)
{
	struct wire_hdr h;
	struct wire_msg m;
	long n;
	int rc;

	if (size < WIRE_HDR_LEN)
		return;
	rc = wire_decode_header(buf, &h);
	if (rc) {
		if (rc != WIRE_EMAGIC && rc != WIRE_EVERSION && rc != WIRE_ETYPE && rc != WIRE_ELEN)
			abort();
		return;
	}
	if (h.len > size - WIRE_HDR_LEN)
		return; /* wire_recv would wait for the rest */
	rc = wire_decode(&h, buf + WIRE_HDR_LEN, &m);
	if (rc) {
		if (rc > 0 || rc < WIRE_EBROKEN || rc == WIRE_ESPACE || rc == WIRE_EINVAL)
			abort();
		return;
	}
	fuzz_wire_accepted++;
	n = wire_encode(m.type, &m.u, out, sizeof(out));
	if (n != (long)(WIRE_HDR_LEN + h.len) || memcmp(out, buf, (size_t)n) != 0) {
		fprintf(stderr, "fuzz_wire: %s frame does not re-encode to its bytes\n", wire_type_name(m.type));
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static XXH3_state_t *st;
	uint8_t *copy;
	uint64_t sum;
	size_t len;

	check_one(data, size);
	if (size < WIRE_HDR_LEN || size - WIRE_HDR_LEN > WIRE_MAX_PAYLOAD)
		return 0;
	if (!st && !(st = XXH3_createState()))
		abort();
	copy = malloc(size);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	len = size - WIRE_HDR_LEN;
	copy[4] = (uint8_t)(len >> 24);
	copy[5] = (uint8_t)(len >> 16);
	copy[6] = (uint8_t)(len >> 8);
	copy[7] = (uint8_t)len;
	XXH3_64bits_reset(st);
	XXH3_64bits_update(st, copy, 8);
	XXH3_64bits_update(st, copy + WIRE_HDR_LEN, len);
	sum = XXH3_64bits_digest(st);
	for (int i = 0; i < 8; i++)
		copy[8 + i] = (uint8_t)(sum >> (56 - 8 * i));
	check_one(copy, size);
	free(copy);
	return 0;
}
