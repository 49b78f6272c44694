/* test_codec.c: the frame codec (lib/wire.c).  Round trip of every message
 * type, canonical re-encoding, the exact header layout and checksum, and
 * refusal of every malformed case with its own error code. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "tutil.h"
#include "wire.h"

static uint8_t big[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD + 64];

/* Build a frame around an arbitrary payload with a correct checksum,
 * computed independently of the codec: xxh3-64 of header[0..8] + payload. */
static size_t frame(uint8_t *out, uint8_t type, const uint8_t *payload, uint32_t len)
{
	uint8_t *tmp = malloc(8 + (size_t)len);
	uint64_t h;

	out[0] = 'M';
	out[1] = 'H';
	out[2] = WIRE_VERSION;
	out[3] = type;
	out[4] = (uint8_t)(len >> 24);
	out[5] = (uint8_t)(len >> 16);
	out[6] = (uint8_t)(len >> 8);
	out[7] = (uint8_t)len;
	memcpy(tmp, out, 8);
	if (len)
		memcpy(tmp + 8, payload, len);
	h = hash64(tmp, 8 + (size_t)len);
	free(tmp);
	for (int i = 0; i < 8; i++)
		out[8 + i] = (uint8_t)(h >> (56 - 8 * i));
	if (len)
		memmove(out + WIRE_HDR_LEN, payload, len);
	return WIRE_HDR_LEN + (size_t)len;
}

/* Decode a whole frame held in buf; returns the codec's result. */
static int decode(const uint8_t *buf, size_t n, struct wire_msg *m)
{
	struct wire_hdr h;
	int rc;

	if (n < WIRE_HDR_LEN)
		return WIRE_ETRUNC;
	rc = wire_decode_header(buf, &h);
	if (rc)
		return rc;
	if (h.len != n - WIRE_HDR_LEN)
		return WIRE_ETRUNC;
	return wire_decode(&h, buf + WIRE_HDR_LEN, m);
}

/* Encode msg, check it decodes, that it re-encodes to the same bytes and
 * that the zero-copy encoder produces the same frame. */
static int round_trip(enum wire_type t, const void *msg, struct wire_msg *out, uint8_t *buf, size_t cap)
{
	static uint8_t again[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];
	uint8_t scratch[WIRE_SCRATCH];
	struct iovec iov[3];
	long n = wire_encode(t, msg, buf, cap), n2;
	size_t off = 0;
	int k;

	CHECK(n >= WIRE_HDR_LEN);
	if (n < WIRE_HDR_LEN)
		return -1;
	CHECK_EQ(n - WIRE_HDR_LEN, wire_payload_len(t, msg));
	CHECK_EQ(decode(buf, (size_t)n, out), 0);
	CHECK_EQ(out->type, t);
	n2 = wire_encode(t, &out->u, again, sizeof(again));
	CHECK_EQ(n2, n);
	CHECK(n2 == n && memcmp(again, buf, (size_t)n) == 0);
	k = wire_encode_iov(t, msg, scratch, iov);
	CHECK(k >= 1 && k <= 3);
	for (int i = 0; i < k; i++) {
		CHECK(off + iov[i].iov_len <= (size_t)n && memcmp(buf + off, iov[i].iov_base, iov[i].iov_len) == 0);
		off += iov[i].iov_len;
	}
	CHECK_EQ(off, n);
	return 0;
}

