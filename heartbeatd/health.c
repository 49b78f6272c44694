/* health.c: the health-check thread, its hysteresis (two failing rounds
 * demote, two passing rounds restore; a round timed out while heartbeatd
 * itself stalled is not counted), and the witness ICMP probe. */
#define _GNU_SOURCE 1 /* pthread_timedjoin_np */
#include "health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FALL 2
#define RISE 2

uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int hb_sockaddr(const char *addr, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return -1;
}

void hb_pause(pthread_cond_t *cond, pthread_mutex_t *lock, unsigned ms, const int *stop)
{
	hb_pause_until(cond, lock, ms, stop, NULL);
}

void hb_pause_until(pthread_cond_t *cond, pthread_mutex_t *lock, unsigned ms, const int *stop, const int *wake)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!*stop && !(wake && *wake) && pthread_cond_timedwait(cond, lock, &until) == 0)
		;
}

static int check_if(const char *ifname, char *reason, size_t len)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(reason, len, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
	int e = errno;
	close(fd);
	if (rc < 0) {
		snprintf(reason, len, "interface %s: %s", ifname, strerror(e));
		return -1;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		snprintf(reason, len, "interface %s is down", ifname);
		return -1;
	}
	if (!(ifr.ifr_flags & IFF_RUNNING)) {
		snprintf(reason, len, "interface %s has no carrier", ifname);
		return -1;
	}
	return 0;
}

/* Connect to addr:port and read a greeting that starts with want. */
int hb_greeting(const char *what, const char *addr, unsigned port, const char *want, unsigned timeout_ms,
		char *reason, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (hb_sockaddr(addr, port, &ss, &sl) < 0) {
		snprintf(reason, len, "%s check: '%s' is not an IP address", what, addr);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(reason, len, "%s check: socket: %s", what, strerror(errno));
		return -1;
	}
	uint64_t deadline = mono_ms() + timeout_ms;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		snprintf(reason, len, "%s on port %u: %s", what, port, strerror(errno));
		close(fd);
		return -1;
	}
	char buf[128];
	size_t got = 0;
	int rc = -1;
	for (;;) {
		uint64_t now = mono_ms();
		if (now >= deadline) {
			snprintf(reason, len, "%s on port %u: no greeting within %u ms", what, port, timeout_ms);
			rc = HEALTH_SLOW;
			break;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, (int)(deadline - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			snprintf(reason, len, "%s on port %u: %s", what, port,
				 n == 0 ? "closed without a greeting" : strerror(errno));
			break;
		}
		got += (size_t)n;
		buf[got] = '\0';
		if (got >= strlen(want) || strchr(buf, '\n')) {
			if (strncmp(buf, want, strlen(want)) == 0) {
				close(fd);
				return 0;
			}
			char *nl = strpbrk(buf, "\r\n");
			if (nl)
				*nl = '\0';
			snprintf(reason, len, "%s on port %u: unexpected greeting '%.40s'", what, port, buf);
			break;
		}
	}
	close(fd);
	return rc;
}

/* A local server's greeting; on a timeout, *slow says when it ran and how
 * late this thread got to see the timeout (frozen with the machine, or
 * not). */
static int greet(const struct health_cfg *cfg, const char *what, unsigned port, const char *want, char *reason,
		 size_t len, struct health_slow *slow)
{
	uint64_t t0 = mono_ms();
	int rc = hb_greeting(what, "127.0.0.1", port, want, cfg->timeout_ms, reason, len);
	uint64_t t1 = mono_ms();
	if (rc == HEALTH_SLOW) {
		slow->from_ms = t0;
		slow->to_ms = t1;
		slow->late_ms = t1 - t0 > cfg->timeout_ms ? t1 - t0 - cfg->timeout_ms : 0;
	}
	return rc;
}

