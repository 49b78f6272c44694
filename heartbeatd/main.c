/* main.c: heartbeatd, the daemon that owns the cluster's virtual IP.  One
 * thread runs the event loop: it sends an authenticated UDP heartbeat every
 * heartbeat_interval_ms, verifies the peer's, feeds what it knows to the
 * state machine (fsm.c) and carries out the action of each transition
 * (take, release or announce the VIP through vipctl's library).  Health
 * checks run in their own thread (health.c); the control socket, role hook
 * and mhafs notification live in ctl.c; HAProxy's agent-check, drain and
 * the nodes file in agent.c. */
#define _GNU_SOURCE 1 /* accept4, pipe2 */
#include "hbd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sdnotify.h"

#define CLOCK_SKEW_MS 60000      /* heartbeats further off than this are refused */
#define DROP_LOG_MS 10000        /* at most one drop summary per 10 s */
#define WITNESS_TIMEOUT_MS 300
#define WITNESS_RECHECK_MS 500
#define WITNESS_MISSES 3
#define STALL_SLACK_MS 250
#define HEALTH_TIMEOUT_MS 1000

static struct hbd D;

/* ---- configuration ---- */


/* Load and check everything heartbeatd needs into the out-parameters;
 * nothing of the running daemon changes unless this succeeds. */