static void test_round_trips(void)
{
	uint8_t buf[1024];
	struct wire_msg m;

	struct wire_hello he = { .node_id = 7, .node_name = "node-a.example_1", .ver_min = 1, .ver_max = WIRE_PROTO,
				 .flags = WIRE_HELLO_F_SENDER | WIRE_HELLO_F_EMPTY };
	round_trip(WIRE_HELLO, &he, &m, buf, sizeof(buf));
	CHECK_EQ(m.u.hello.node_id, 7);
	CHECK(strcmp(m.u.hello.node_name, "node-a.example_1") == 0);
	CHECK_EQ(m.u.hello.ver_min, 1);
	CHECK_EQ(m.u.hello.ver_max, WIRE_PROTO);
	CHECK_EQ(m.u.hello.flags, WIRE_HELLO_F_SENDER | WIRE_HELLO_F_EMPTY);
	CHECK_EQ(wire_version_pick(&m.u.hello), WIRE_PROTO);

	/* longest name */
	memset(he.node_name, 'x', WIRE_NAME_MAX);
	he.node_name[WIRE_NAME_MAX] = '\0';
	round_trip(WIRE_HELLO, &he, &m, buf, sizeof(buf));
	CHECK_EQ(strlen(m.u.hello.node_name), WIRE_NAME_MAX);

	struct wire_hello_ack ha = { .node_id = 65535, .node_name = "B", .resume_seq = UINT64_MAX };
	round_trip(WIRE_HELLO_ACK, &ha, &m, buf, sizeof(buf));
	CHECK_EQ(m.u.hello_ack.node_id, 65535);
	CHECK(strcmp(m.u.hello_ack.node_name, "B") == 0);
	CHECK(m.u.hello_ack.resume_seq == UINT64_MAX);
	ha.resume_seq = 0; /* nothing applied yet is valid */
	round_trip(WIRE_HELLO_ACK, &ha, &m, buf, sizeof(buf));
	CHECK(m.u.hello_ack.resume_seq == 0);
	CHECK_EQ(m.u.hello_ack.proto, 0); /* level 1: no byte */
	long n1 = wire_encode(WIRE_HELLO_ACK, &ha, buf, sizeof(buf));
	ha.proto = 2;
	round_trip(WIRE_HELLO_ACK, &ha, &m, buf, sizeof(buf));
	CHECK_EQ(m.u.hello_ack.proto, 2);
	CHECK_EQ(wire_encode(WIRE_HELLO_ACK, &ha, buf, sizeof(buf)), n1 + 1);

	uint8_t entry[300];
	for (size_t i = 0; i < sizeof(entry); i++)
		entry[i] = (uint8_t)(i * 7);
	struct wire_op op = { .entry = entry, .entry_len = sizeof(entry), .content_len = 123456789 };
	round_trip(WIRE_OP, &op, &m, buf, sizeof(buf));
	CHECK_EQ(m.u.op.entry_len, sizeof(entry));
	CHECK(memcmp(m.u.op.entry, entry, sizeof(entry)) == 0);
	CHECK(m.u.op.entry >= buf && m.u.op.entry < buf + sizeof(buf)); /* points into the frame */
	CHECK(m.u.op.content_len == 123456789);
	op.content_len = WIRE_MAX_CONTENT;
	round_trip(WIRE_OP, &op, &m, buf, sizeof(buf));

	/* DATA of the largest size */
	uint8_t *data = malloc(WIRE_MAX_PAYLOAD);
	for (size_t i = 0; i < WIRE_MAX_PAYLOAD; i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	struct wire_data d = { .data = data, .len = WIRE_MAX_PAYLOAD };
	round_trip(WIRE_DATA, &d, &m, big, sizeof(big));
	CHECK_EQ(m.u.data.len, WIRE_MAX_PAYLOAD);
	CHECK(memcmp(m.u.data.data, data, WIRE_MAX_PAYLOAD) == 0);
	d.len = 1;
	round_trip(WIRE_DATA, &d, &m, buf, sizeof(buf));
	CHECK_EQ(m.u.data.len, 1);
	free(data);

	struct wire_ack ack = { .origin = 2, .seq = 0x0102030405060708ULL };
	round_trip(WIRE_ACK, &ack, &m, buf, sizeof(buf));
	CHECK_EQ(m.u.ack.origin, 2);
	CHECK(m.u.ack.seq == 0x0102030405060708ULL);

	struct wire_ping p = { .nonce = 42, .hlc = 0xfedcba9876543210ULL };
	round_trip(WIRE_PING, &p, &m, buf, sizeof(buf));
	CHECK(m.u.ping.nonce == 42 && m.u.ping.hlc == 0xfedcba9876543210ULL);
	round_trip(WIRE_PONG, &p, &m, buf, sizeof(buf));
	CHECK_EQ(m.type, WIRE_PONG);
	CHECK(m.u.ping.nonce == 42);

	struct wire_error e = { .code = WIRE_ERR_PATH, .text = "path escapes the store: ../etc" };
	round_trip(WIRE_ERROR, &e, &m, buf, sizeof(buf));
	CHECK_EQ(m.u.error.code, WIRE_ERR_PATH);
	CHECK(strcmp(m.u.error.text, "path escapes the store: ../etc") == 0);
	e.text[0] = '\0'; /* empty text is allowed */
	round_trip(WIRE_ERROR, &e, &m, buf, sizeof(buf));
	memset(e.text, 'y', WIRE_TEXT_MAX);
	e.text[WIRE_TEXT_MAX] = '\0';
	round_trip(WIRE_ERROR, &e, &m, buf, sizeof(buf));
	CHECK_EQ(strlen(m.u.error.text), WIRE_TEXT_MAX);

	long n = wire_encode(WIRE_BYE, NULL, buf, sizeof(buf));
	CHECK_EQ(n, WIRE_HDR_LEN);
	CHECK_EQ(decode(buf, (size_t)n, &m), 0);
	CHECK_EQ(m.type, WIRE_BYE);
}

/* The exact bytes of a PING frame: the format is a contract with the peer. */
static void test_layout(void)
{
	uint8_t buf[64], ref[64];
	struct wire_ping p = { .nonce = 0x1122334455667788ULL, .hlc = 0x0102030405060708ULL };
	const uint8_t payload[16] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
				      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
	long n = wire_encode(WIRE_PING, &p, buf, sizeof(buf));

	CHECK_EQ(n, 32);
	CHECK(memcmp(buf, "MH\x01\x06\x00\x00\x00\x10", 8) == 0);
	CHECK_EQ(frame(ref, WIRE_PING, payload, 16), 32);
	CHECK(memcmp(buf, ref, 32) == 0);
}

struct bad {
	const char *what;
	uint8_t type;
	const uint8_t *payload;
	uint32_t len;
	int expect;
};

static void test_malformed_payloads(void)
{
	static const uint8_t hello_ok[] = { 0, 1, 1, 'a', 1, 1, 0, 0, 0, 0 };
	static const uint8_t name64[] = { 0, 1, 64, 'a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a',
		'a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a',
		'a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a', 1, 1, 0, 0, 0, 0 };
	static const uint8_t name255[] = { 0, 1, 255, 'a' };
	static const uint8_t slash[] = { 0, 1, 3, 'a', '/', 'b', 1, 1, 0, 0, 0, 0 };
	static const uint8_t space[] = { 0, 1, 3, 'a', ' ', 'b', 1, 1, 0, 0, 0, 0 };
	static const uint8_t nul[] = { 0, 1, 3, 'a', 0, 'b', 1, 1, 0, 0, 0, 0 };
	static const uint8_t utf8[] = { 0, 1, 2, 0xc3, 0xa9, 1, 1, 0, 0, 0, 0 };
	static const uint8_t empty_name[] = { 0, 1, 0, 1, 1, 0, 0, 0, 0 };
	static const uint8_t id0[] = { 0, 0, 1, 'a', 1, 1, 0, 0, 0, 0 };
	static const uint8_t vmin0[] = { 0, 1, 1, 'a', 0, 1, 0, 0, 0, 0 };
	static const uint8_t vrev[] = { 0, 1, 1, 'a', 3, 2, 0, 0, 0, 0 };
	static const uint8_t flag[] = { 0, 1, 1, 'a', 1, 1, 0, 0, 0, 0x10 };
	static const uint8_t hello_trail[] = { 0, 1, 1, 'a', 1, 1, 0, 0, 0, 0, 0 };
	static const uint8_t ha_ok[] = { 0, 2, 1, 'b', 0, 0, 0, 0, 0, 0, 0, 5 };
	static const uint8_t ha_trunc[] = { 0, 2, 1, 'b', 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t ha_id0[] = { 0, 0, 1, 'b', 0, 0, 0, 0, 0, 0, 0, 5 };
	static const uint8_t ha_p2[] = { 0, 2, 1, 'b', 0, 0, 0, 0, 0, 0, 0, 5, 2 };
	static const uint8_t ha_p1[] = { 0, 2, 1, 'b', 0, 0, 0, 0, 0, 0, 0, 5, 1 };
	static const uint8_t ha_p0[] = { 0, 2, 1, 'b', 0, 0, 0, 0, 0, 0, 0, 5, 0 };
	static const uint8_t ha_trail[] = { 0, 2, 1, 'b', 0, 0, 0, 0, 0, 0, 0, 5, 2, 0 };
	static const uint8_t op_ok[] = { 0, 0, 0, 2, 0xaa, 0xbb, 0, 0, 0, 0, 0, 0, 0, 9 };
	static const uint8_t op_e0[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9 };
	static const uint8_t op_over[] = { 0, 0, 0, 9, 0xaa, 0xbb, 0, 0, 0, 0, 0, 0, 0, 9 };
	static const uint8_t op_huge[] = { 0xff, 0xff, 0xff, 0xff, 0xaa, 0xbb, 0, 0, 0, 0, 0, 0, 0, 9 };
	static const uint8_t op_clen[] = { 0, 0, 0, 2, 0xaa, 0xbb, 0, 0, 1, 0, 0, 0, 0, 1 };
	static const uint8_t op_trail[] = { 0, 0, 0, 2, 0xaa, 0xbb, 0, 0, 0, 0, 0, 0, 0, 9, 7 };
	static const uint8_t ack_ok[] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const uint8_t ack_o0[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const uint8_t ack_s0[] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t ack_trail[] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	static const uint8_t ping17[17] = { 0 };
	static const uint8_t ping15[15] = { 0 };
	static const uint8_t err_ok[] = { 0, 0, 0, 1, 0, 2, 'h', 'i' };
	static const uint8_t err_c0[] = { 0, 0, 0, 0, 0, 2, 'h', 'i' };
	static const uint8_t err_nul[] = { 0, 0, 0, 1, 0, 2, 'h', 0 };
	static const uint8_t err_nl[] = { 0, 0, 0, 1, 0, 2, 'h', '\n' };
	static const uint8_t err_del[] = { 0, 0, 0, 1, 0, 1, 0x7f };
	static const uint8_t err_long[] = { 0, 0, 0, 1, 0x01, 0x01, 'x' };
	static const uint8_t err_trunc[] = { 0, 0, 0, 1, 0, 9, 'h', 'i' };
	static const uint8_t err_trail[] = { 0, 0, 0, 1, 0, 1, 'h', 'i' };
	static const uint8_t one[] = { 0 };

	const struct bad cases[] = {
		{ "hello ok", WIRE_HELLO, hello_ok, sizeof(hello_ok), 0 },
		{ "hello truncated", WIRE_HELLO, hello_ok, sizeof(hello_ok) - 1, WIRE_ETRUNC },
		{ "hello cut in the name", WIRE_HELLO, hello_ok, 3, WIRE_ETRUNC },
		{ "hello empty", WIRE_HELLO, hello_ok, 0, WIRE_ETRUNC },
		{ "hello name of 64", WIRE_HELLO, name64, sizeof(name64), WIRE_ESTRLEN },
		{ "hello name of 255", WIRE_HELLO, name255, sizeof(name255), WIRE_ESTRLEN },
		{ "hello name with /", WIRE_HELLO, slash, sizeof(slash), WIRE_ENAME },
		{ "hello name with space", WIRE_HELLO, space, sizeof(space), WIRE_ENAME },
		{ "hello name with NUL", WIRE_HELLO, nul, sizeof(nul), WIRE_ENAME },
		{ "hello name in UTF-8", WIRE_HELLO, utf8, sizeof(utf8), WIRE_ENAME },
		{ "hello empty name", WIRE_HELLO, empty_name, sizeof(empty_name), WIRE_ENAME },
		{ "hello node id 0", WIRE_HELLO, id0, sizeof(id0), WIRE_EFIELD },
		{ "hello ver_min 0", WIRE_HELLO, vmin0, sizeof(vmin0), WIRE_EFIELD },
		{ "hello ver_min > ver_max", WIRE_HELLO, vrev, sizeof(vrev), WIRE_EFIELD },
		{ "hello unknown flag", WIRE_HELLO, flag, sizeof(flag), WIRE_EFIELD },
		{ "hello trailing byte", WIRE_HELLO, hello_trail, sizeof(hello_trail), WIRE_ETRAILING },
		{ "hello_ack ok", WIRE_HELLO_ACK, ha_ok, sizeof(ha_ok), 0 },
		{ "hello_ack truncated seq", WIRE_HELLO_ACK, ha_trunc, sizeof(ha_trunc), WIRE_ETRUNC },
		{ "hello_ack node id 0", WIRE_HELLO_ACK, ha_id0, sizeof(ha_id0), WIRE_EFIELD },
		{ "hello_ack level 2", WIRE_HELLO_ACK, ha_p2, sizeof(ha_p2), 0 },
		{ "hello_ack level 1 spelt out", WIRE_HELLO_ACK, ha_p1, sizeof(ha_p1), WIRE_EFIELD },
		{ "hello_ack level 0 spelt out", WIRE_HELLO_ACK, ha_p0, sizeof(ha_p0), WIRE_EFIELD },
		{ "hello_ack byte after the level", WIRE_HELLO_ACK, ha_trail, sizeof(ha_trail), WIRE_ETRAILING },
		{ "op ok", WIRE_OP, op_ok, sizeof(op_ok), 0 },
		{ "op empty entry", WIRE_OP, op_e0, sizeof(op_e0), WIRE_EFIELD },
		{ "op entry past the payload", WIRE_OP, op_over, sizeof(op_over), WIRE_ETRUNC },
		{ "op entry length 4G", WIRE_OP, op_huge, sizeof(op_huge), WIRE_ELEN },
		{ "op content_len over max", WIRE_OP, op_clen, sizeof(op_clen), WIRE_EFIELD },
		{ "op trailing byte", WIRE_OP, op_trail, sizeof(op_trail), WIRE_ETRAILING },
		{ "op truncated content_len", WIRE_OP, op_ok, sizeof(op_ok) - 3, WIRE_ETRUNC },
		{ "data empty", WIRE_DATA, one, 0, WIRE_EFIELD },
		{ "data one byte", WIRE_DATA, one, 1, 0 },
		{ "ack ok", WIRE_ACK, ack_ok, sizeof(ack_ok), 0 },
		{ "ack origin 0", WIRE_ACK, ack_o0, sizeof(ack_o0), WIRE_EFIELD },
		{ "ack seq 0", WIRE_ACK, ack_s0, sizeof(ack_s0), WIRE_EFIELD },
		{ "ack trailing byte", WIRE_ACK, ack_trail, sizeof(ack_trail), WIRE_ETRAILING },
		{ "ack truncated", WIRE_ACK, ack_ok, 9, WIRE_ETRUNC },
		{ "ping 17 bytes", WIRE_PING, ping17, sizeof(ping17), WIRE_ETRAILING },
		{ "pong 15 bytes", WIRE_PONG, ping15, sizeof(ping15), WIRE_ETRUNC },
		{ "ping ok", WIRE_PING, ping17, 16, 0 },
		{ "error ok", WIRE_ERROR, err_ok, sizeof(err_ok), 0 },
		{ "error code 0", WIRE_ERROR, err_c0, sizeof(err_c0), WIRE_EFIELD },
		{ "error text with NUL", WIRE_ERROR, err_nul, sizeof(err_nul), WIRE_ETEXT },
		{ "error text with newline", WIRE_ERROR, err_nl, sizeof(err_nl), WIRE_ETEXT },
		{ "error text with DEL", WIRE_ERROR, err_del, sizeof(err_del), WIRE_ETEXT },
		{ "error text of 257", WIRE_ERROR, err_long, sizeof(err_long), WIRE_ESTRLEN },
		{ "error text truncated", WIRE_ERROR, err_trunc, sizeof(err_trunc), WIRE_ETRUNC },
		{ "error trailing byte", WIRE_ERROR, err_trail, sizeof(err_trail), WIRE_ETRAILING },
		{ "bye with a byte", WIRE_BYE, one, 1, WIRE_ETRAILING },
		{ "bye ok", WIRE_BYE, one, 0, 0 },
	};
	uint8_t buf[512];
	struct wire_msg m;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad *c = &cases[i];
		size_t n = frame(buf, c->type, c->payload, c->len);
		int rc = decode(buf, n, &m);
		t_checks++;
		if (rc != c->expect) {
			t_failures++;
			fprintf(stderr, "case '%s': got %d (%s), expected %d (%s)\n", c->what, rc,
				wire_strerror(rc), c->expect, wire_strerror(c->expect));
		}
	}
}

static void test_malformed_headers(void)
{
	uint8_t buf[128], copy[128];
	struct wire_ack ack = { .origin = 1, .seq = 9 };
	struct wire_hdr h;
	struct wire_msg m;
	long n = wire_encode(WIRE_ACK, &ack, buf, sizeof(buf));

	CHECK_EQ(decode(buf, (size_t)n, &m), 0);

	memcpy(copy, buf, (size_t)n);
	copy[0] = 'X';
	CHECK_EQ(wire_decode_header(copy, &h), WIRE_EMAGIC);
	memcpy(copy, buf, (size_t)n);
	copy[1] = 'h';
	CHECK_EQ(wire_decode_header(copy, &h), WIRE_EMAGIC);

	memcpy(copy, buf, (size_t)n);
	copy[2] = 2;
	CHECK_EQ(wire_decode_header(copy, &h), WIRE_EVERSION);
	copy[2] = 0;
	CHECK_EQ(wire_decode_header(copy, &h), WIRE_EVERSION);

	memcpy(copy, buf, (size_t)n);
	for (int t = 0; t < 256; t++) {
		copy[3] = (uint8_t)t;
		int rc = wire_decode_header(copy, &h);
		if (t >= 1 && t <= WIRE_TYPE_MAX)
			CHECK_EQ(rc, 0);
		else
			CHECK_EQ(rc, WIRE_ETYPE);
	}

	/* lengths: max is fine, one over and 4 GiB are not */
	memcpy(copy, buf, (size_t)n);
	copy[4] = 0x00; copy[5] = 0x10; copy[6] = 0x00; copy[7] = 0x00;
	CHECK_EQ(wire_decode_header(copy, &h), 0);
	CHECK_EQ(h.len, WIRE_MAX_PAYLOAD);
	copy[7] = 0x01;
	CHECK_EQ(wire_decode_header(copy, &h), WIRE_ELEN);
	memset(copy + 4, 0xff, 4);
	CHECK_EQ(wire_decode_header(copy, &h), WIRE_ELEN);

	/* checksum: any flipped bit in header, payload or checksum is caught */
	for (long i = 0; i < n; i++) {
		if (i >= 2 && i < 8)
			continue; /* version/type/length are refused or re-checked above */
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, buf, (size_t)n);
			copy[i] ^= (uint8_t)(1 << bit);
			int rc = decode(copy, (size_t)n, &m);
			if (i < 2)
				CHECK_EQ(rc, WIRE_EMAGIC);
			else
				CHECK_EQ(rc, WIRE_ECSUM);
		}
	}
	/* a frame claiming another type with the same payload fails the checksum */
	memcpy(copy, buf, (size_t)n);
	copy[3] = WIRE_PING;
	CHECK_EQ(decode(copy, (size_t)n, &m), WIRE_ECSUM);
	/* a frame that says it is shorter than it is: checksum fails */
	memcpy(copy, buf, (size_t)n);
	copy[7] = 9;
	CHECK_EQ(wire_decode_header(copy, &h), 0);
	CHECK_EQ(wire_decode(&h, copy + WIRE_HDR_LEN, &m), WIRE_ECSUM);
}

