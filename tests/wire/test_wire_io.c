/* test_wire_io.c: wire_send / wire_recv over a real TLS pair.  Every type
 * crosses intact, frames sent back to back are read one at a time, frames
 * from concurrent senders never mix; a hostile peer's oversize length, bad
 * checksum, bad magic and a frame cut short are refused without allocating
 * and leave the receive side closed; timeouts and clean closes. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"
#include "wire.h"

static struct tls_ctx *srv, *cli;
static uint8_t rbuf[WIRE_MAX_PAYLOAD];

static int open_pair(struct t_pair *p)
{
	t_pair_run(p, srv, "b", cli, "a", 5000, NULL, NULL);
	if (!p->server || !p->client) {
		fprintf(stderr, "handshake failed: %s / %s\n", p->serr, p->cerr);
		t_failures++;
		t_pair_close(p);
		return -1;
	}
	tls_set_timeout(p->server, 5000);
	tls_set_timeout(p->client, 5000);
	return 0;
}

struct sender {
	struct tls_conn *c;
	const uint8_t *data;
	int rc;
};

/* One of each type, and 1 MiB + 1 MiB of DATA after an OP, from a thread
 * (a 1 MiB frame does not fit in the socket buffers). */
static void *send_all(void *arg)
{
	struct sender *s = arg;
	uint8_t entry[] = { 1, 2, 3, 4, 5 };
	struct wire_hello he = { .node_id = 1, .node_name = "b", .ver_min = 1, .ver_max = 1,
				 .flags = WIRE_HELLO_F_SENDER };
	struct wire_hello_ack ha = { .node_id = 2, .node_name = "a", .resume_seq = 77 };
	struct wire_op op = { .entry = entry, .entry_len = sizeof(entry), .content_len = 2u * WIRE_MAX_PAYLOAD };
	struct wire_data d = { .data = s->data, .len = WIRE_MAX_PAYLOAD };
	struct wire_ack ack = { .origin = 1, .seq = 5 };
	struct wire_ping ping = { .nonce = 9, .hlc = 10 };
	struct wire_error err = { .code = WIRE_ERR_SHUTDOWN, .text = "stopping" };

	s->rc = wire_send(s->c, WIRE_HELLO, &he);
	if (!s->rc) s->rc = wire_send(s->c, WIRE_HELLO_ACK, &ha);
	if (!s->rc) s->rc = wire_send(s->c, WIRE_OP, &op);
	if (!s->rc) s->rc = wire_send(s->c, WIRE_DATA, &d);
	d.data = s->data + 1;
	if (!s->rc) s->rc = wire_send(s->c, WIRE_DATA, &d);
	if (!s->rc) s->rc = wire_send(s->c, WIRE_ACK, &ack);
	if (!s->rc) s->rc = wire_send(s->c, WIRE_PING, &ping);
	if (!s->rc) s->rc = wire_send(s->c, WIRE_PONG, &ping);
	if (!s->rc) s->rc = wire_send(s->c, WIRE_ERROR, &err);
	if (!s->rc) s->rc = wire_send(s->c, WIRE_BYE, NULL);
	return NULL;
}