static int load_all(const char *path, char **ov, int nov, struct config *cfg, struct hb_key *key,
		    struct vip_addr *vips, size_t *nvips, struct sockaddr_storage *peer,
		    socklen_t *peer_len, char *err, size_t errlen)
{
	char e2[256];
	config_defaults(cfg);
	if (config_load(cfg, path, 0, err, errlen) < 0)
		goto fail;
	for (int i = 0; i < nov; i++) {
		char *eq = strchr(ov[i], '=');
		if (!eq) {
			snprintf(err, errlen, "-o %s: expected key=value", ov[i]);
			goto fail;
		}
		*eq = '\0';
		int rc = config_set(cfg, ov[i], eq + 1, e2, sizeof(e2));
		*eq = '=';
		if (rc < 0) {
			snprintf(err, errlen, "-o %s: %s", ov[i], e2);
			goto fail;
		}
	}
	if (config_validate(cfg, err, errlen) < 0)
		goto fail;
	if (!cfg->peer_address) {
		snprintf(err, errlen, "peer_address is not set (the peer's heartbeat address)");
		goto fail;
	}
	if (hb_sockaddr(cfg->peer_address, cfg->heartbeat_port, peer, peer_len) < 0) {
		snprintf(err, errlen, "peer_address '%s' is not a numeric IPv4 or IPv6 address",
			 cfg->peer_address);
		goto fail;
	}
	if (cfg->peer_dead_ms < 2 * cfg->heartbeat_interval_ms) {
		snprintf(err, errlen, "peer_dead_ms (%u) must be at least twice heartbeat_interval_ms (%u)",
			 cfg->peer_dead_ms, cfg->heartbeat_interval_ms);
		goto fail;
	}
	*nvips = 0;
	for (size_t i = 0; i < cfg->n_vip; i++) {
		if (vip_parse(cfg->vip[i], 1, &vips[i], e2, sizeof(e2)) < 0) {
			snprintf(err, errlen, "vip: %s", e2);
			goto fail;
		}
		(*nvips)++;
	}
	if (*nvips && !cfg->vip_interface) {
		snprintf(err, errlen, "vip is set but vip_interface is not");
		goto fail;
	}
	if (cfg->vip_interface && vip_ifindex(cfg->vip_interface, e2, sizeof(e2)) < 0) {
		snprintf(err, errlen, "vip_interface: %s", e2);
		goto fail;
	}
	if (cfg->heartbeat_interface && vip_ifindex(cfg->heartbeat_interface, e2, sizeof(e2)) < 0) {
		snprintf(err, errlen, "heartbeat_interface: %s", e2);
		goto fail;
	}
	if (cfg->witness) {
		struct sockaddr_storage w;
		socklen_t wl;
		if (hb_sockaddr(cfg->witness, 0, &w, &wl) < 0) {
			snprintf(err, errlen, "witness '%s' is not a numeric IPv4 or IPv6 address", cfg->witness);
			goto fail;
		}
	}
	if (hb_key_load(cfg->cluster_key_file, key, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	config_free(cfg);
	return -1;
}

static void health_cfg_from(const struct config *cfg, struct health_cfg *hc)
{
	memset(hc, 0, sizeof(*hc));
	if (cfg->mount_point)
		snprintf(hc->mount_point, sizeof(hc->mount_point), "%s", cfg->mount_point);
	if (cfg->vip_interface)
		snprintf(hc->ifname[0], sizeof(hc->ifname[0]), "%s", cfg->vip_interface);
	if (cfg->heartbeat_interface)
		snprintf(hc->ifname[1], sizeof(hc->ifname[1]), "%s", cfg->heartbeat_interface);
	hc->imap_port = cfg->health_imap_port;
	hc->smtp_port = cfg->health_smtp_port;
	hc->interval_ms = cfg->health_interval_ms;
	hc->timeout_ms = HEALTH_TIMEOUT_MS;
	hc->loop_stall_ms = cfg->heartbeat_interval_ms + STALL_SLACK_MS;
}

static int udp_open(const struct config *cfg, const struct sockaddr_storage *peer, char *err, size_t errlen)
{
	int fam = peer->ss_family;
	int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "UDP socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* heartbeats go out ahead of bulk traffic */
	int prio = 6;
	setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio));
	if (cfg->heartbeat_interface &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cfg->heartbeat_interface,
		       (socklen_t)strlen(cfg->heartbeat_interface)) < 0) {
		snprintf(err, errlen, "bind to interface %s: %s", cfg->heartbeat_interface, strerror(errno));
		close(fd);
		return -1;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl;
	if (fam == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)cfg->heartbeat_port);
		sl = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)cfg->heartbeat_port);
		sl = sizeof(*s);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		snprintf(err, errlen, "bind UDP port %u: %s", cfg->heartbeat_port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the VIP ---- */

static void vip_release_all(struct hbd *d)
{
	char err[VIP_ERRLEN], buf[80];
	d->announce_left = 0;
	for (size_t i = 0; i < d->n_vips; i++) {
		int rc = vip_del(d->cfg.vip_interface, &d->vips[i], err, sizeof(err));
		if (rc < 0)
			log_err("cannot release VIP %s: %s", vip_format(&d->vips[i], buf, sizeof(buf)), err);
		else if (rc == 0)
			log_notice("released VIP %s from %s", vip_format(&d->vips[i], buf, sizeof(buf)),
				   d->cfg.vip_interface);
	}
}

static void vip_announce_round(struct hbd *d)
{
	char err[VIP_ERRLEN], buf[80];
	for (size_t i = 0; i < d->n_vips; i++)
		if (vip_announce(d->cfg.vip_interface, &d->vips[i], 1, 0, err, sizeof(err)) < 0)
			log_warn("announcing %s: %s", vip_format(&d->vips[i], buf, sizeof(buf)), err);
}

static void start_announce(struct hbd *d, uint64_t now)
{
	if (!d->n_vips)
		return;
	vip_announce_round(d);
	d->announce_left = d->cfg.announce_count > 0 ? d->cfg.announce_count - 1 : 0;
	d->next_announce_ms = now + 200;
}

static void vip_take_all(struct hbd *d, uint64_t now)
{
	char err[VIP_ERRLEN], buf[80];
	for (size_t i = 0; i < d->n_vips; i++) {
		int rc = vip_add(d->cfg.vip_interface, &d->vips[i], err, sizeof(err));
		if (rc < 0)
			log_err("cannot take VIP %s: %s", vip_format(&d->vips[i], buf, sizeof(buf)), err);
		else
			log_notice("%s VIP %s on %s", rc == 1 ? "kept" : "took",
				   vip_format(&d->vips[i], buf, sizeof(buf)), d->cfg.vip_interface);
	}
	d->last_take_ms = now;
	start_announce(d, now);
}

/* ---- heartbeats ---- */

uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void send_heartbeat(struct hbd *d, uint8_t type)
{
	uint8_t pkt[HB_PKT_LEN];
	struct hb_msg m = {
		.type = type,
		.state = (uint8_t)d->state,
		.node_id = (uint16_t)d->cfg.node_id,
		.epoch = d->epoch,
		.counter = ++d->counter,
		.time_ms = wall_ms(),
	};
	if (hb_state_holds_vip(d->state))
		m.flags |= HB_F_HOLDS_VIP;
	if (d->state != HB_S_FAULT && d->healthy != 0)
		m.flags |= HB_F_HEALTHY;
	if (hb_encode(&m, &d->key, pkt) < 0) {
		d->c.tx_err++;
		return;
	}
	if (sendto(d->udp_fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&d->peer, d->peer_len) < 0) {
		d->c.tx_err++;
		log_debug("heartbeat to %s: %s", d->cfg.peer_address, strerror(errno));
	} else {
		d->c.tx++;
	}
}

static void note_drop(struct hbd *d, uint64_t now, const char *what, const char *from)
{
	d->drops_unlogged++;
	snprintf(d->drop_last, sizeof(d->drop_last), "%s from %s", what, from);
	if (now - d->drop_log_ms >= DROP_LOG_MS || d->drop_log_ms == 0) {
		log_warn("dropped %u heartbeat%s (latest: %s); counters: bad_mac=%llu replay=%llu "
			 "malformed=%llu clock_skew=%llu",
			 d->drops_unlogged, d->drops_unlogged == 1 ? "" : "s", d->drop_last,
			 (unsigned long long)d->c.rx_bad_mac, (unsigned long long)d->c.rx_replay,
			 (unsigned long long)d->c.rx_malformed, (unsigned long long)d->c.rx_skew);
		d->drop_log_ms = now;
		d->drops_unlogged = 0;
	}
}

static int from_peer_address(const struct hbd *d, const struct sockaddr_storage *from)
{
	if (from->ss_family != d->peer.ss_family)
		return 0;
	if (from->ss_family == AF_INET)
		return ((const struct sockaddr_in *)from)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)&d->peer)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)from)->sin6_addr,
		       &((const struct sockaddr_in6 *)&d->peer)->sin6_addr, 16);
}