static void test_encoder_refuses(void)
{
	uint8_t buf[512];
	struct wire_hello he = { .node_id = 1, .node_name = "ok", .ver_min = 1, .ver_max = 1 };

	CHECK(wire_encode(WIRE_HELLO, &he, buf, sizeof(buf)) > 0);
	CHECK_EQ(wire_encode(WIRE_HELLO, &he, buf, 20), WIRE_ESPACE);
	CHECK_EQ(wire_encode(WIRE_HELLO, &he, NULL, 0), WIRE_ESPACE);
	CHECK_EQ(wire_encode(WIRE_HELLO, NULL, buf, sizeof(buf)), WIRE_EINVAL);
	CHECK_EQ(wire_encode((enum wire_type)0, &he, buf, sizeof(buf)), WIRE_ETYPE);
	CHECK_EQ(wire_encode((enum wire_type)(WIRE_TYPE_MAX + 1), &he, buf, sizeof(buf)), WIRE_ETYPE);
	strcpy(he.node_name, "../x");
	CHECK_EQ(wire_encode(WIRE_HELLO, &he, buf, sizeof(buf)), WIRE_ENAME);
	he.node_name[0] = '\0';
	CHECK_EQ(wire_encode(WIRE_HELLO, &he, buf, sizeof(buf)), WIRE_ENAME);
	memset(he.node_name, 'a', sizeof(he.node_name)); /* unterminated */
	CHECK_EQ(wire_encode(WIRE_HELLO, &he, buf, sizeof(buf)), WIRE_ESTRLEN);
	strcpy(he.node_name, "ok");
	he.flags = 0x100;
	CHECK_EQ(wire_encode(WIRE_HELLO, &he, buf, sizeof(buf)), WIRE_EFIELD);
	he.flags = 0;
	he.node_id = 0;
	CHECK_EQ(wire_encode(WIRE_HELLO, &he, buf, sizeof(buf)), WIRE_EFIELD);

	struct wire_hello_ack ha = { .node_id = 1, .node_name = "ok", .proto = 1 };
	CHECK_EQ(wire_encode(WIRE_HELLO_ACK, &ha, buf, sizeof(buf)), WIRE_EFIELD);

	struct wire_ack ack = { .origin = 1, .seq = 0 };
	CHECK_EQ(wire_encode(WIRE_ACK, &ack, buf, sizeof(buf)), WIRE_EFIELD);
	struct wire_error e = { .code = 1, .text = "two\nlines" };
	CHECK_EQ(wire_encode(WIRE_ERROR, &e, buf, sizeof(buf)), WIRE_ETEXT);
	struct wire_data d = { .data = buf, .len = WIRE_MAX_PAYLOAD + 1 };
	CHECK_EQ(wire_encode(WIRE_DATA, &d, big, sizeof(big)), WIRE_ELEN);
	d.len = 0;
	CHECK_EQ(wire_encode(WIRE_DATA, &d, buf, sizeof(buf)), WIRE_EFIELD);
	struct wire_op op = { .entry = buf, .entry_len = WIRE_MAX_PAYLOAD - 11, .content_len = 0 };
	CHECK_EQ(wire_encode(WIRE_OP, &op, big, sizeof(big)), WIRE_ELEN);
	op.entry_len = 4;
	op.content_len = WIRE_MAX_CONTENT + 1;
	CHECK_EQ(wire_encode(WIRE_OP, &op, buf, sizeof(buf)), WIRE_EFIELD);
}