static void test_every_type(void)
{
	struct t_pair p;
	struct wire_msg m;
	struct sender s;
	pthread_t th;
	uint8_t *data = malloc(WIRE_MAX_PAYLOAD + 1);

	if (open_pair(&p))
		return;
	for (size_t i = 0; i <= WIRE_MAX_PAYLOAD; i++)
		data[i] = (uint8_t)(i * 31 + (i >> 11));
	s = (struct sender){ p.client, data, -1 };
	pthread_create(&th, NULL, send_all, &s);

	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_HELLO && m.u.hello.node_id == 1 && !strcmp(m.u.hello.node_name, "b") &&
	      m.u.hello.flags == WIRE_HELLO_F_SENDER);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_HELLO_ACK && m.u.hello_ack.resume_seq == 77);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_OP && m.u.op.entry_len == 5 && m.u.op.entry[4] == 5 &&
	      m.u.op.content_len == 2u * WIRE_MAX_PAYLOAD);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_DATA && m.u.data.len == WIRE_MAX_PAYLOAD &&
	      memcmp(m.u.data.data, data, WIRE_MAX_PAYLOAD) == 0);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_DATA && m.u.data.len == WIRE_MAX_PAYLOAD &&
	      memcmp(m.u.data.data, data + 1, WIRE_MAX_PAYLOAD) == 0);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_ACK && m.u.ack.origin == 1 && m.u.ack.seq == 5);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_PING && m.u.ping.nonce == 9 && m.u.ping.hlc == 10);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_PONG && m.u.ping.nonce == 9);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_ERROR && m.u.error.code == WIRE_ERR_SHUTDOWN && !strcmp(m.u.error.text, "stopping"));
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK_EQ(m.type, WIRE_BYE);
	pthread_join(th, NULL);
	CHECK_EQ(s.rc, 0);

	/* nothing pending: the timeout is reported and the connection lives on */
	tls_set_timeout(p.server, 100);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), WIRE_ETIMEDOUT);
	struct wire_ack ack = { .origin = 3, .seq = 4 };
	CHECK_EQ(wire_send(p.client, WIRE_ACK, &ack), 0);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_ACK && m.u.ack.seq == 4);

	/* the receiver answers on the same connection */
	struct wire_ping pong = { .nonce = 1, .hlc = 2 };
	CHECK_EQ(wire_send(p.server, WIRE_PONG, &pong), 0);
	CHECK_EQ(wire_recv(p.client, &m, rbuf, sizeof(rbuf)), 0);
	CHECK_EQ(m.type, WIRE_PONG);

	/* a frame already inside TLS is invisible to poll(): tls_pending says so */
	ack.seq = 6;
	CHECK_EQ(wire_send(p.client, WIRE_ACK, &ack), 0);
	ack.seq = 7;
	CHECK_EQ(wire_send(p.client, WIRE_ACK, &ack), 0);
	usleep(50 * 1000);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_ACK && m.u.ack.seq == 6);
	CHECK(tls_pending(p.server) > 0);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_ACK && m.u.ack.seq == 7);
	CHECK_EQ(tls_pending(p.server), 0);

	/* an orderly close between frames */
	tls_set_timeout(p.server, 5000);
	tls_close(p.client);
	p.client = NULL;
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), WIRE_ECLOSED);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), WIRE_EBROKEN);
	t_pair_close(&p);
	free(data);

	/* invalid messages are refused before anything is written */
	if (open_pair(&p))
		return;
	struct wire_ack bad = { .origin = 0, .seq = 1 };
	CHECK_EQ(wire_send(p.client, WIRE_ACK, &bad), WIRE_EFIELD);
	CHECK_EQ(wire_send(p.client, WIRE_BYE, NULL), 0);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), 0);
	CHECK_EQ(m.type, WIRE_BYE); /* the refused ACK left no bytes behind */
	t_pair_close(&p);
}

/* Frames from several threads on one connection arrive whole. */
#define THREADS 4
#define PER_THREAD 300

struct pinger {
	struct tls_conn *c;
	uint64_t id;
	int rc;
};

static void *ping_many(void *arg)
{
	struct pinger *pg = arg;
	static const uint8_t entry[700] = { 1 };

	pg->rc = 0;
	for (uint64_t i = 0; i < PER_THREAD && pg->rc == 0; i++) {
		/* mix small frames with larger OP frames to split across records */
		if (i % 3 == 0) {
			struct wire_op op = { .entry = entry, .entry_len = 700, .content_len = (pg->id << 32) | i };
			pg->rc = wire_send(pg->c, WIRE_OP, &op);
		} else {
			struct wire_ping ping = { .nonce = (pg->id << 32) | i, .hlc = i };
			pg->rc = wire_send(pg->c, WIRE_PING, &ping);
		}
	}
	return NULL;
}

