/* test_fuzz_replay.c: runs the libFuzzer target tests/fuzz/fuzz_wire.c in
 * every build (no clang needed) over a valid frame of each type and a fixed
 * series of random mutations of them: bit flips, byte overwrites, cuts,
 * extensions, and lengths and counts set to boundary values.  The target
 * aborts on a broken property; this checks it also accepted frames. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern unsigned long fuzz_wire_accepted;

#define ROUNDS 20000

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(void)
{
	static uint8_t seeds[16][600];
	static uint8_t buf[1200];
	long lens[16];
	int ns = 0;
	uint8_t entry[200], data[300];
	unsigned long accepted_seeds;

	memset(entry, 0x5a, sizeof(entry));
	memset(data, 0xa5, sizeof(data));
	struct wire_hello he = { .node_id = 3, .node_name = "node-1", .ver_min = 1, .ver_max = 2, .flags = 5 };
	struct wire_hello_ack ha = { .node_id = 4, .node_name = "n2", .resume_seq = 1000 };
	struct wire_op op = { .entry = entry, .entry_len = sizeof(entry), .content_len = 4096 };
	struct wire_data d = { .data = data, .len = sizeof(data) };
	struct wire_ack ack = { .origin = 3, .seq = 1 };
	struct wire_ping ping = { .nonce = 1, .hlc = 2 };
	struct wire_error er = { .code = 7, .text = "disk full" };

	lens[ns] = wire_encode(WIRE_HELLO, &he, seeds[ns], sizeof(seeds[0])), ns++;
	lens[ns] = wire_encode(WIRE_HELLO_ACK, &ha, seeds[ns], sizeof(seeds[0])), ns++;
	lens[ns] = wire_encode(WIRE_OP, &op, seeds[ns], sizeof(seeds[0])), ns++;
	lens[ns] = wire_encode(WIRE_DATA, &d, seeds[ns], sizeof(seeds[0])), ns++;
	lens[ns] = wire_encode(WIRE_ACK, &ack, seeds[ns], sizeof(seeds[0])), ns++;
	lens[ns] = wire_encode(WIRE_PING, &ping, seeds[ns], sizeof(seeds[0])), ns++;
	lens[ns] = wire_encode(WIRE_PONG, &ping, seeds[ns], sizeof(seeds[0])), ns++;
	lens[ns] = wire_encode(WIRE_ERROR, &er, seeds[ns], sizeof(seeds[0])), ns++;
	lens[ns] = wire_encode(WIRE_BYE, NULL, seeds[ns], sizeof(seeds[0])), ns++;
	/* reconciliation: a request, a bucket answer, an entry answer */
	struct wire_tree_req tq = { .node = 0x2013, .flags = WIRE_TREE_F_ENTRIES, .dir = "u1/cur",
				    .dir_len = 6, .after = "17.M1", .after_len = 5 };
	lens[ns] = wire_encode(WIRE_TREE_REQ, &tq, seeds[ns], sizeof(seeds[0])), ns++;
	uint8_t tb[200];
	struct wire_tree_bucket bk = { .idx = 4, .count = 9 };
	struct wire_tree_resp tr = { .node = 0x1004, .count = 12, .n = 2, .body = tb };
	long tl = wire_tree_put_bucket(tb, sizeof(tb), &bk);
	bk.idx = 9;
	tl += wire_tree_put_bucket(tb + tl, sizeof(tb) - (size_t)tl, &bk);
	tr.body_len = (uint32_t)tl;
	lens[ns] = wire_encode(WIRE_TREE_RESP, &tr, seeds[ns], sizeof(seeds[0])), ns++;
	struct wire_tree_entry te = { .name = "a", .kind = 'd', .flags = WIRE_TE_SUB, .mode = 040700,
				      .sub_count = 3 };
	tl = wire_tree_put_entry(tb, sizeof(tb), &te);
	struct wire_tree_entry tf = { .name = "b:2,S", .kind = 'f', .flags = WIRE_TE_HASH, .mode = 0100600 };
	tl += wire_tree_put_entry(tb + tl, sizeof(tb) - (size_t)tl, &tf);
	struct wire_tree_resp te_r = { .node = 0, .flags = WIRE_TREE_F_ENTRIES, .n = 2, .body = tb,
				       .body_len = (uint32_t)tl };
	lens[ns] = wire_encode(WIRE_TREE_RESP, &te_r, seeds[ns], sizeof(seeds[0])), ns++;
	for (int i = 0; i < ns; i++) {
		if (lens[i] < WIRE_HDR_LEN) {
			fprintf(stderr, "seed %d did not encode: %s\n", i, wire_strerror((int)lens[i]));
			return 1;
		}
		LLVMFuzzerTestOneInput(seeds[i], (size_t)lens[i]);
	}
	accepted_seeds = fuzz_wire_accepted;
	if (accepted_seeds < (unsigned long)ns) {
		fprintf(stderr, "only %lu of %d valid seeds accepted\n", accepted_seeds, ns);
		return 1;
	}

	for (int r = 0; r < ROUNDS; r++) {
		int s = (int)(next() % (uint64_t)ns);
		size_t n = (size_t)lens[s];
		memcpy(buf, seeds[s], n);
		int muts = 1 + (int)(next() % 4);
		for (int k = 0; k < muts; k++) {
			uint64_t x = next();
			size_t at = n ? (size_t)(x >> 8) % n : 0;
			switch (x % 6) {
			case 0: /* flip a bit */
				if (n)
					buf[at] ^= (uint8_t)(1u << ((x >> 40) % 8));
				break;
			case 1: /* overwrite a byte with a boundary value */
				if (n) {
					static const uint8_t v[] = { 0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xff, '/', '.' };
					buf[at] = v[(x >> 40) % sizeof(v)];
				}
				break;
			case 2: /* cut */
				n = at;
				break;
			case 3: /* extend with random bytes */
				for (int e = (int)((x >> 40) % 8); e > 0 && n < sizeof(buf); e--)
					buf[n++] = (uint8_t)next();
				break;
			case 4: /* a length or count byte in the payload set to its edge */
				if (n > WIRE_HDR_LEN + 3)
					buf[WIRE_HDR_LEN + (x >> 40) % 4] = (x & 0x100) ? 0xff : 0x00;
				break;
			default: /* random byte */
				if (n)
					buf[at] = (uint8_t)(x >> 48);
				break;
			}
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("test_fuzz_replay: %d mutated inputs, %lu frames accepted and re-encoded identically\n", ROUNDS,
	       fuzz_wire_accepted);
	if (fuzz_wire_accepted <= accepted_seeds) {
		fprintf(stderr, "no mutated input was accepted: the mutations never reach the parsers\n");
		return 1;
	}
	return 0;
}