static void test_names_and_strings(void)
{
	const int codes[] = { WIRE_EMAGIC, WIRE_EVERSION, WIRE_ETYPE, WIRE_ELEN, WIRE_ECSUM, WIRE_ETRUNC,
			      WIRE_ETRAILING, WIRE_ESTRLEN, WIRE_ENAME, WIRE_ETEXT, WIRE_EFIELD, WIRE_ESPACE,
			      WIRE_EINVAL, WIRE_EIO, WIRE_ECLOSED, WIRE_ETIMEDOUT, WIRE_EBROKEN };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		CHECK(strcmp(wire_strerror(codes[i]), "unknown wire error") != 0);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(wire_strerror(codes[i]), wire_strerror(codes[j])) != 0);
	}
	CHECK(strcmp(wire_strerror(-999), "unknown wire error") == 0);
	CHECK(wire_name_valid("a"));
	CHECK(wire_name_valid("mail-1.example.org"));
	CHECK(!wire_name_valid(""));
	CHECK(!wire_name_valid(NULL));
	CHECK(!wire_name_valid("a b"));
	CHECK(!wire_name_valid("a/b"));
	CHECK(!wire_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
	CHECK(wire_name_valid("012345678901234567890123456789012345678901234567890123456789012"));
	CHECK(strcmp(wire_type_name(WIRE_DATA), "DATA") == 0);
	CHECK(strcmp(wire_type_name((enum wire_type)77), "unknown") == 0);

	struct wire_hello h = { .node_id = 1, .node_name = "x", .ver_min = WIRE_PROTO + 1, .ver_max = 5 };
	CHECK_EQ(wire_version_pick(&h), WIRE_EVERSION); /* peer too new */
	h.ver_min = 1;
	CHECK_EQ(wire_version_pick(&h), WIRE_PROTO); /* peer newer, still speaks ours */
	h.ver_max = 1;
	CHECK_EQ(wire_version_pick(&h), 1); /* a first-release peer */
	h.ver_min = 2;
	h.ver_max = 2;
	CHECK_EQ(wire_version_pick(&h), 2);
}

