/* test_proto.c: unit tests (TAP) for the heartbeat packet codec and the
 * replay guard: round trip, every byte of a packet covered by the HMAC,
 * a wrong key, malformed packets, replayed and older-epoch packets. */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int n_test, n_fail;

static void ok(int cond, const char *what)
{
	n_test++;
	if (!cond)
		n_fail++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n_test, what);
}

static void key_of(struct hb_key *k, const char *s)
{
	k->len = strlen(s);
	memcpy(k->bytes, s, k->len);
}

int main(void)
{
	struct hb_key key, other;
	uint8_t pkt[HB_PKT_LEN], bad[HB_PKT_LEN];
	struct hb_msg m = {
		.type = HB_T_ALIVE, .state = 2, .flags = HB_F_HOLDS_VIP | HB_F_HEALTHY,
		.node_id = 7, .epoch = 0x0102030405060708ULL, .counter = 42, .time_ms = 1700000000123ULL,
	}, d;

	key_of(&key, "0123456789abcdef0123456789abcdef");
	key_of(&other, "0123456789abcdef0123456789abcdeF");
	ok(hb_encode(&m, &key, pkt) == HB_PKT_LEN, "encode gives a full packet");
	ok(!memcmp(pkt, "MHHB", 4) && pkt[4] == HB_VERSION, "magic and version");
	memset(&d, 0, sizeof(d));
	ok(hb_decode(pkt, sizeof(pkt), &key, &d) == HB_OK, "decode with the same key");
	ok(d.type == m.type && d.state == m.state && d.flags == m.flags && d.node_id == m.node_id &&
	   d.epoch == m.epoch && d.counter == m.counter && d.time_ms == m.time_ms,
	   "every field survives the round trip");
	ok(hb_decode(pkt, sizeof(pkt), &other, &d) == HB_E_MAC, "another key: bad MAC");

	/* flipping any bit of header or MAC must be caught */
	int caught = 0;
	for (size_t i = 0; i < HB_PKT_LEN; i++) {
		memcpy(bad, pkt, sizeof(bad));
		bad[i] ^= 0x10;
		caught += hb_decode(bad, sizeof(bad), &key, &d) != HB_OK;
	}
	ok(caught == HB_PKT_LEN, "a flipped bit anywhere is rejected");
	memcpy(bad, pkt, sizeof(bad));
	bad[8] ^= 1; /* node id */
	ok(hb_decode(bad, sizeof(bad), &key, &d) == HB_E_MAC, "a changed node id is a bad MAC");
	ok(hb_decode(pkt, sizeof(pkt) - 1, &key, &d) == HB_E_SHORT, "short packet");
	ok(hb_decode(pkt, 0, &key, &d) == HB_E_SHORT, "empty packet");
	memcpy(bad, pkt, sizeof(bad));
	bad[0] = 'X';
	ok(hb_decode(bad, sizeof(bad), &key, &d) == HB_E_MAGIC, "wrong magic");
	memcpy(bad, pkt, sizeof(bad));
	bad[4] = 9;
	ok(hb_decode(bad, sizeof(bad), &key, &d) == HB_E_VERSION, "wrong version");
	struct hb_msg z = m;
	z.node_id = 0;
	hb_encode(&z, &key, bad);
	ok(hb_decode(bad, sizeof(bad), &key, &d) == HB_E_FIELD, "authentic but node id 0");
	z = m;
	z.type = 9;
	hb_encode(&z, &key, bad);
	ok(hb_decode(bad, sizeof(bad), &key, &d) == HB_E_FIELD, "authentic but unknown type");

	/* replay guard */
	struct hb_seq seq = { 0 };
	struct hb_msg a = m;
	ok(hb_seq_accept(&seq, &a) == 1, "first packet accepted");
	ok(hb_seq_accept(&seq, &a) == 0, "the same packet again is a replay");
	a.counter = 41;
	ok(hb_seq_accept(&seq, &a) == 0, "an older counter is a replay");
	a.counter = 43;
	ok(hb_seq_accept(&seq, &a) == 1, "the next counter is accepted");
	a.epoch = m.epoch - 1;
	a.counter = 1000;
	ok(hb_seq_accept(&seq, &a) == 0, "an older epoch is refused whatever its counter");
	a.epoch = m.epoch + 1;
	a.counter = 1;
	ok(hb_seq_accept(&seq, &a) == 1, "a newer epoch (peer restarted) starts over");
	ok(seq.epoch == m.epoch + 1 && seq.counter == 1, "guard remembers the newest");

	/* a restart with an older epoch is accepted only while the peer is silent */
	struct hb_seq s2 = { 1, 1000, 50 };
	struct hb_msg older = m;
	older.epoch = 900;
	older.counter = 1;
	ok(hb_seq_accept_silent(&s2, &older, 0) == 0, "older epoch while the peer is alive: replay");
	ok(s2.epoch == 1000 && s2.counter == 50, "and the guard is unchanged");
	ok(hb_seq_accept_silent(&s2, &older, 1) == 2, "older epoch while the peer is silent: restart");
	ok(hb_seq_accept_silent(&s2, &older, 1) == 0, "the same packet again is still a replay");
	older.counter = 2;
	ok(hb_seq_accept_silent(&s2, &older, 0) == 1, "the restarted sequence continues");

	/* key file */
	char path[] = "/tmp/hbkeyXXXXXX", err[256];
	int fd = mkstemp(path);
	ok(fd >= 0, "temp key file");
	ok(write(fd, "short\n", 6) == 6, "write short key");
	struct hb_key k2;
	ok(hb_key_load(path, &k2, err, sizeof(err)) < 0 && strstr(err, "shorter"), "a short key is refused");
	ok(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0, "truncate");
	ok(write(fd, "0123456789abcdef0123456789abcdef\n\n", 34) == 34, "write key");
	ok(hb_key_load(path, &k2, err, sizeof(err)) == 0 && k2.len == 32 &&
	   !memcmp(k2.bytes, key.bytes, 32), "trailing new lines are not part of the key");
	close(fd);
	unlink(path);
	ok(hb_key_load("/nonexistent/key", &k2, err, sizeof(err)) < 0 && strstr(err, "/nonexistent/key"),
	   "a missing key file is named in the error");

	printf("1..%d\n", n_test);
	return n_fail ? 1 : 0;
}