static void receive(struct hbd *d, uint64_t now)
{
	for (;;) {
		uint8_t buf[512];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(d->udp_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		char addr[INET6_ADDRSTRLEN] = "?";
		if (from.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr, addr, sizeof(addr));
		else if (from.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&from)->sin6_addr, addr, sizeof(addr));
		struct hb_msg m;
		enum hb_decode_result r = hb_decode(buf, (size_t)n, &d->key, &m);
		if (r == HB_E_MAC) {
			d->c.rx_bad_mac++;
			if (from_peer_address(d, &from))
				d->peer_unauth_ms = now;
			note_drop(d, now, hb_decode_str(r), addr);
			continue;
		}
		if (r != HB_OK) {
			d->c.rx_malformed++;
			note_drop(d, now, hb_decode_str(r), addr);
			continue;
		}
		if (m.node_id == d->cfg.node_id) {
			d->c.rx_self++;
			note_drop(d, now, from_peer_address(d, &from)
				   ? "the peer's node_id equals ours: give each node its own node_id in mhafs.conf"
				   : "our own node id (looped back or replayed)", addr);
			continue;
		}
		uint64_t w = wall_ms();
		if (m.time_ms + CLOCK_SKEW_MS < w || m.time_ms > w + CLOCK_SKEW_MS) {
			d->c.rx_skew++;
			note_drop(d, now, "clock more than 60 s off (stale replay, or unsynchronised clocks)", addr);
			continue;
		}
		int acc = hb_seq_accept_silent(&d->seq, &m, !hbd_peer_alive(d, now));
		if (acc == 0) {
			d->c.rx_replay++;
			note_drop(d, now, "replayed (old epoch/counter)", addr);
			continue;
		}
		if (acc == 2)
			log_warn("peer node %u restarted with an older epoch (its clock stepped back?); accepted",
				 m.node_id);
		d->c.rx_ok++;
		if (!d->peer_seen || d->peer_msg.epoch != m.epoch) {
			d->peer_since_ms = now;
			log_info("peer node %u (epoch %llu) heard from %s, state %s", m.node_id,
				 (unsigned long long)m.epoch, addr, hb_state_name((enum hb_state)m.state));
		}
		d->peer_seen = 1;
		d->peer_msg = m;
		d->peer_rx_ms = now;
	}
}

int hbd_peer_alive(const struct hbd *d, uint64_t now)
{
	return d->peer_seen && d->peer_msg.type == HB_T_ALIVE &&
	       now - d->peer_rx_ms < d->cfg.peer_dead_ms;
}