/* Reconciliation frames: round trips, the body iterators, and refusal of
 * every malformed field (hostile peers name paths and order rows). */
static void tree_req(struct wire_tree_req *q, uint16_t node, const char *dir, const char *after)
{
	memset(q, 0, sizeof(*q));
	q->node = node;
	q->flags = after ? WIRE_TREE_F_ENTRIES : 0;
	q->dir = dir;
	q->dir_len = (uint16_t)strlen(dir);
	q->after = after;
	q->after_len = after ? (uint16_t)strlen(after) : 0;
}

static struct wire_tree_entry tentry(const char *name, char kind, uint32_t mode, uint8_t flags)
{
	struct wire_tree_entry e;
	memset(&e, 0, sizeof(e));
	snprintf(e.name, sizeof(e.name), "%s", name);
	e.kind = kind;
	e.mode = mode;
	e.flags = flags;
	e.size = -1; /* any 64-bit value travels */
	e.mtime_ns = 1700000000123456789LL;
	e.hlc = 0x0102030405060708ULL;
	e.origin = 2;
	memset(e.hash, 0x11, 16);
	memset(e.sub_digest, 0x22, 16);
	e.sub_count = (flags & WIRE_TE_SUB) ? 5 : 0;
	e.sub_nchild = (flags & WIRE_TE_SUB) ? 2 : 0;
	return e;
}