int health_round(const struct health_cfg *cfg, char *reason, size_t len, struct health_slow *slow)
{
	struct stat st;
	for (int i = 0; i < 2; i++)
		if (cfg->ifname[i][0] && check_if(cfg->ifname[i], reason, len) < 0)
			return -1;
	if (cfg->mount_point[0] && stat(cfg->mount_point, &st) < 0) {
		snprintf(reason, len, "mount point %s: %s", cfg->mount_point, strerror(errno));
		return -1;
	}
	int rc = 0;
	if (cfg->imap_port)
		rc = greet(cfg, "IMAP", cfg->imap_port, "* OK", reason, len, slow);
	if (rc == -1 || !cfg->smtp_port)
		return rc;
	/* after an IMAP timeout too: a refusal of SMTP's is a verdict */
	char why[HEALTH_REASON];
	struct health_slow s2;
	int r2 = greet(cfg, "SMTP", cfg->smtp_port, "220", why, sizeof(why), &s2);
	if (r2 == 0)
		return rc;
	if (r2 == -1 || rc == 0) {
		snprintf(reason, len, "%s", why);
		*slow = s2;
		return r2;
	}
	/* both timed out: the two greetings' span, the later one's lateness */
	slow->to_ms = s2.to_ms;
	if (s2.late_ms > slow->late_ms)
		slow->late_ms = s2.late_ms;
	return HEALTH_SLOW;
}

/* Whether heartbeatd itself was stalled across a greeting that timed out
 * (lock held). */
static int stalled_across(const struct health *h, const struct health_slow *s)
{
	if (s->late_ms >= STALL_LATE_MS)
		return 1;
	if (h->stall_to_ms && h->stall_to_ms >= s->from_ms && h->stall_from_ms <= s->to_ms)
		return 1;
	return h->cfg.loop_stall_ms && h->loop_ms && s->to_ms > h->loop_ms + h->cfg.loop_stall_ms;
}

int health_count(struct health *h, int rc, const char *reason, const struct health_slow *slow)
{
	if (rc == HEALTH_SLOW && slow && h->uncounted < UNCOUNTED_MAX && stalled_across(h, slow)) {
		h->uncounted++;
		h->uncounted_total++;
		snprintf(h->uncounted_reason, sizeof(h->uncounted_reason), "%s", reason);
		return 1;
	}
	if (rc == 0) {
		h->uncounted = 0;
		h->fails = 0;
		h->passes++;
		if (!h->known || h->passes >= RISE)
			h->ok = 1;
	} else {
		h->passes = 0;
		h->fails++;
		snprintf(h->reason, sizeof(h->reason), "%s", reason);
		if (!h->known || h->fails >= FALL)
			h->ok = 0;
	}
	h->known = 1;
	return 0;
}