static void test_concurrent_senders(void)
{
	struct t_pair p;
	struct pinger pg[THREADS];
	pthread_t th[THREADS];
	uint64_t next[THREADS] = { 0 };
	struct wire_msg m;
	int bad = 0;

	if (open_pair(&p))
		return;
	for (int i = 0; i < THREADS; i++) {
		pg[i] = (struct pinger){ p.client, (uint64_t)i, -1 };
		pthread_create(&th[i], NULL, ping_many, &pg[i]);
	}
	for (int k = 0; k < THREADS * PER_THREAD; k++) {
		int rc = wire_recv(p.server, &m, rbuf, sizeof(rbuf));
		if (rc) {
			fprintf(stderr, "frame %d: %s\n", k, wire_strerror(rc));
			bad++;
			break;
		}
		uint64_t v = m.type == WIRE_OP ? m.u.op.content_len : m.u.ping.nonce;
		uint64_t id = v >> 32, i = v & 0xffffffffu;
		if (id >= THREADS || i != next[id]++ || (m.type == WIRE_OP) != (i % 3 == 0))
			bad++;
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(pg[i].rc, 0);
		CHECK_EQ(next[i], PER_THREAD);
	}
	CHECK_EQ(bad, 0);
	t_pair_close(&p);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* A hostile peer writes raw bytes through TLS; the receiver must refuse. */
static void hostile(const uint8_t *raw, size_t n, int expect, const char *what)
{
	struct t_pair p;
	struct wire_msg m;
	size_t before;
	int rc;

	if (open_pair(&p))
		return;
	CHECK_EQ(tls_write_full(p.client, raw, n), 0);
	before = heap_in_use();
	rc = wire_recv(p.server, &m, rbuf, sizeof(rbuf));
	t_checks++;
	if (rc != expect) {
		t_failures++;
		fprintf(stderr, "hostile %s: got %s, expected %s\n", what, wire_strerror(rc), wire_strerror(expect));
	}
	/* no allocation sized by the peer's claim */
	CHECK(heap_in_use() < before + 64 * 1024);
	/* the receive side is closed for good ... */
	struct wire_ack ack = { .origin = 1, .seq = 1 };
	CHECK_EQ(wire_send(p.client, WIRE_ACK, &ack), 0);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), WIRE_EBROKEN);
	/* ... but it can still tell the peer why before closing */
	struct wire_error e = { .code = WIRE_ERR_PROTOCOL };
	snprintf(e.text, sizeof(e.text), "%s", wire_strerror(rc));
	CHECK_EQ(wire_send(p.server, WIRE_ERROR, &e), 0);
	CHECK_EQ(wire_recv(p.client, &m, rbuf, sizeof(rbuf)), 0);
	CHECK(m.type == WIRE_ERROR && m.u.error.code == WIRE_ERR_PROTOCOL);
	t_pair_close(&p);
}

/* A peer that stops in the middle of a frame. */
static void test_cut_frame(void)
{
	struct t_pair p;
	struct wire_msg m;
	uint8_t frame[64];
	struct wire_ping ping = { 1, 2 };
	long n = wire_encode(WIRE_PING, &ping, frame, sizeof(frame));

	/* header and half the payload, then close_notify */
	if (open_pair(&p))
		return;
	CHECK_EQ(tls_write_full(p.client, frame, (size_t)n - 8), 0);
	tls_close(p.client);
	p.client = NULL;
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), WIRE_EIO);
	t_pair_close(&p);

	/* half a header, then silence: a timeout mid-frame is fatal */
	if (open_pair(&p))
		return;
	tls_set_timeout(p.server, 150);
	CHECK_EQ(tls_write_full(p.client, frame, 7), 0);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), WIRE_EIO);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), WIRE_EBROKEN);
	t_pair_close(&p);

	/* a whole header, then silence in the payload */
	if (open_pair(&p))
		return;
	tls_set_timeout(p.server, 150);
	CHECK_EQ(tls_write_full(p.client, frame, WIRE_HDR_LEN), 0);
	CHECK_EQ(wire_recv(p.server, &m, rbuf, sizeof(rbuf)), WIRE_EIO);
	t_pair_close(&p);
}