/* ---- deciding ---- */

static void gather(struct hbd *d, uint64_t now, struct hb_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->stopping = d->stopping;
	f->healthy = d->healthy == 1;
	f->peer_alive = hbd_peer_alive(d, now);
	f->peer_leaving = d->peer_seen && d->peer_msg.type == HB_T_LEAVING;
	f->peer_holds_vip = !!(d->peer_msg.flags & HB_F_HOLDS_VIP);
	f->peer_healthy = !!(d->peer_msg.flags & HB_F_HEALTHY);
	f->start_wait_over = now - d->start_ms >= d->cfg.peer_dead_ms;
	f->peer_unauthenticated = d->peer_unauth_ms && now - d->peer_unauth_ms < d->cfg.peer_dead_ms;
	f->my_id = d->cfg.node_id;
	f->peer_id = d->peer_msg.node_id;
	f->witness_ok = 1;
	if (d->cfg.witness && !f->peer_alive && !f->peer_leaving && !f->stopping && f->healthy) {
		/* asked only while the peer is silent: the first answer is fresh */
		if (!d->witness_checked_ms || now - d->witness_checked_ms >= WITNESS_RECHECK_MS) {
			int w = witness_probe(d->cfg.witness, WITNESS_TIMEOUT_MS);
			if (w < 0)
				log_warn("witness %s: %s", d->cfg.witness, strerror(-w));
			d->witness_misses = w == 1 ? 0 : d->witness_misses + 1;
			/* one answer lets us take the VIP; holding it, we let go
			 * only after WITNESS_MISSES probes in a row are lost */
			int okw = hb_state_holds_vip(d->state) ? d->witness_misses < WITNESS_MISSES
							       : d->witness_misses == 0;
			if (okw != d->witness_ok)
				log_notice("witness %s %s", d->cfg.witness, okw ? "reachable" : "unreachable");
			d->witness_ok = okw;
			d->witness_checked_ms = mono_ms();
		}
		f->witness_ok = d->witness_ok;
	} else {
		d->witness_checked_ms = 0;
		d->witness_misses = 0;
	}
}

static void record(struct hbd *d, enum hb_state from, enum hb_state to, enum hb_event ev)
{
	struct hbd_trans *t = &d->trans[d->n_trans % HBD_TRANS];
	t->wall_ms = wall_ms();
	t->from = from;
	t->to = to;
	t->ev = ev;
	snprintf(t->why, sizeof(t->why), "%s", ev == HB_E_HEALTH_BAD ? d->health_reason : "");
	d->n_trans++;
}

static void act(struct hbd *d, enum hb_action a, uint64_t now)
{
	switch (a) {
	case HB_A_NONE:
		break;
	case HB_A_TAKE:
		vip_take_all(d, now);
		break;
	case HB_A_RELEASE:
		vip_release_all(d);
		break;
	case HB_A_ANNOUNCE:
		/* we won a tie; both may have announced, so say it again (at
		 * most once a second while the loser has not yet let go) */
		if (!d->last_reannounce_ms || now - d->last_reannounce_ms >= 1000) {
			d->last_reannounce_ms = now;
			start_announce(d, now);
		}
		break;
	case HB_A_LEAVE:
		vip_release_all(d);
		for (int i = 0; i < 3; i++)
			send_heartbeat(d, HB_T_LEAVING);
		break;
	case HB_NACTIONS:
		break;
	}
}

static void evaluate(struct hbd *d)
{
	if (d->healthy < 0 && !d->stopping)
		return; /* wait for the first health verdict */
	for (int round = 0; round < 4; round++) {
		uint64_t now = mono_ms();
		struct hb_facts f;
		gather(d, now, &f);
		enum hb_event ev = hb_classify(d->state, &f);
		if (ev == HB_E_NONE)
			return;
		const struct hb_row *row = hb_step(d->state, ev);
		if (!row) {
			log_err("no transition for %s on %s (table bug)", hb_state_name(d->state),
				hb_event_name(ev));
			return;
		}
		enum hb_state old = d->state;
		act(d, row->action, now);
		if (row->next == old)
			return;
		d->state = row->next;
		d->state_since_ms = now;
		record(d, old, d->state, ev);
		log_notice("%s -> %s on %s%s%s (action %s)", hb_state_name(old), hb_state_name(d->state),
			   hb_event_name(ev), ev == HB_E_HEALTH_BAD ? ": " : "",
			   ev == HB_E_HEALTH_BAD ? d->health_reason : "", hb_action_name(row->action));
		if (d->state != HB_S_STOPPED)
			send_heartbeat(d, HB_T_ALIVE); /* tell the peer at once */
		hook_run(d, old, d->state);
	}
}