static void test_tree_frames(void)
{
	static uint8_t buf[8192], body[4096];
	struct wire_msg m;
	struct wire_tree_req q;

	tree_req(&q, 0, "", NULL);
	round_trip(WIRE_TREE_REQ, &q, &m, buf, sizeof(buf));
	CHECK_EQ(m.u.tree_req.dir_len, 0);
	CHECK_EQ(m.u.tree_req.node, 0);
	tree_req(&q, 0x3fff, "u1/Maildir/.Sent/cur", "1700.M1P1.h:2,S");
	round_trip(WIRE_TREE_REQ, &q, &m, buf, sizeof(buf));
	CHECK_EQ(m.u.tree_req.node, 0x3fff);
	CHECK_EQ(m.u.tree_req.flags, WIRE_TREE_F_ENTRIES);
	CHECK(m.u.tree_req.dir_len == 20 && memcmp(m.u.tree_req.dir, "u1/Maildir/.Sent/cur", 20) == 0);
	CHECK(m.u.tree_req.after_len == 15 && memcmp(m.u.tree_req.after, "1700.M1P1.h:2,S", 15) == 0);

	/* refused requests: paths outside the store, bad node ids, flags */
	const char *bad_dirs[] = { "/etc", "..", "a/../b", "a//b", "a/", "./a", "a/." };
	for (size_t i = 0; i < sizeof(bad_dirs) / sizeof(bad_dirs[0]); i++) {
		tree_req(&q, 0, bad_dirs[i], NULL);
		CHECK_EQ(wire_encode(WIRE_TREE_REQ, &q, buf, sizeof(buf)), WIRE_EFIELD);
	}
	const uint16_t bad_nodes[] = { 0x0001, 0x1010, 0x2100, 0x4000, 0xffff };
	for (size_t i = 0; i < sizeof(bad_nodes) / sizeof(bad_nodes[0]); i++) {
		tree_req(&q, bad_nodes[i], "a", NULL);
		CHECK_EQ(wire_encode(WIRE_TREE_REQ, &q, buf, sizeof(buf)), WIRE_EFIELD);
	}
	tree_req(&q, 0, "a", "x/y");
	CHECK_EQ(wire_encode(WIRE_TREE_REQ, &q, buf, sizeof(buf)), WIRE_EFIELD);
	tree_req(&q, 0, "a", NULL);
	q.flags = 0x80;
	CHECK_EQ(wire_encode(WIRE_TREE_REQ, &q, buf, sizeof(buf)), WIRE_EFIELD);
	/* the same refusals from the decoder, on hand-made payloads */
	static const uint8_t req_dotdot[] = { 0, 0, 0, 0, 6, 'a', '/', '.', '.', '/', 'b', 0, 0 };
	static const uint8_t req_abs[] = { 0, 0, 0, 0, 2, '/', 'a', 0, 0 };
	static const uint8_t req_node[] = { 0x10, 0x10, 0, 0, 1, 'a', 0, 0 };
	static const uint8_t req_trunc[] = { 0, 0, 0, 0, 9, 'a' };
	static const uint8_t req_trail[] = { 0, 0, 0, 0, 1, 'a', 0, 0, 0 };
	static const uint8_t req_ok[] = { 0x10, 0x0f, 1, 0, 1, 'a', 0, 1, 'b' };
	struct {
		const uint8_t *p;
		uint32_t len;
		int expect;
	} rq[] = {
		{ req_dotdot, sizeof(req_dotdot), WIRE_EFIELD }, { req_abs, sizeof(req_abs), WIRE_EFIELD },
		{ req_node, sizeof(req_node), WIRE_EFIELD },     { req_trunc, sizeof(req_trunc), WIRE_ETRUNC },
		{ req_trail, sizeof(req_trail), WIRE_ETRAILING }, { req_ok, sizeof(req_ok), 0 },
	};
	for (size_t i = 0; i < sizeof(rq) / sizeof(rq[0]); i++) {
		size_t n = frame(buf, WIRE_TREE_REQ, rq[i].p, rq[i].len);
		int rc = decode(buf, n, &m);
		CHECK_EQ(rc, rq[i].expect);
	}

	/* bucket answers */
	struct wire_tree_resp a;
	struct wire_tree_bucket b = { .idx = 3, .count = 7 }, got;
	memset(&a, 0, sizeof(a));
	memset(a.digest, 0xab, 16);
	a.count = 100;
	a.nchild = 40;
	long k = wire_tree_put_bucket(body, sizeof(body), &b);
	b.idx = 15;
	b.count = 93;
	k += wire_tree_put_bucket(body + k, sizeof(body) - (size_t)k, &b);
	a.n = 2;
	a.body = body;
	a.body_len = (uint32_t)k;
	round_trip(WIRE_TREE_RESP, &a, &m, buf, sizeof(buf));
	size_t pos = 0;
	CHECK_EQ(wire_tree_next_bucket(&m.u.tree_resp, &pos, &got), 1);
	CHECK(got.idx == 3 && got.count == 7);
	CHECK_EQ(wire_tree_next_bucket(&m.u.tree_resp, &pos, &got), 1);
	CHECK(got.idx == 15 && got.count == 93);
	CHECK_EQ(wire_tree_next_bucket(&m.u.tree_resp, &pos, &got), 0);
	CHECK_EQ(m.u.tree_resp.count, 100);
	CHECK_EQ(m.u.tree_resp.nchild, 40);
	a.nchild = 101; /* more children than rows */
	CHECK_EQ(wire_encode(WIRE_TREE_RESP, &a, buf, sizeof(buf)), WIRE_EFIELD);
	a.nchild = 1;
	a.node = 0x1003; /* children are counted at node 0 only */
	CHECK_EQ(wire_encode(WIRE_TREE_RESP, &a, buf, sizeof(buf)), WIRE_EFIELD);
	a.node = 0;
	a.nchild = 40;
	/* out of order, too many for a level-3 node, a zero count */
	memcpy(body + 100, body + 25, 25);
	memcpy(body + 125, body, 25);
	a.body = body + 100;
	CHECK_EQ(wire_encode(WIRE_TREE_RESP, &a, buf, sizeof(buf)), WIRE_EFIELD);
	a.body = body;
	a.node = 0x3000;
	CHECK_EQ(wire_encode(WIRE_TREE_RESP, &a, buf, sizeof(buf)), WIRE_EFIELD);
	a.node = 0;
	b.count = 0;
	CHECK_EQ(wire_tree_put_bucket(body, sizeof(body), &b), WIRE_EFIELD);
	a.n = 3; /* the body holds two */
	CHECK_EQ(wire_encode(WIRE_TREE_RESP, &a, buf, sizeof(buf)), WIRE_ETRUNC);
	a.n = 1;
	CHECK_EQ(wire_encode(WIRE_TREE_RESP, &a, buf, sizeof(buf)), WIRE_ETRAILING);

	/* entry answers: a live directory with its subtree digest, a file, a
	 * tombstone whose row kept no mode */
	struct wire_tree_entry e[3], r;
	e[0] = tentry(".Sent", 'd', 0040700, WIRE_TE_SUB);
	e[1] = tentry("1700.M1.h:2,S", 'f', 0100600, WIRE_TE_HASH);
	e[2] = tentry("1701.M2.h:2,", 'f', 0, WIRE_TE_DELETED);
	k = 0;
	for (int i = 0; i < 3; i++)
		k += wire_tree_put_entry(body + k, sizeof(body) - (size_t)k, &e[i]);
	memset(&a, 0, sizeof(a));
	a.node = 0x2012;
	a.flags = WIRE_TREE_F_ENTRIES | WIRE_TREE_F_MORE;
	a.n = 3;
	a.body = body;
	a.body_len = (uint32_t)k;
	round_trip(WIRE_TREE_RESP, &a, &m, buf, sizeof(buf));
	pos = 0;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(wire_tree_next_entry(&m.u.tree_resp, &pos, &r), 1);
		CHECK(strcmp(r.name, e[i].name) == 0 && r.kind == e[i].kind && r.flags == e[i].flags);
		CHECK(r.mode == e[i].mode && r.size == -1 && r.mtime_ns == e[i].mtime_ns && r.hlc == e[i].hlc);
		CHECK(r.origin == 2 && r.sub_count == e[i].sub_count && r.sub_nchild == e[i].sub_nchild);
		CHECK(!(e[i].flags & WIRE_TE_HASH) || memcmp(r.hash, e[i].hash, 16) == 0);
	}
	CHECK_EQ(wire_tree_next_entry(&m.u.tree_resp, &pos, &r), 0);
	CHECK_EQ(wire_tree_next_bucket(&m.u.tree_resp, &pos, &b), WIRE_EINVAL);
	/* names out of order or repeated */
	a.n = 2;
	a.body = body + wire_tree_put_entry(body, sizeof(body), &e[0]);
	a.body_len = (uint32_t)(k - (a.body - body));
	round_trip(WIRE_TREE_RESP, &a, &m, buf, sizeof(buf));
	long k2 = wire_tree_put_entry(body + 2000, 1000, &e[1]);
	k2 += wire_tree_put_entry(body + 2000 + k2, 1000, &e[1]);
	a.body = body + 2000;
	a.body_len = (uint32_t)k2;
	CHECK_EQ(wire_encode(WIRE_TREE_RESP, &a, buf, sizeof(buf)), WIRE_EFIELD);
	a.flags = WIRE_TREE_F_MORE; /* MORE without ENTRIES */
	a.n = 0;
	a.body_len = 0;
	CHECK_EQ(wire_encode(WIRE_TREE_RESP, &a, buf, sizeof(buf)), WIRE_EFIELD);
	/* bad rows are refused by the encoder and the decoder alike */
	struct wire_tree_entry bad[] = {
		tentry("..", 'f', 0100600, 0), tentry("a/b", 'f', 0100600, 0), tentry("", 'f', 0100600, 0),
		tentry("x", 'q', 0100600, 0),  tentry("x", 'd', 0100600, 0),   tentry("x", 'f', 0100600, WIRE_TE_SUB),
		tentry("x", 'd', 0040700, WIRE_TE_SUB | WIRE_TE_DELETED),      tentry("x", 'f', 0100600, 0x40),
	};
	struct wire_tree_entry many = tentry("x", 'd', 0040700, WIRE_TE_SUB);
	many.sub_nchild = many.sub_count + 1;
	CHECK_EQ(wire_tree_put_entry(body, sizeof(body), &many), WIRE_EFIELD);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(wire_tree_put_entry(body, sizeof(body), &bad[i]) < 0);
		/* the same row hand-encoded (from a valid one) is refused on decode */
		struct wire_tree_entry ok = tentry("x", 'f', 0100600, 0);
		long n = wire_tree_put_entry(body, sizeof(body), &ok);
		uint8_t pl[600];
		memset(pl, 0, sizeof(pl));
		size_t nl = strlen(bad[i].name);
		memset(pl, 0, 37);
		pl[36] = 1;                 /* n = 1 */
		pl[2] = WIRE_TREE_F_ENTRIES;
		pl[37] = (uint8_t)nl;
		memcpy(pl + 38, bad[i].name, nl);
		memcpy(pl + 38 + nl, body + 2, (size_t)n - 2);
		pl[38 + nl] = (uint8_t)bad[i].kind;
		pl[39 + nl] = bad[i].flags;
		size_t plen = 38 + nl + (size_t)n - 2 + ((bad[i].flags & WIRE_TE_SUB) ? 32 : 0) +
			      ((bad[i].flags & WIRE_TE_HASH) ? 16 : 0);
		size_t fn = frame(buf, WIRE_TREE_RESP, pl, (uint32_t)plen);
		int rc = decode(buf, fn, &m);
		t_checks++;
		if (rc >= 0) {
			t_failures++;
			fprintf(stderr, "bad tree entry %zu ('%s' %c) decoded\n", i, bad[i].name, bad[i].kind);
		}
	}
	CHECK_EQ(wire_type_name(WIRE_TREE_REQ)[0], 'T');
}