static void *health_main(void *arg)
{
	struct health *h = arg;
	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		struct health_cfg cfg = h->cfg;
		char reason[HEALTH_REASON] = "";
		struct health_slow slow = { 0, 0, 0 };
		pthread_mutex_unlock(&h->lock);
		int rc = health_round(&cfg, reason, sizeof(reason), &slow);
		pthread_mutex_lock(&h->lock);
		health_count(h, rc, reason, &slow);
		h->rounds++;
		h->last_round_ms = mono_ms();
		if (h->notify_fd >= 0) {
			char c = 'h';
			ssize_t w = write(h->notify_fd, &c, 1);
			(void)w; /* a full pipe already wakes the main loop */
		}
		hb_pause(&h->cond, &h->lock, cfg.interval_ms, &h->stop);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int health_start(struct health *h, const struct health_cfg *cfg, int notify_fd)
{
	pthread_condattr_t ca;
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	h->cfg = *cfg;
	h->notify_fd = notify_fd;
	h->last_round_ms = mono_ms();
	int rc = pthread_create(&h->thread, NULL, health_main, h);
	if (rc)
		return -rc;
	h->started = 1;
	return 0;
}

void health_set_cfg(struct health *h, const struct health_cfg *cfg)
{
	pthread_mutex_lock(&h->lock);
	h->cfg = *cfg;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/* A round overdue (not finished within interval + 2 timeouts + 1 s of the
 * last): a check hangs (a dead mount), or the whole machine stalled and
 * this thread with it.  Only a round still overdue a whole round's time
 * (the pause and both greetings' timeouts) after the main loop first saw
 * it overdue, or last resumed from a stall of its own, fails the node:
 * after a machine-wide stall the thread finishes its round by then.
 * look: the main loop's look, which may start such an episode. */
static int verdict(struct health *h, uint64_t now, char *reason, size_t len, int look)
{
	int rc;
	pthread_mutex_lock(&h->lock);
	uint64_t round = h->cfg.interval_ms + h->cfg.timeout_ms * 2, limit = round + 1000;
	int overdue = now > h->last_round_ms + limit;
	int episode = h->overdue_since_ms > h->last_round_ms;
	if (overdue && !episode && look) {
		h->overdue_since_ms = now;
		episode = 1;
	}
	if (overdue && episode && now >= h->overdue_since_ms + round) {
		snprintf(reason, len, "health checks stalled for %llu ms (mount point hung?)",
			 (unsigned long long)(now - h->last_round_ms));
		rc = 0;
	} else if (!h->known) {
		rc = -1;
	} else {
		rc = h->ok;
		if (!rc)
			snprintf(reason, len, "%s", h->reason);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int health_get(struct health *h, uint64_t now, char *reason, size_t len)
{
	return verdict(h, now, reason, len, 1);
}

int health_peek(struct health *h, uint64_t now, char *reason, size_t len)
{
	return verdict(h, now, reason, len, 0);
}

uint64_t health_uncounted(struct health *h, char *reason, size_t len)
{
	pthread_mutex_lock(&h->lock);
	uint64_t n = h->uncounted_total;
	snprintf(reason, len, "%s", h->uncounted_reason);
	pthread_mutex_unlock(&h->lock);
	return n;
}

void health_loop_tick(struct health *h, uint64_t last, uint64_t now)
{
	pthread_mutex_lock(&h->lock);
	h->loop_ms = now;
	if (h->cfg.loop_stall_ms && now - last > h->cfg.loop_stall_ms) {
		h->stall_from_ms = last;
		h->stall_to_ms = now;
		if (h->overdue_since_ms > h->last_round_ms)
			h->overdue_since_ms = now; /* the thread was frozen too: time it again */
	}
	pthread_mutex_unlock(&h->lock);
}

void health_stop(struct health *h)
{
	if (!h->started)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = 1;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	/* A round stuck in stat() on a hung mount would block join: detach. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	if (pthread_timedjoin_np(h->thread, NULL, &ts) != 0)
		pthread_detach(h->thread);
	h->started = 0;
}

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

int witness_probe(const char *addr, unsigned timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int v6 = 0;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		sl = sizeof(*s6);
		v6 = 1;
	} else {
		return -EINVAL;
	}
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
			v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	if (fd < 0)
		return -errno;
	static uint16_t seq;
	uint16_t id = (uint16_t)getpid();
	uint8_t pkt[16];
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	pkt[4] = (uint8_t)(id >> 8);
	pkt[5] = (uint8_t)id;
	seq++;
	pkt[6] = (uint8_t)(seq >> 8);
	pkt[7] = (uint8_t)seq;
	memcpy(pkt + 8, "mhafs-hb", 8);
	if (!v6) {
		uint16_t c = csum(pkt, sizeof(pkt));
		pkt[2] = (uint8_t)(c >> 8);
		pkt[3] = (uint8_t)c;
	} /* the kernel fills the ICMPv6 checksum */
	if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&ss, sl) < 0) {
		int e = errno;
		close(fd);
		/* an unreachable network is an answer: the witness is not there */
		return (e == ENETUNREACH || e == EHOSTUNREACH || e == ENETDOWN) ? 0 : -e;
	}
	uint64_t deadline = mono_ms() + timeout_ms;
	int rc = 0;
	for (;;) {
		uint64_t now = mono_ms();
		if (now >= deadline)
			break;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		uint8_t in[256];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		const uint8_t *icmp = in;
		if (!v6) {
			/* raw IPv4 sockets deliver the IP header too */
			size_t hl = (size_t)(in[0] & 0x0f) * 4;
			if ((size_t)n < hl + 8)
				continue;
			icmp = in + hl;
			n -= (ssize_t)hl;
			if (((struct sockaddr_in *)&from)->sin_addr.s_addr != s4->sin_addr.s_addr)
				continue;
		} else if (memcmp(&((struct sockaddr_in6 *)&from)->sin6_addr, &s6->sin6_addr, 16)) {
			continue;
		}
		if (n >= 8 && icmp[0] == (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY) &&
		    icmp[4] == pkt[4] && icmp[5] == pkt[5] && icmp[6] == pkt[6] && icmp[7] == pkt[7]) {
			rc = 1;
			break;
		}
	}
	close(fd);
	return rc;
}
