/* test_agent.c: heartbeatd's agent words (heartbeatd/agent_line.c): the
 * lines it answers, the strict parser of the peer's, what this node says
 * for each health/drain/ready combination, readiness from mhafs's STATUS
 * lines, and one poll of a listener on the loopback that answers well,
 * garbage, nothing, or is not there. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "../unit/tcheck.h"

static void format(void)
{
	char b[AGENT_LINE_MAX];
	struct agent_say s = { HN_UP, 200 };
	CHECK_INT(agent_line_format(&s, b, sizeof(b)), 14);
	CHECK_STR(b, "up ready 200%\n");
	s.state = HN_DRAIN;
	agent_line_format(&s, b, sizeof(b));
	CHECK_STR(b, "up drain\n");
	s.state = HN_DOWN;
	agent_line_format(&s, b, sizeof(b));
	CHECK_STR(b, "down\n");
}

static void decide(void)
{
	/* healthy drained ready -> state */
	static const struct { int h, dr, rd; enum hn_state want; } v[] = {
		{ 1, 0, 1, HN_UP },   { 1, 1, 1, HN_DRAIN }, { 1, 0, 0, HN_DRAIN }, { 1, 1, 0, HN_DRAIN },
		{ 0, 0, 1, HN_DOWN }, { 0, 1, 1, HN_DOWN },  { -1, 0, 1, HN_DOWN },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct agent_say s;
		agent_decide(v[i].h, v[i].dr, v[i].rd, 7, &s);
		CHECK_INT(s.state, v[i].want);
	}
}

static void parse(void)
{
	static const struct { const char *in; int rc; enum hn_state st; unsigned w; const char *why; } v[] = {
		{ "up ready 1%\n", 0, HN_UP, 1, NULL },
		{ "up ready 256%\n", 0, HN_UP, 256, NULL },
		{ "up ready 42%", 0, HN_UP, 42, NULL },
		{ "up drain\n", 0, HN_DRAIN, 0, NULL },
		{ "down\n", 0, HN_DOWN, 0, NULL },
		{ "", -1, 0, 0, "closed without an answer" },
		{ "up ready 0%\n", -1, 0, 0, "garbled answer: 'up ready 0%'" },
		{ "up ready 257%\n", -1, 0, 0, "garbled" },
		{ "up ready 007%\n", -1, 0, 0, "garbled" },
		{ "up ready 5\n", -1, 0, 0, "garbled" },
		{ "up ready 5%%\n", -1, 0, 0, "garbled" },
		{ "up ready 5% \n", -1, 0, 0, "garbled" },
		{ "up ready -5%\n", -1, 0, 0, "garbled" },
		{ "up\n", -1, 0, 0, "garbled" },
		{ "ready 5%\n", -1, 0, 0, "garbled" },
		{ "down\ndown\n", -1, 0, 0, "more than one line" },
		{ "HTTP/1.0 400 Bad Request\r\n", -1, 0, 0, "garbled answer: 'HTTP/1.0 400 Bad Request'" },
		{ "up\x01" "drain\n", -1, 0, 0, "'up?drain'" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct agent_say s = { HN_DOWN, 0 };
		char why[AGENT_REASON] = "";
		int rc = agent_line_parse(v[i].in, strlen(v[i].in), &s, why, sizeof(why));
		CHECK_INT(rc, v[i].rc);
		if (rc == 0) {
			CHECK_INT(s.state, v[i].st);
			CHECK_INT(s.weight, v[i].w);
		} else {
			CHECK_HAS(why, v[i].why);
		}
	}
	char big[200];
	memset(big, 'x', sizeof(big));
	struct agent_say s;
	char why[AGENT_REASON];
	CHECK_INT(agent_line_parse(big, sizeof(big), &s, why, sizeof(why)), -1);
	CHECK_INT(agent_line_parse("do\0wn", 5, &s, why, sizeof(why)), -1);
}

static int ready_of(const char *const *lines, char *why, size_t len)
{
	struct mhafs_view v;
	memset(&v, 0, sizeof(v));
	v.replication = v.peer_connected = v.peer_synced = v.peer_stream_in = v.full_sync = -1;
	for (; *lines; lines++)
		if (!strcmp(*lines, "END"))
			v.answered = 1;
		else
			mhafs_view_line(&v, *lines);
	return mhafs_view_ready(&v, why, len);
}

static void ready(void)
{
	char why[AGENT_REASON];
	const char *off[] = { "node=a", "replication=off", "END", NULL };
	CHECK_INT(ready_of(off, why, sizeof(why)), 1);
	const char *none[] = { NULL };
	CHECK_INT(ready_of(none, why, sizeof(why)), 0);
	CHECK_HAS(why, "not answered");
	const char *synced[] = { "replication=on", "peer_connected=yes", "peer_synced=yes", "peer_stream_in=yes",
				 "full_sync=no", "END", NULL };
	CHECK_INT(ready_of(synced, why, sizeof(why)), 1);
	const char *behind[] = { "replication=on", "peer_connected=yes", "peer_synced=no", "peer_stream_in=yes",
				 "full_sync=no", "END", NULL };
	CHECK_INT(ready_of(behind, why, sizeof(why)), 0);
	CHECK_HAS(why, "not caught up");
	const char *full[] = { "replication=on", "peer_connected=yes", "peer_synced=yes", "peer_stream_in=yes",
			       "full_sync=running", "END", NULL };
	CHECK_INT(ready_of(full, why, sizeof(why)), 0);
	CHECK_HAS(why, "full sync");
	const char *oneway[] = { "replication=on", "peer_connected=yes", "peer_synced=yes", "peer_stream_in=no",
				 "full_sync=no", "END", NULL };
	CHECK_INT(ready_of(oneway, why, sizeof(why)), 0);
	CHECK_HAS(why, "both ways");
	const char *cut[] = { "replication=on", "peer_connected=yes", "peer_synced=yes", "peer_stream_in=yes",
			      "full_sync=no", NULL };
	CHECK_INT(ready_of(cut, why, sizeof(why)), 0);
}

/* A loopback listener that answers each connection with a fixed text. */
struct fake {
	int fd;
	const char *text;
	int silent;    /* accept and say nothing for 1 s */
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int c = accept(f->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	if (f->silent)
		sleep(1);
	else if (write(c, f->text, strlen(f->text)) < 0)
		perror("write");
	close(c);
	return NULL;
}

static unsigned fake_listen(struct fake *f)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sin);
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(f->fd, 4) < 0 ||
	    getsockname(f->fd, (struct sockaddr *)&sin, &sl) < 0)
		return 0;
	return ntohs(sin.sin_port);
}

