/* agent.c: heartbeatd's part in balancing (agent.h): the HAProxy
 * agent-check responder on node_address:agent_port (one line per
 * connection, then close), the drain flag (mhactl drain; kept in
 * state_dir/heartbeatd.drained across restarts), readiness after a start,
 * the peer's state as the nodes file gives it, and the nodes file itself
 * (rewritten atomically when its content changes; kept across a restart,
 * with this node down after a clean stop). */
#define _GNU_SOURCE 1 /* accept4 */
#include "hbd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "smallfile.h"

#define PROBE_TIMEOUT_MS 300
#define PEER_FAILS_DOWN 2        /* polls in a row that fail before the peer is down */
#define READY_MAX_MS 120000      /* not caught up by then: ready anyway (logged) */
/* the peer down (alive or not) this long: ready.  Down already takes two
 * failed polls, and while the peer serves nobody a wait is all outage */
#define PEER_DOWN_READY_MS 1000
#define PEER_PROBE_WAIT_MS 2000  /* heartbeats stopped: wait this long past peer_dead_ms for a probe */
#ifndef NODES_KEEP_MAX_MS /* -DNODES_KEEP_MAX_MS=1: no keeping (to see tests fail) */
#define NODES_KEEP_MAX_MS 10000 /* the previous run's nodes file is kept at most this long */
#endif

static void mkdir_parents(const char *path);
static int write_nodes(const char *path, const char *text, size_t len, char *err, size_t errlen);

/* A stamp for a new writing of the nodes file: wall-clock microseconds,
 * and always above the last one written and above old (a kept file's). */
static uint64_t new_stamp(const struct hbd *d, uint64_t old)
{
	uint64_t s = (uint64_t)wall_ms() * 1000, last = d->nodes_stamp > old ? d->nodes_stamp : old;
	return s > last ? s : last + 1;
}

static int agent_on(const struct hbd *d)
{
	return d->cfg.agent_port != 0 && d->cfg.node_address;
}

static void drain_path(const struct hbd *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/heartbeatd.drained", d->cfg.state_dir);
}

static int listen_on(const char *addr, unsigned port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (hb_sockaddr(addr, port, &ss, &sl) < 0) {
		snprintf(err, errlen, "node_address '%s' is not an IP address", addr);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "agent socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
		int e = errno;
		snprintf(err, errlen, "agent_port: cannot listen on %s%s%s:%u: %s%s", ss.ss_family == AF_INET6 ? "[" : "",
			 addr, ss.ss_family == AF_INET6 ? "]" : "", port, strerror(e),
			 e == EADDRINUSE ? " (another heartbeatd, or another program, has this port)" :
			 e == EADDRNOTAVAIL ? " (node_address is not an address of this node)" : "");
		close(fd);
		return -1;
	}
	return fd;
}

/* mhafs is asked every round until the node is ready (readiness is
 * latched), then only when the peer's agent fails (does the peer still
 * serve without its heartbeatd?). */
static void probe_cfg_from(const struct hbd *d, struct probe_cfg *pc)
{
	const struct config *cfg = &d->cfg;
	memset(pc, 0, sizeof(*pc));
	snprintf(pc->peer_address, sizeof(pc->peer_address), "%s", cfg->peer_address ? cfg->peer_address : "");
	pc->agent_port = cfg->node_address ? cfg->agent_port : 0;
	if (pc->agent_port && cfg->control_socket)
		snprintf(pc->control_socket, sizeof(pc->control_socket), "%s", cfg->control_socket);
	pc->ask_mhafs_always = !d->ready;
	pc->peer_imap_port = cfg->health_imap_port;
	pc->interval_ms = cfg->health_interval_ms;
	pc->timeout_ms = PROBE_TIMEOUT_MS;
}

/* The peer as the kept table has it, if it served (up or drained), stands
 * for what its agent last said: a restart of this heartbeatd while the
 * peer's is down too (it died, or restarts as well) must not mark down a
 * peer whose Dovecot serves on.  Until its heartbeats or its agent are
 * heard, the probe's serve check decides (update_peer), as for a peer
 * that went silent during this run. */
