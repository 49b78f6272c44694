/* oldpeer.c: a peer of the first protocol level, to test that a node
 * mid-upgrade still replicates to it.  It listens as PEERNAME, accepts the
 * node's stream, answers HELLO_ACK as a level-1 node does (no level byte),
 * and takes entries as level 1 did: an UNLINK that names where the message
 * went (path2, level 2) is refused with an ERROR, as the level-1 entry
 * validation refused it.  Every other entry is acknowledged, its content
 * read and dropped.  It exits 0 once it has taken an UNLINK of WANT_PATH,
 * 1 on a refusal or after 30 s without it, 2 on a setup error.
 *
 *   oldpeer ADDR PORT CA CERT KEY MYNAME NODENAME WANT_PATH */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "tls.h"
#include "wire.h"

static uint8_t buf[WIRE_MAX_PAYLOAD];
static time_t end; /* give up then */
static char strbuf[JENTRY_MAX_STRBUF];

static void die(const char *what)
{
	fprintf(stderr, "oldpeer: %s\n", what);
	exit(2);
}

static int listen_on(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		die("bad address");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		die("cannot listen");
	return fd;
}

/* Read and drop content_len bytes of DATA frames. */
static int skip_content(struct tls_conn *c, uint64_t left)
{
	struct wire_msg m;
	while (left) {
		if (wire_recv(c, &m, buf, sizeof(buf)) < 0 || m.type != WIRE_DATA || m.u.data.len > left)
			return -1;
		left -= m.u.data.len;
	}
	return 0;
}

/* One connection: 1 when WANT_PATH's UNLINK was taken, -1 on a refusal,
 * 0 when the connection ended otherwise. */
static int serve(struct tls_conn *c, uint16_t my_id, const char *my_name, const char *want)
{
	struct wire_msg m;
	if (wire_recv(c, &m, buf, sizeof(buf)) < 0 || m.type != WIRE_HELLO)
		return 0;
	printf("# HELLO from %s: levels %u to %u\n", m.u.hello.node_name, m.u.hello.ver_min,
	       m.u.hello.ver_max);
	if (m.u.hello.ver_min > 1)
		return 0; /* a level-1 node would refuse it */
	struct wire_hello_ack ha = { .node_id = my_id, .resume_seq = 0, .proto = 0 };
	snprintf(ha.node_name, sizeof(ha.node_name), "%s", my_name);
	if (wire_send(c, WIRE_HELLO_ACK, &ha) < 0)
		return 0;
	while (time(NULL) < end) {
		int rc = wire_recv(c, &m, buf, sizeof(buf));
		if (rc == WIRE_ETIMEDOUT)
			continue;
		if (rc < 0 || m.type == WIRE_BYE)
			return 0;
		if (m.type == WIRE_PING) {
			if (wire_send(c, WIRE_PONG, &m.u.ping) < 0)
				return 0;
			continue;
		}
		if (m.type != WIRE_OP)
			return 0;
		struct jentry e;
		uint64_t clen = m.u.op.content_len;
		if (jentry_decode(m.u.op.entry, m.u.op.entry_len, &e, strbuf, sizeof(strbuf)) < 0)
			return 0;
		if (e.op == JOP_UNLINK && e.path2) {
			struct wire_error er = { .code = WIRE_ERR_PROTOCOL };
			snprintf(er.text, sizeof(er.text), "malformed entry");
			wire_send(c, WIRE_ERROR, &er);
			printf("not ok - UNLINK %s names %s: a level-1 peer refuses it\n", e.path, e.path2);
			return -1;
		}
		printf("# %s %s%s%s\n", jop_name(e.op), e.path, e.path2 ? " -> " : "", e.path2 ? e.path2 : "");
		if (skip_content(c, clen) < 0)
			return 0;
		struct wire_ack a = { .origin = e.origin, .seq = e.seq };
		if (wire_send(c, WIRE_ACK, &a) < 0)
			return 0;
		if (e.op == JOP_UNLINK && strcmp(e.path, want) == 0) {
			printf("ok - UNLINK %s taken as a plain unlink\n", e.path);
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	char err[512];
	if (argc != 9)
		die("usage: oldpeer ADDR PORT CA CERT KEY MYNAME NODENAME WANT_PATH");
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct tls_ctx *ctx = tls_ctx_new(1, argv[3], argv[4], argv[5], err, sizeof(err));
	if (!ctx)
		die(err);
	int lfd = listen_on(argv[1], atoi(argv[2]));
	end = time(NULL) + 30;
	while (time(NULL) < end) {
		struct timeval tv = { .tv_sec = 1 };
		setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		struct tls_conn *c = tls_accept(ctx, fd, argv[7], 5000, err, sizeof(err));
		if (!c) {
			printf("# TLS: %s\n", err);
			continue;
		}
		tls_set_timeout(c, 1000);
		int rc = serve(c, 2, argv[6], argv[8]);
		tls_close(c);
		if (rc)
			return rc > 0 ? 0 : 1;
	}
	printf("not ok - no UNLINK of %s within 30 s\n", argv[8]);
	return 1;
}