static void update_health(struct hbd *d, uint64_t now)
{
	char reason[HEALTH_REASON] = "";
	uint64_t n = health_uncounted(&d->health, reason, sizeof(reason));
	if (n != d->c.uncounted)
		log_notice("local health check not counted (%llu so far): %s while heartbeatd itself stalled",
			   (unsigned long long)n, reason);
	d->c.uncounted = n;
	reason[0] = '\0';
	int h = health_get(&d->health, now, reason, sizeof(reason));
	if (h != d->healthy) {
		if (h == 0)
			log_warn("local health check failed: %s", reason);
		else if (h == 1 && d->healthy == 0)
			log_notice("local health checks pass again");
	}
	if (h == 0)
		snprintf(d->health_reason, sizeof(d->health_reason), "%s", reason);
	d->healthy = h;
}

/* ---- reload ---- */

static void reload(struct hbd *d)
{
	struct config cfg;
	struct hb_key key;
	struct vip_addr vips[CONFIG_MAX_LIST];
	size_t nvips;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char err[CONFIG_ERRLEN];

	if (load_all(d->cfg_path, d->overrides, d->n_overrides, &cfg, &key, vips, &nvips, &peer,
		     &peer_len, err, sizeof(err)) < 0) {
		log_err("reload failed, keeping the running configuration: %s", err);
		return;
	}
	int holds = hb_state_holds_vip(d->state);
	int vip_changed = nvips != d->n_vips ||
			  strcmp(cfg.vip_interface ? cfg.vip_interface : "",
				 d->cfg.vip_interface ? d->cfg.vip_interface : "") ||
			  memcmp(vips, d->vips, nvips * sizeof(vips[0]));
	int sock_changed = cfg.heartbeat_port != d->cfg.heartbeat_port ||
			   peer.ss_family != d->peer.ss_family ||
			   strcmp(cfg.heartbeat_interface ? cfg.heartbeat_interface : "",
				  d->cfg.heartbeat_interface ? d->cfg.heartbeat_interface : "");
	int fd = -1;
	if (sock_changed && (fd = udp_open(&cfg, &peer, err, sizeof(err))) < 0) {
		log_err("reload failed, keeping the running configuration: %s", err);
		config_free(&cfg);
		return;
	}
	if (vip_changed && holds)
		vip_release_all(d);
	int ctl_changed = strcmp(cfg.heartbeat_socket, d->cfg.heartbeat_socket);
	if (ctl_changed)
		ctl_close(d);
	char old_addr[64];
	unsigned old_port = d->cfg.node_address ? d->cfg.agent_port : 0;
	snprintf(old_addr, sizeof(old_addr), "%s", d->cfg.node_address ? d->cfg.node_address : "");
	config_free(&d->cfg);
	d->cfg = cfg;
	d->key = key;
	memcpy(d->vips, vips, sizeof(vips));
	d->n_vips = nvips;
	d->peer = peer;
	d->peer_len = peer_len;
	if (fd >= 0) {
		close(d->udp_fd);
		d->udp_fd = fd;
	}
	if (ctl_changed && ctl_open(d, err, sizeof(err)) < 0)
		log_err("control socket: %s", err);
	if (vip_changed && holds)
		vip_take_all(d, mono_ms());
	struct health_cfg hc;
	health_cfg_from(&d->cfg, &hc);
	health_set_cfg(&d->health, &hc);
	agent_reload(d, old_addr, old_port);
	log_init("heartbeatd", !strcmp(d->cfg.log_target, "stderr"), log_level_from_name(d->cfg.log_level));
	log_notice("configuration reloaded from %s", d->cfg_path);
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: heartbeatd [-c CONFIG] [-o key=value]...      run the daemon\n"
		"       heartbeatd [-c CONFIG] --check                check the configuration\n"
		"       heartbeatd [-c CONFIG] [-s SOCKET] --status    print a running daemon's status\n"
		"CONFIG defaults to %s.  See heartbeatd(8).\n", MHAFS_DEFAULT_CONFIG);
}