static void inherit_peer(struct hbd *d, const struct hn_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct hn_node *p = &t->nodes[i];
		if (p->id == t->self_id || p->id == d->cfg.node_id || p->state == HN_DOWN)
			continue;
		d->kept_peer_id = p->id;
		d->peer_agent_last = p->state;
		d->peer_agent_heard = 1;
		d->peer_weight = p->weight;
		log_info("nodes file: the peer (id %u) was %s in the last run's table: kept so while it serves",
			 p->id, hn_state_name(p->state));
		return;
	}
}

/* The kept table gets a new stamp, its content unchanged.  After a crash
 * it still says what held before it, stamp and all, while the peer may
 * have served this node's users since: the routing script raises a
 * user's MODSEQ floor once per stamp, and without a new one a user's
 * first session here would see the MODSEQs this node gave out before the
 * crash, below what the peer gave out meanwhile (tests/balance/modseq.sh
 * saw HIGHESTMODSEQ go backwards on the return). */
static void restamp_kept(struct hbd *d)
{
	char err[512], text[sizeof(d->nodes_written) + 32];
	struct hn_table t;
	if (homenode_read(d->cfg.nodes_file, &t, err, sizeof(err)) < 0) {
		log_warn("nodes file not restamped at the start: %s", err);
		return;
	}
	inherit_peer(d, &t);
	t.stamp = new_stamp(d, t.stamp);
	int m = homenode_format(&t, text, sizeof(text));
	if (m < 0 || write_nodes(d->cfg.nodes_file, text, (size_t)m, err, sizeof(err)) < 0) {
		log_err("cannot restamp the nodes file at the start: %s", m < 0 ? "too long" : err);
		return;
	}
	d->nodes_stamp = t.stamp;
	log_info("nodes file %s: kept with a new stamp %llu (MODSEQ floors are raised again)",
		 d->cfg.nodes_file, (unsigned long long)t.stamp);
}

int agent_open(struct hbd *d, char *err, size_t errlen)
{
	char path[4200];
	d->agent_fd = -1;
	drain_path(d, path, sizeof(path));
	if (access(path, F_OK) == 0) {
		d->drained = 1;
		log_notice("drained (%s exists, left by mhactl drain): 'mhactl undrain' to serve again", path);
	}
	if (agent_on(d) && access(d->cfg.nodes_file, F_OK) == 0) {
		/* The routing goes on by the last table until this run knows
		 * the peer: a table without it would serve every user here. */
		d->nodes_kept = 1;
		log_notice("nodes file %s: kept as the last run left it until the peer's state is known",
			   d->cfg.nodes_file);
		restamp_kept(d);
	}
	if (agent_on(d)) {
		d->agent_fd = listen_on(d->cfg.node_address, d->cfg.agent_port, err, errlen);
		if (d->agent_fd < 0)
			return -1;
		log_info("agent: answering HAProxy's agent-check on %s port %u, weight %u", d->cfg.node_address,
			 d->cfg.agent_port, config_node_weight(&d->cfg));
	}
	struct probe_cfg pc;
	probe_cfg_from(d, &pc);
	if (probe_start(&d->probe, &pc, d->hpipe[1]) < 0) {
		snprintf(err, errlen, "cannot start the agent probe thread");
		if (d->agent_fd >= 0)
			close(d->agent_fd);
		d->agent_fd = -1;
		return -1;
	}
	return 0;
}


/* On a clean stop the nodes file stays as it is.  heartbeatd may stop
 * alone (a restart, an upgrade) while Dovecot here serves on: marking
 * this node down would have Dovecot here send its users to the peer while
 * their open sessions stay here, two servers on one mailbox.  The peer,
 * told that this node left, keeps it as it was while its IMAP greets and
 * the replication link is up, and takes its users once they fail (the
 * node's mail servers stopping too); removing the file would serve every
 * user here. */
void agent_close(struct hbd *d)
{
	probe_stop(&d->probe);
	if (d->agent_fd >= 0)
		close(d->agent_fd);
	d->agent_fd = -1;
	if (agent_on(d) && (d->nodes_written[0] || d->nodes_kept))
		log_info("nodes file %s kept as it is", d->cfg.nodes_file);
	d->nodes_written[0] = '\0';
}