static void test_hostile(void)
{
	uint8_t f[64];
	struct wire_ack ack = { .origin = 1, .seq = 2 };
	long n = wire_encode(WIRE_ACK, &ack, f, sizeof(f));

	/* length 4 GiB with valid magic, version and type */
	uint8_t huge[WIRE_HDR_LEN] = { 'M', 'H', 1, WIRE_DATA, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0 };
	hostile(huge, sizeof(huge), WIRE_ELEN, "length 4 GiB");
	uint8_t over[WIRE_HDR_LEN] = { 'M', 'H', 1, WIRE_DATA, 0x00, 0x10, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0 };
	hostile(over, sizeof(over), WIRE_ELEN, "length max+1");

	uint8_t bad[64];
	memcpy(bad, f, (size_t)n);
	bad[12] ^= 0x40; /* checksum */
	hostile(bad, (size_t)n, WIRE_ECSUM, "bad checksum");
	memcpy(bad, f, (size_t)n);
	bad[n - 1] ^= 0x01; /* payload */
	hostile(bad, (size_t)n, WIRE_ECSUM, "flipped payload bit");
	memcpy(bad, f, (size_t)n);
	bad[0] = 'G';
	hostile(bad, (size_t)n, WIRE_EMAGIC, "bad magic");
	memcpy(bad, f, (size_t)n);
	bad[3] = 200;
	hostile(bad, (size_t)n, WIRE_ETYPE, "unknown type");

	/* a valid frame larger than the caller's buffer: refused, not overrun */
	struct t_pair p;
	struct wire_msg m;
	uint8_t small[32];
	static const uint8_t entry[100] = { 0 };
	struct wire_op op = { .entry = entry, .entry_len = sizeof(entry), .content_len = 0 };
	if (open_pair(&p))
		return;
	CHECK_EQ(wire_send(p.client, WIRE_OP, &op), 0);
	CHECK_EQ(wire_recv(p.server, &m, small, sizeof(small)), WIRE_ESPACE);
	t_pair_close(&p);
}

/* A peer that stops reading: the sender's timeout fires, and the send side
 * is closed because a frame may have gone out in part. */
static void test_stuck_reader(void)
{
	struct t_pair p;
	static uint8_t data[WIRE_MAX_PAYLOAD];
	struct wire_data d = { .data = data, .len = sizeof(data) };
	struct timespec t0, t1;
	int rc = 0, frames = 0;

	if (open_pair(&p))
		return;
	tls_set_timeout(p.client, 200);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (rc == 0 && frames < 64) {
		rc = wire_send(p.client, WIRE_DATA, &d);
		frames++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_EQ(rc, WIRE_ETIMEDOUT);
	CHECK(frames < 64);
	CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 3000);
	struct wire_ping ping = { 1, 1 };
	CHECK_EQ(wire_send(p.client, WIRE_PING, &ping), WIRE_EBROKEN);
	t_pair_close(&p);
}

/* A reader blocked without a timeout is woken by tls_conn_abort. */
struct blocked {
	struct tls_conn *c;
	int rc;
};

static void *recv_forever(void *arg)
{
	struct blocked *b = arg;
	struct wire_msg m;

	b->rc = wire_recv(b->c, &m, rbuf, sizeof(rbuf));
	return NULL;
}

static void test_abort(void)
{
	struct t_pair p;
	struct blocked b;
	pthread_t th;
	struct timespec t0, t1;

	if (open_pair(&p))
		return;
	tls_set_timeout(p.server, -1);
	b = (struct blocked){ p.server, 1 };
	pthread_create(&th, NULL, recv_forever, &b);
	usleep(100 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tls_conn_abort(p.server);
	pthread_join(th, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(b.rc == WIRE_EIO || b.rc == WIRE_ECLOSED);
	CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1000);
	struct wire_ack ack = { .origin = 1, .seq = 1 };
	CHECK(wire_send(p.server, WIRE_ACK, &ack) != 0); /* the write side is gone too */
	t_pair_close(&p);
}

int main(void)
{
	if (!t_keys_make()) {
		fprintf(stderr, "cannot make test keys with mhafs-keygen\n");
		return 1;
	}
	srv = t_ctx(1, "c1", "a");
	cli = t_ctx(0, "c1", "b");
	if (!srv || !cli)
		return 1;
	test_every_type();
	test_concurrent_senders();
	test_hostile();
	test_cut_frame();
	test_abort();
	test_stuck_reader();
	tls_ctx_free(srv);
	tls_ctx_free(cli);
	return t_done("test_wire_io");
}