/* The loop wakes at least every heartbeat interval.  If it was not run for
 * much longer (the machine stalled: both nodes' daemons are then usually
 * late together), the peer's silence proves nothing: it gets two more
 * intervals to be heard before it is declared dead; an overdue health
 * round is timed again, and a greeting that timed out meanwhile is not
 * counted (health_loop_tick). */
static void stall_guard(struct hbd *d, uint64_t now, uint64_t last)
{
	uint64_t gap = now - last, limit = d->cfg.heartbeat_interval_ms + STALL_SLACK_MS;
	health_loop_tick(&d->health, last, now); /* the health thread was frozen too */
	if (gap <= limit)
		return;
	if (!d->peer_seen || last - d->peer_rx_ms >= d->cfg.peer_dead_ms)
		return;
	uint64_t floor = now - d->cfg.peer_dead_ms + 2 * d->cfg.heartbeat_interval_ms;
	if (d->peer_rx_ms < floor)
		d->peer_rx_ms = floor;
	d->c.stalls++;
	log_info("event loop stalled for %llu ms: giving the peer %u ms more", (unsigned long long)gap,
		 2 * d->cfg.heartbeat_interval_ms);
}

static int timeout_ms(struct hbd *d, uint64_t now)
{
	uint64_t next = d->next_send_ms;
	if (d->announce_left && d->next_announce_ms < next)
		next = d->next_announce_ms;
	if (d->peer_seen && d->peer_rx_ms + d->cfg.peer_dead_ms < next &&
	    d->peer_rx_ms + d->cfg.peer_dead_ms > now)
		next = d->peer_rx_ms + d->cfg.peer_dead_ms;
	return next > now ? (int)(next - now) : 0;
}