void agent_reload(struct hbd *d, const char *old_addr, unsigned old_port)
{
	char err[256];
	int was = old_port && old_addr, now = agent_on(d);
	if (!now && d->agent_fd >= 0) {
		close(d->agent_fd);
		d->agent_fd = -1;
		log_notice("agent: off");
	} else if (now && (!was || old_port != d->cfg.agent_port || strcmp(old_addr, d->cfg.node_address))) {
		int fd = listen_on(d->cfg.node_address, d->cfg.agent_port, err, sizeof(err));
		if (fd < 0) {
			log_err("reload: %s (the agent keeps its old socket)", err);
		} else {
			if (d->agent_fd >= 0)
				close(d->agent_fd);
			d->agent_fd = fd;
			log_notice("agent: now on %s port %u", d->cfg.node_address, d->cfg.agent_port);
		}
	}
	struct probe_cfg pc;
	probe_cfg_from(d, &pc);
	probe_set_cfg(&d->probe, &pc);
	d->nodes_written[0] = '\0'; /* the file may have moved: write it again */
}

void agent_serve(struct hbd *d)
{
	char line[AGENT_LINE_MAX], junk[256];
	size_t n = agent_line_format(&d->said, line, sizeof(line));
	for (int i = 0; i < 64; i++) {
		int fd = accept4(d->agent_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		ssize_t w = send(fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w; /* one short line always fits a fresh socket's buffer */
		/* what the client sent (HAProxy's agent-send) is read, so that
		 * close() sends FIN, not a reset that could discard our line */
		while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
			;
		shutdown(fd, SHUT_WR);
		close(fd);
		d->agent_answers++;
	}
}

int agent_set_drain(struct hbd *d, int on, char *err, size_t errlen)
{
	char path[4200];
	drain_path(d, path, sizeof(path));
	if (on) {
		mkdir_parents(path);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, "drained by mhactl drain\n", 24) != 24) {
			snprintf(err, errlen, "cannot record the drain in %s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	} else if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	if (on != d->drained)
		log_notice("%s by mhactl %s%s", on ? "drained" : "undrained", on ? "drain" : "undrain",
			   on ? " (recorded in state_dir: stays drained across restarts)" : "");
	d->drained = on;
	return 0;
}

/* ---- deciding what to say and what to write ---- */

static void update_ready(struct hbd *d, uint64_t now, const struct probe_result *r)
{
	char why[AGENT_REASON] = "";
	if (d->ready)
		return;
	if (r->rounds && mhafs_view_ready(&r->mhafs, why, sizeof(why))) {
		snprintf(d->ready_why, sizeof(d->ready_why), "%s", why);
	} else if (!hbd_peer_alive(d, now) && now - d->start_ms >= d->cfg.peer_dead_ms) {
		snprintf(d->ready_why, sizeof(d->ready_why), "the peer is not alive: nothing to catch up with");
	} else if (d->peer_down_since_ms && now - d->peer_down_since_ms >= PEER_DOWN_READY_MS) {
		/* alive but unable to serve (its mhafs or mail servers dead):
		 * waiting to catch up with it would leave HAProxy no node */
		snprintf(d->ready_why, sizeof(d->ready_why), "the peer has been down for %u s: it serves nobody",
			 PEER_DOWN_READY_MS / 1000);
	} else if (now - d->start_ms >= READY_MAX_MS) {
		snprintf(d->ready_why, sizeof(d->ready_why), "not caught up after %u s (%.100s): ready anyway",
			 READY_MAX_MS / 1000, r->rounds ? why : "mhafs not asked yet");
		log_warn("agent: %s", d->ready_why);
	} else {
		snprintf(d->ready_why, sizeof(d->ready_why), "waiting: %.140s", r->rounds ? why : "mhafs not asked yet");
		return;
	}
	d->ready = 1;
	log_notice("agent: ready (%s)", d->ready_why);
	struct probe_cfg pc;
	probe_cfg_from(d, &pc);
	probe_set_cfg(&d->probe, &pc);
}

/* Does the peer serve mail although its heartbeatd is silent (it left,
 * its heartbeats died, or its agent does not answer)?  Then the nodes file
 * keeps what its agent last said.  Its Dovecot goes on serving the users
 * whose sessions are open there, and its own table, which nobody updates
 * while its heartbeatd is down, still has it as it was: marking it down
 * here would send those users' new sessions to this node, two servers on
 * one mailbox.  A peer that really died fails the probe (its IMAP does
 * not greet, or the replication link drops) and is down at once.  The
 * probe's round must have started after the last heartbeat heard, so a
 * round from before a death does not vouch for the dead.  why gets the
 * reason either way. */
static int peer_serves_silently(const struct hbd *d, uint64_t now, const struct probe_result *r, char *why,
				size_t len)
{
	if (!d->peer_agent_heard) {
		snprintf(why, len, "its agent never answered");
		return 0;
	}
	if (!r->rounds || r->serves < 0 || (!hbd_peer_alive(d, now) && r->poll_ms <= d->peer_rx_ms)) {
		snprintf(why, len, "not probed since its heartbeats stopped");
		return 0;
	}
	snprintf(why, len, "%s", r->serves_why);
	return r->serves == 1;
}

/* The peer as the nodes file gives it: what its agent says (polled after
 * the last heartbeat, if those stopped); down when
 * heartbeats (dead, or it left) or PEER_FAILS_DOWN polls in a row of its
 * agent (unreachable or garbled) say it is gone and it does not serve mail
 * without its heartbeatd either (peer_serves_silently).  Heartbeats that
 * just stopped change nothing until a probe round has asked (kicked at
 * once; at most PEER_PROBE_WAIT_MS more).  A peer not heard since this
 * start that the kept table had serving (inherit_peer) is judged the
 * same way from the first probe round on. */
static void update_peer(struct hbd *d, uint64_t now, const struct probe_result *r)
{
	enum hn_state st;
	char why[AGENT_REASON], swhy[AGENT_REASON];
	int alive = hbd_peer_alive(d, now);
	int left = d->peer_seen && d->peer_msg.type == HB_T_LEAVING;
	if (r->rounds && r->poll_ms >= d->peer_since_ms && r->peer_ok && (alive || r->poll_ms > d->peer_rx_ms)) {
		/* its agent answers (heartbeats or none: it is there) */
		st = r->peer.state;
		if (st == HN_UP)
			d->peer_weight = r->peer.weight;
		d->peer_agent_last = st;
		d->peer_agent_heard = 1;
		snprintf(why, sizeof(why), "its agent says '%s'", st == HN_UP ? "up ready" : hn_state_name(st));
	} else if (alive && r->rounds && r->poll_ms >= d->peer_since_ms && r->peer_fails < PEER_FAILS_DOWN &&
		   d->peer_bal_known) {
		return; /* one failed poll changes nothing yet */
	} else if (!alive && d->peer_seen && d->peer_bal_known && d->peer_bal != HN_DOWN && d->peer_agent_heard &&
		   (!r->rounds || r->poll_ms <= d->peer_rx_ms) &&
		   now - d->peer_rx_ms < d->cfg.peer_dead_ms + PEER_PROBE_WAIT_MS) {
		/* its heartbeats just stopped: does it still serve? */
		if (d->peer_kicked_for != d->peer_rx_ms) {
			d->peer_kicked_for = d->peer_rx_ms;
			probe_kick(&d->probe);
		}
		return;
	} else if (!alive && !d->peer_seen && d->kept_peer_id && !r->rounds) {
		return; /* inherited from the kept table: wait for the first probe round */
	} else if ((!alive && !d->peer_seen && !d->kept_peer_id) ||
		   !peer_serves_silently(d, now, r, swhy, sizeof(swhy))) {
		st = HN_DOWN;
		if (!alive)
			snprintf(why, sizeof(why), "heartbeats: peer %s", !d->peer_seen ? "not heard yet" :
				 left ? "left" : "dead");
		else if (!r->rounds || r->poll_ms < d->peer_since_ms)
			/* a poll from before the peer (re)started says nothing of it */
			snprintf(why, sizeof(why), "its agent not polled since it started");
		else
			snprintf(why, sizeof(why), "its agent at %.46s:%u: %.80s", d->cfg.peer_address,
				 d->cfg.agent_port, r->peer_why);
	} else {
		st = d->peer_agent_last;
		snprintf(why, sizeof(why), "%s, but it serves (%.80s): as its agent last said",
			 !d->peer_seen ? "not heard since this start" : left ? "it left" : !alive ? "heartbeats dead" :
			 r->poll_ms < d->peer_since_ms ? "restarted, agent not polled yet" :
			 "its agent does not answer", swhy);
	}
	if (!d->peer_bal_known || st != d->peer_bal || strcmp(why, d->peer_bal_why))
		log_notice("peer in the nodes file: %s (%s)", hn_state_name(st), why);
	if (st != HN_DOWN)
		d->peer_down_since_ms = 0;
	else if (!d->peer_down_since_ms)
		d->peer_down_since_ms = now ? now : 1;
	d->peer_bal = st;
	d->peer_bal_known = 1;
	snprintf(d->peer_bal_why, sizeof(d->peer_bal_why), "%s", why);
}

static void node_name(const char *name, unsigned id, char *buf, size_t len)
{
	if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "node%u", id);
}

static void build_table(struct hbd *d, struct hn_table *t)
{
	memset(t, 0, sizeof(*t));
	t->self_id = d->cfg.node_id;
	struct hn_node *s = &t->nodes[t->n++];
	s->id = d->cfg.node_id;
	node_name(d->cfg.node_name, s->id, s->name, sizeof(s->name));
	snprintf(s->address, sizeof(s->address), "%s", d->cfg.node_address);
	s->weight = config_node_weight(&d->cfg);
	s->state = d->said.state;
	/* the peer's id is known once it has been heard, or from the kept
	 * table (inherit_peer) */
	unsigned pid = d->peer_seen ? d->peer_msg.node_id : d->kept_peer_id;
	if (!pid || pid == d->cfg.node_id)
		return;
	struct hn_node *p = &t->nodes[t->n++];
	p->id = pid;
	node_name(d->cfg.peer_name, p->id, p->name, sizeof(p->name));
	snprintf(p->address, sizeof(p->address), "%s", d->cfg.peer_address);
	/* last weight its agent gave; before any, ours (nodes are alike) */
	p->weight = d->peer_weight ? d->peer_weight : s->weight;
	p->state = d->peer_bal;
}

static void mkdir_parents(const char *path)
{
	char buf[4200];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
}

static int write_nodes(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
	mkdir_parents(path);
	/* 0644 whatever the umask: Dovecot's auth process reads it */
	int rc = smallfile_replace(AT_FDCWD, path, text, len, 0644, 0);
	if (rc < 0) {
		snprintf(err, errlen, "%.400s: %s", path, strerror(-rc));
		return -1;
	}
	return 0;
}

/* Does this run know the peer's state yet: polled since it started, or
 * dead by its heartbeats (heard dying, or never heard in peer_dead_ms)? */
static int peer_known(const struct hbd *d, uint64_t now, const struct probe_result *r)
{
	if (hbd_peer_alive(d, now))
		return r->rounds && r->poll_ms >= d->peer_since_ms;
	if (!d->peer_seen && d->kept_peer_id) /* unheard: the probe's serve check decides */
		return now - d->start_ms >= d->cfg.peer_dead_ms && d->peer_bal_known;
	return d->peer_seen || now - d->start_ms >= d->cfg.peer_dead_ms;
}

void agent_update(struct hbd *d, uint64_t now)
{
	if (!agent_on(d))
		return;
	struct probe_result r;
	probe_get(&d->probe, &r);
	update_ready(d, now, &r);
	struct agent_say s;
	agent_decide(d->healthy, d->drained, d->ready, config_node_weight(&d->cfg), &s);
	if (s.state != d->said.state || s.weight != d->said.weight || !d->said_known) {
		char line[AGENT_LINE_MAX];
		agent_line_format(&s, line, sizeof(line));
		line[strcspn(line, "\n")] = '\0';
		log_notice("agent: answering '%s' (%s)", line,
			   s.state == HN_DOWN ? (d->healthy < 0 ? "no health verdict yet" : "local health checks fail") :
			   s.state == HN_UP ? "healthy, ready" : d->drained ? "drained" : "not ready yet");
	}
	d->said = s;
	d->said_known = 1;
	update_peer(d, now, &r);
	if (d->nodes_kept) {
		int known = peer_known(d, now, &r);
		if (!known && now - d->start_ms < NODES_KEEP_MAX_MS)
			return;
		d->nodes_kept = 0;
		log_info("nodes file: %s: written anew", known ? "the peer's state is known" :
			 "the peer's state still unknown after 10 s");
	}

	struct hn_table t;
	char text[sizeof(d->nodes_written)], out[sizeof(d->nodes_written) + 32], err[512];
	build_table(d, &t);
	int n = homenode_format(&t, text, sizeof(text));
	if (n < 0 || !strcmp(text, d->nodes_written))
		return;
	/* A new content gets a new stamp (wall-clock microseconds, and always
	 * above the last): a user's MODSEQ floor is raised once per stamp. */
	t.stamp = new_stamp(d, 0);
	int m = homenode_format(&t, out, sizeof(out));
	if (m < 0)
		return;
	if (write_nodes(d->cfg.nodes_file, out, (size_t)m, err, sizeof(err)) < 0) {
		if (strcmp(err, d->nodes_err))
			log_err("cannot write the nodes file: %s", err);
		snprintf(d->nodes_err, sizeof(d->nodes_err), "%s", err);
		return;
	}
	if (d->nodes_err[0])
		log_notice("nodes file %s written again", d->cfg.nodes_file);
	d->nodes_err[0] = '\0';
	memcpy(d->nodes_written, text, (size_t)n + 1);
	d->nodes_stamp = t.stamp;
	log_debug("nodes file %s rewritten", d->cfg.nodes_file);
}

void agent_status(struct hbd *d, FILE *f)
{
	fprintf(f, "weight: %u%s\n", config_node_weight(&d->cfg), d->cfg.node_weight ? "" : " (auto: online CPUs)");
	fprintf(f, "drained: %s\n", d->drained ? "yes" : "no");
	if (!agent_on(d)) {
		fprintf(f, "agent: off\n");
		return;
	}
	char line[AGENT_LINE_MAX];
	agent_line_format(&d->said, line, sizeof(line));
	line[strcspn(line, "\n")] = '\0';
	fprintf(f, "agent: %s (%s port %u, %llu answers)\n", line, d->cfg.node_address, d->cfg.agent_port,
		(unsigned long long)d->agent_answers);
	fprintf(f, "ready: %s (%s)\n", d->ready ? "yes" : "no", d->ready_why[0] ? d->ready_why : "-");
	struct probe_result r;
	probe_get(&d->probe, &r);
	if (!r.rounds)
		fprintf(f, "peer_agent: not polled yet\n");
	else if (r.peer_ok && r.peer.state == HN_UP)
		fprintf(f, "peer_agent: up weight %u\n", r.peer.weight);
	else if (r.peer_ok)
		fprintf(f, "peer_agent: %s\n", hn_state_name(r.peer.state));
	else
		fprintf(f, "peer_agent: failing (%s; %u polls in a row)\n", r.peer_why, r.peer_fails);
	if (r.rounds && r.serves >= 0)
		fprintf(f, "peer_serves: %s (%s)\n", r.serves ? "yes" : "no", r.serves_why);
	if (d->peer_bal_known)
		fprintf(f, "peer_balance: %s weight %u (%s)\n", hn_state_name(d->peer_bal),
			d->peer_weight ? d->peer_weight : config_node_weight(&d->cfg), d->peer_bal_why);
	fprintf(f, "nodes_file: %s%s%s%s\n", d->cfg.nodes_file,
		d->nodes_kept ? " (the last run's, kept until the peer is known)" : "",
		d->nodes_err[0] ? " write failing: " : "", d->nodes_err);
}
