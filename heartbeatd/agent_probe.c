/* agent_probe.c: a thread that, every health_interval_ms, polls the
 * peer's agent (peer_address:agent_port, one TCP connection, one line)
 * and asks the local mhafs for its STATUS (is it caught up with the
 * peer?).  When the agent does not answer, it also asks whether the peer
 * still serves mail without its heartbeatd: the peer's IMAP greets, and
 * this node's mhafs is connected to the peer's both ways.  Blocking I/O with short timeouts lives here so the event loop,
 * which sends heartbeats, never waits on a slow peer. */
#define _GNU_SOURCE 1
#include "agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "health.h" /* mono_ms */

static int wait_for(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		uint64_t now = mono_ms();
		if (now >= deadline)
			return -1;
		struct pollfd p = { .fd = fd, .events = ev };
		int rc = poll(&p, 1, (int)(deadline - now));
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

/* Read until EOF, a full buffer, or the deadline.  The count, or -1. */
static ssize_t read_all(int fd, char *buf, size_t len, uint64_t deadline, const char *until)
{
	size_t got = 0;
	while (got < len) {
		if (wait_for(fd, POLLIN, deadline) < 0)
			return got ? (ssize_t)got : -1;
		ssize_t n = recv(fd, buf + got, len - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
		if (until && memmem(buf, got, until, strlen(until)))
			break;
	}
	return (ssize_t)got;
}

int probe_agent(const char *addr, unsigned port, unsigned timeout_ms, struct agent_say *s, char *why,
		size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (hb_sockaddr(addr, port, &ss, &sl) < 0) {
		snprintf(why, whylen, "'%s' is not an IP address", addr);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	uint64_t deadline = mono_ms() + timeout_ms;
	int rc = -1;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		snprintf(why, whylen, "connect: %s", strerror(errno));
		goto out;
	}
	if (wait_for(fd, POLLOUT, deadline) < 0) {
		snprintf(why, whylen, "no connection within %u ms", timeout_ms);
		goto out;
	}
	int e = 0;
	socklen_t el = sizeof(e);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
	if (e) {
		snprintf(why, whylen, "connect: %s", strerror(e));
		goto out;
	}
	char buf[AGENT_LINE_MAX];
	ssize_t n = read_all(fd, buf, sizeof(buf), deadline, NULL);
	if (n < 0) {
		snprintf(why, whylen, "no answer within %u ms", timeout_ms);
		goto out;
	}
	rc = agent_line_parse(buf, (size_t)n, s, why, whylen);
out:
	close(fd);
	return rc;
}

/* Ask mhafs for STATUS on its control socket. */
static void ask_mhafs(const char *path, unsigned timeout_ms, struct mhafs_view *v)
{
	memset(v, 0, sizeof(*v));
	v->replication = v->peer_connected = v->peer_synced = v->peer_stream_in = v->full_sync = -1;
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (!path[0] || strlen(path) >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	uint64_t deadline = mono_ms() + timeout_ms;
	char buf[8192];
	if ((connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
	     (errno != EINPROGRESS || wait_for(fd, POLLOUT, deadline) < 0)) ||
	    send(fd, "STATUS\n", 7, MSG_NOSIGNAL) != 7) {
		close(fd);
		return;
	}
	ssize_t n = read_all(fd, buf, sizeof(buf) - 1, deadline, "END\n");
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(l, "END"))
			v->answered = 1;
		else
			mhafs_view_line(v, l);
	}
}

/* Does the peer serve mail although its agent does not answer?  Its
 * Dovecot greets on the port the routing proxies to, and its mhafs holds
 * the replication link both ways (v: this node's mhafs's STATUS). */
static int peer_serves(const struct probe_cfg *cfg, const struct mhafs_view *v, char *why, size_t len)
{
	if (!cfg->peer_imap_port) {
		snprintf(why, len, "no IMAP port to greet (health_imap_port = 0)");
		return 0;
	}
	if (!v->answered) {
		snprintf(why, len, "this node's mhafs did not answer STATUS");
		return 0;
	}
	if (v->replication != 1 || v->peer_connected != 1 || v->peer_stream_in != 1) {
		snprintf(why, len, "mhafs is not connected to the peer's both ways");
		return 0;
	}
	if (hb_greeting("its IMAP", cfg->peer_address, cfg->peer_imap_port, "* OK", cfg->timeout_ms, why, len) < 0)
		return 0;
	snprintf(why, len, "its IMAP greets and mhafs is connected to the peer's both ways");
	return 1;
}

static void *probe_main(void *arg)
{
	struct probe *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct probe_cfg cfg = p->cfg;
		pthread_mutex_unlock(&p->lock);
		struct agent_say say = { HN_DOWN, 0 };
		char why[AGENT_REASON] = "";
		int ok = -1;
		uint64_t started = mono_ms();
		if (cfg.agent_port)
			ok = probe_agent(cfg.peer_address, cfg.agent_port, cfg.timeout_ms, &say, why, sizeof(why));
		struct mhafs_view v;
		char swhy[AGENT_REASON] = "";
		int serves = -1;
		if (cfg.ask_mhafs_always || (ok < 0 && cfg.agent_port))
			ask_mhafs(cfg.control_socket, cfg.timeout_ms, &v);
		else
			ask_mhafs("", 0, &v); /* not asked: nothing known */
		if (ok < 0 && cfg.agent_port)
			serves = peer_serves(&cfg, &v, swhy, sizeof(swhy));
		pthread_mutex_lock(&p->lock);
		p->res.serves = serves;
		snprintf(p->res.serves_why, sizeof(p->res.serves_why), "%s", swhy);
		p->res.rounds++;
		p->res.poll_ms = started;
		p->res.peer_ok = ok == 0;
		if (ok == 0) {
			p->res.peer = say;
			p->res.peer_fails = 0;
		} else {
			p->res.peer_fails++;
			snprintf(p->res.peer_why, sizeof(p->res.peer_why), "%s", why);
		}
		p->res.mhafs = v;
		if (p->notify_fd >= 0) {
			char c = 'a';
			ssize_t w = write(p->notify_fd, &c, 1);
			(void)w; /* a full pipe already wakes the loop */
		}
		hb_pause_until(&p->cond, &p->lock, cfg.interval_ms, &p->stop, &p->kick);
		p->kick = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int probe_start(struct probe *p, const struct probe_cfg *cfg, int notify_fd)
{
	pthread_condattr_t ca;
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	p->cfg = *cfg;
	p->notify_fd = notify_fd;
	int rc = pthread_create(&p->thread, NULL, probe_main, p);
	if (rc)
		return -rc;
	p->started = 1;
	return 0;
}

void probe_set_cfg(struct probe *p, const struct probe_cfg *cfg)
{
	pthread_mutex_lock(&p->lock);
	p->cfg = *cfg;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void probe_kick(struct probe *p)
{
	if (!p->started)
		return;
	pthread_mutex_lock(&p->lock);
	p->kick = 1;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void probe_get(struct probe *p, struct probe_result *out)
{
	if (!p->started) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&p->lock);
	*out = p->res;
	pthread_mutex_unlock(&p->lock);
}

void probe_stop(struct probe *p)
{
	if (!p->started)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	p->started = 0;
}