static void poll_one(const char *text, int silent, int want_rc, enum hn_state st, unsigned w, const char *why_has)
{
	struct fake f = { -1, text, silent };
	unsigned port = fake_listen(&f);
	CHECK(port != 0);
	pthread_t t;
	pthread_create(&t, NULL, fake_main, &f);
	struct agent_say s = { HN_DOWN, 0 };
	char why[AGENT_REASON] = "";
	int rc = probe_agent("127.0.0.1", port, 300, &s, why, sizeof(why));
	CHECK_INT(rc, want_rc);
	if (rc == 0) {
		CHECK_INT(s.state, st);
		CHECK_INT(s.weight, w);
	} else {
		CHECK_HAS(why, why_has);
	}
	pthread_join(t, NULL);
	close(f.fd);
}

static void probe(void)
{
	poll_one("up ready 9%\n", 0, 0, HN_UP, 9, NULL);
	poll_one("up drain\n", 0, 0, HN_DRAIN, 0, NULL);
	poll_one("what?\n", 0, -1, 0, 0, "garbled answer: 'what?'");
	poll_one("", 0, -1, 0, 0, "closed without an answer");
	poll_one(NULL, 1, -1, 0, 0, "no answer within 300 ms");
	/* nobody listening: a port just closed */
	struct fake f = { -1, NULL, 0 };
	unsigned port = fake_listen(&f);
	close(f.fd);
	struct agent_say s;
	char why[AGENT_REASON] = "";
	CHECK_INT(probe_agent("127.0.0.1", port, 300, &s, why, sizeof(why)), -1);
	CHECK_HAS(why, "Connection refused");
	CHECK_INT(probe_agent("peer.example", port, 300, &s, why, sizeof(why)), -1);
	CHECK_HAS(why, "not an IP address");
}

int main(void)
{
	format();
	decide();
	parse();
	ready();
	probe();
	return t_done("test_agent");
}