static int run(struct hbd *d)
{
	char err[CONFIG_ERRLEN];
	uint64_t now = mono_ms();
	d->start_ms = now;
	d->state = HB_S_STARTING;
	d->state_since_ms = now;
	d->healthy = -1;
	d->peer_reported = -1;
	d->witness_ok = 1;
	/* the epoch rises from one start to the next (wall-clock µs), so an old
	 * run's packets can never be replayed into a new one */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	d->epoch = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->sig_fd < 0 || pipe2(d->hpipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_err("signalfd/pipe: %s", strerror(errno));
		return 1;
	}
	d->udp_fd = udp_open(&d->cfg, &d->peer, err, sizeof(err));
	if (d->udp_fd < 0) {
		log_err("%s", err);
		return 1;
	}
	if (ctl_open(d, err, sizeof(err)) < 0) {
		log_err("control socket: %s", err);
		return 1;
	}
	if (agent_open(d, err, sizeof(err)) < 0) {
		log_err("%s", err);
		ctl_close(d);
		return 1;
	}
	if (sessions_start(&d->sessions, &d->cfg) < 0)
		log_err("sessions: cannot start the thread; this node's sessions are not published");
	/* a VIP left over from a crash is not ours until the peer agrees */
	vip_release_all(d);
	struct health_cfg hc;
	health_cfg_from(&d->cfg, &hc);
	if (health_start(&d->health, &hc, d->hpipe[1]) < 0) {
		log_err("cannot start the health-check thread");
		return 1;
	}
	log_notice("started: node %u, peer %s:%u, %zu VIP%s on %s, interval %u ms, dead after %u ms%s%s",
		   d->cfg.node_id, d->cfg.peer_address, d->cfg.heartbeat_port, d->n_vips,
		   d->n_vips == 1 ? "" : "s", d->cfg.vip_interface ? d->cfg.vip_interface : "-",
		   d->cfg.heartbeat_interval_ms, d->cfg.peer_dead_ms,
		   d->cfg.witness ? ", witness " : "", d->cfg.witness ? d->cfg.witness : "");
	hook_run(d, HB_S_STARTING, HB_S_STARTING);
	d->next_send_ms = now;
	sdn_ready("starting");

	/* systemd's watchdog is fed from this loop, so only while it runs */
	uint64_t last_loop = now, wd_ms = sdn_watchdog_usec() / 3000, wd_last = 0;
	enum hb_state shown = HB_S_STARTING;
	while (d->state != HB_S_STOPPED) {
		now = mono_ms();
		/* fds below 0 are ignored by poll */
		struct pollfd p[5] = {
			{ .fd = d->udp_fd, .events = POLLIN },
			{ .fd = d->sig_fd, .events = POLLIN },
			{ .fd = d->hpipe[0], .events = POLLIN },
			{ .fd = d->ctl_fd, .events = POLLIN },
			{ .fd = d->agent_fd, .events = POLLIN },
		};
		if (poll(p, 5, timeout_ms(d, now)) < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			break;
		}
		now = mono_ms();
		stall_guard(d, now, last_loop);
		last_loop = now;
		if (wd_ms && now - wd_last >= wd_ms) {
			sdn_watchdog();
			wd_last = now;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
					log_notice("signal %u: releasing the VIP and leaving", si.ssi_signo);
					sdn_stopping("releasing the VIP and leaving");
					d->stopping = 1;
				} else if (si.ssi_signo == SIGHUP) {
					reload(d);
				} else if (si.ssi_signo == SIGCHLD) {
					hook_reap();
				}
			}
		}
		if (p[2].revents & POLLIN) {
			char drain[64];
			while (read(d->hpipe[0], drain, sizeof(drain)) > 0)
				;
		}
		update_health(d, now);
		if (p[0].revents & POLLIN)
			receive(d, now);
		if (d->ctl_fd >= 0 && (p[3].revents & POLLIN))
			ctl_serve(d);
		evaluate(d);
		if (d->state == HB_S_STOPPED)
			break;
		if (d->state != shown) {
			shown = d->state;
			sdn_status("%s", hb_state_name(shown));
		}
		now = mono_ms();
		agent_update(d, now);
		if (d->agent_fd >= 0 && (p[4].revents & POLLIN))
			agent_serve(d);
		mhafs_notify(d, now);
		if (d->announce_left && now >= d->next_announce_ms) {
			if (hb_state_holds_vip(d->state))
				vip_announce_round(d);
			d->announce_left--;
			d->next_announce_ms = now + 200;
		}
		if (now >= d->next_send_ms) {
			send_heartbeat(d, HB_T_ALIVE);
			d->next_send_ms += d->cfg.heartbeat_interval_ms;
			if (d->next_send_ms <= now)
				d->next_send_ms = now + d->cfg.heartbeat_interval_ms;
		}
	}
	health_stop(&d->health);
	sessions_stop(&d->sessions);
	agent_close(d);
	ctl_close(d);
	close(d->udp_fd);
	log_notice("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "option", required_argument, NULL, 'o' },
		{ "socket", required_argument, NULL, 's' },
		{ "status", no_argument, NULL, 'S' },
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL;
	int status = 0, check = 0, c;
	char err[CONFIG_ERRLEN];
	struct hbd *d = &D;

	memset(d, 0, sizeof(*d));
	d->cfg_path = MHAFS_DEFAULT_CONFIG;
	d->ctl_fd = d->udp_fd = d->sig_fd = d->agent_fd = -1;
	d->overrides = calloc((size_t)argc, sizeof(char *));
	while ((c = getopt_long(argc, argv, "c:o:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d->cfg_path = optarg; break;
		case 'o': d->overrides[d->n_overrides++] = optarg; break;
		case 's': sock = optarg; break;
		case 'S': status = 1; break;
		case 'C': check = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (status) {
		if (!sock) {
			struct config cfg;
			config_defaults(&cfg);
			if (config_load(&cfg, d->cfg_path, 1, err, sizeof(err)) < 0) {
				fprintf(stderr, "heartbeatd: %s\n", err);
				return 1;
			}
			int rc = ctl_status_client(cfg.heartbeat_socket);
			config_free(&cfg);
			return rc;
		}
		return ctl_status_client(sock);
	}
	if (load_all(d->cfg_path, d->overrides, d->n_overrides, &d->cfg, &d->key, d->vips, &d->n_vips,
		     &d->peer, &d->peer_len, err, sizeof(err)) < 0) {
		fprintf(stderr, "heartbeatd: %s\n", err);
		return 1;
	}
	if (check) {
		printf("heartbeatd: %s is valid\n", d->cfg_path);
		return 0;
	}
	log_init("heartbeatd", !strcmp(d->cfg.log_target, "stderr"), log_level_from_name(d->cfg.log_level));
	return run(d);
}