/* WIRE_LOCK and WIRE_LOCK_RESP: round trip, and every bad path refused
 * by decoder and encoder alike. */
static void test_lock(void)
{
	uint8_t buf[WIRE_HDR_LEN + 8 + 1 + 2 + WIRE_PATH_MAX + 8];
	uint8_t pl[8 + 1 + 2 + WIRE_PATH_MAX + 2];
	struct wire_msg m;
	const char *p = "d1.test/alice/Maildir/.Archive/dovecot-uidlist.lock";
	struct wire_lock l = { .id = 42, .op = WIRE_LOCK_TAKE, .path_len = (uint16_t)strlen(p), .path = p };

	round_trip(WIRE_LOCK, &l, &m, buf, sizeof(buf));
	CHECK_EQ(m.u.lock.id, 42);
	CHECK_EQ(m.u.lock.op, WIRE_LOCK_TAKE);
	CHECK(m.u.lock.path_len == strlen(p) && memcmp(m.u.lock.path, p, strlen(p)) == 0);
	struct wire_lock_resp a = { .id = 42, .result = WIRE_LOCK_BUSY };
	round_trip(WIRE_LOCK_RESP, &a, &m, buf, sizeof(buf));
	CHECK_EQ(m.u.lock_resp.id, 42);
	CHECK_EQ(m.u.lock_resp.result, WIRE_LOCK_BUSY);
	CHECK(strcmp(wire_type_name(WIRE_LOCK), "LOCK") == 0);

	static const struct { const char *path; size_t len; int expect; } paths[] = {
		{ "a/dovecot-uidlist.lock", 22, 0 },
		{ "dovecot-uidlist.lock", 20, 0 },
		{ "/etc/passwd", 11, WIRE_EFIELD },
		{ "a/../b", 6, WIRE_EFIELD },
		{ "..", 2, WIRE_EFIELD },
		{ "a/./b", 5, WIRE_EFIELD },
		{ "a//b", 4, WIRE_EFIELD },
		{ "a/", 2, WIRE_EFIELD },
		{ "a\0b", 3, WIRE_EFIELD },
		{ "", 0, WIRE_EFIELD },
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		size_t n = paths[i].len;
		memset(pl, 0, 11);
		pl[7] = 1;
		pl[8] = WIRE_LOCK_GIVE;
		pl[9] = (uint8_t)(n >> 8);
		pl[10] = (uint8_t)n;
		memcpy(pl + 11, paths[i].path, n);
		size_t f = frame(buf, WIRE_LOCK, pl, (uint32_t)(11 + n));
		int rc = decode(buf, f, &m);
		t_checks++;
		if (rc != paths[i].expect) {
			t_failures++;
			fprintf(stderr, "lock path case %zu: got %d, expected %d\n", i, rc, paths[i].expect);
		}
		struct wire_lock e = { .id = 1, .op = WIRE_LOCK_GIVE, .path_len = (uint16_t)n, .path = paths[i].path };
		CHECK_EQ(wire_encode(WIRE_LOCK, &e, buf, sizeof(buf)) > 0 ? 0 : WIRE_EFIELD, paths[i].expect);
	}
	/* a path over WIRE_PATH_MAX, a path_len past the payload, a bad op,
	 * a bad result, a trailing byte */
	memset(pl, 'a', sizeof(pl));
	memset(pl, 0, 11);
	pl[8] = WIRE_LOCK_TAKE;
	pl[9] = (uint8_t)((WIRE_PATH_MAX + 1) >> 8);
	pl[10] = (uint8_t)(WIRE_PATH_MAX + 1);
	CHECK_EQ(decode(buf, frame(buf, WIRE_LOCK, pl, 11 + WIRE_PATH_MAX + 1), &m), WIRE_ESTRLEN);
	pl[9] = 0;
	pl[10] = 9;
	CHECK_EQ(decode(buf, frame(buf, WIRE_LOCK, pl, 11 + 4), &m), WIRE_ETRUNC);
	CHECK_EQ(decode(buf, frame(buf, WIRE_LOCK, pl, 11 + 10), &m), WIRE_ETRAILING);
	pl[8] = 3;
	CHECK_EQ(decode(buf, frame(buf, WIRE_LOCK, pl, 11 + 9), &m), WIRE_EFIELD);
	static const uint8_t resp_bad[] = { 0, 0, 0, 0, 0, 0, 0, 1, 3 };
	CHECK_EQ(decode(buf, frame(buf, WIRE_LOCK_RESP, resp_bad, sizeof(resp_bad)), &m), WIRE_EFIELD);
	CHECK_EQ(decode(buf, frame(buf, WIRE_LOCK_RESP, resp_bad, 8), &m), WIRE_ETRUNC);
}

/* WIRE_SPACE (level 3): round trip; room over the size, a short payload
 * and a trailing byte refused by decoder and encoder alike. */
static void test_space(void)
{
	uint8_t buf[WIRE_HDR_LEN + 40], pl[33];
	struct wire_msg m;
	struct wire_space sp = { .store_total = UINT64_C(1) << 40, .store_avail = 12345,
				 .journal_total = 4096, .journal_avail = 4096 };

	round_trip(WIRE_SPACE, &sp, &m, buf, sizeof(buf));
	CHECK(m.u.space.store_total == sp.store_total && m.u.space.store_avail == 12345);
	CHECK(m.u.space.journal_total == 4096 && m.u.space.journal_avail == 4096);
	CHECK(strcmp(wire_type_name(WIRE_SPACE), "SPACE") == 0);
	sp.journal_avail = 4097;
	CHECK_EQ(wire_encode(WIRE_SPACE, &sp, buf, sizeof(buf)), WIRE_EFIELD);
	memset(pl, 0, sizeof(pl));
	pl[15] = 1; /* store: 0 bytes, 1 free */
	CHECK_EQ(decode(buf, frame(buf, WIRE_SPACE, pl, 32), &m), WIRE_EFIELD);
	pl[15] = 0;
	CHECK_EQ(decode(buf, frame(buf, WIRE_SPACE, pl, 32), &m), 0);
	CHECK_EQ(decode(buf, frame(buf, WIRE_SPACE, pl, 31), &m), WIRE_ETRUNC);
	CHECK_EQ(decode(buf, frame(buf, WIRE_SPACE, pl, 33), &m), WIRE_ETRAILING);
}

int main(void)
{
	test_space();
	test_lock();
	test_round_trips();
	test_layout();
	test_malformed_payloads();
	test_malformed_headers();
	test_encoder_refuses();
	test_names_and_strings();
	test_tree_frames();
	return t_done("test_codec");
}
