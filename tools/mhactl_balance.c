/* mhactl_balance.c: the commands of mhactl about balancing the two
 * serving nodes:
 *   mhactl user ADDRESS    which node serves a user and why (nodes_file)
 *   mhactl drain|undrain   via heartbeatd's control socket
 * and the "balancer_" lines of mhactl status: each node's weight and
 * state from the nodes file and, when haproxy_socket answers "show stat",
 * each node's share of the current connections. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "homenode.h"
#include "mhactl.h"
#include "uask.h"

#define EXIT_ERR 3
#define HAPROXY_MAX (1 << 20)

/* Send cmd, read the whole answer (until the peer closes): malloc'd, or
 * NULL with why. */
static char *ask_all(const char *path, const char *cmd, char *why, size_t len)
{
	return uask(path, cmd, 5000, HAPROXY_MAX, why, len);
}

/* ---- mhactl user ---- */

static void list_up(const struct hn_table *t, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < t->n; i++)
		if (t->nodes[i].state == HN_UP) {
			int n = snprintf(buf + off, len - off, "%s%s", off ? "," : "", t->nodes[i].name);
			if (n < 0 || (size_t)n >= len - off)
				return;
			off += (size_t)n;
		}
}

static void list_not_up(const struct hn_table *t, size_t skip, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < t->n; i++)
		if (t->nodes[i].state != HN_UP && i != skip) {
			int n = snprintf(buf + off, len - off, "%s%s is %s", off ? ", " : "", t->nodes[i].name,
					 hn_state_name(t->nodes[i].state));
			if (n < 0 || (size_t)n >= len - off)
				return;
			off += (size_t)n;
		}
}

/* Who serves login now: the one live node (up, or drained: it serves the
 * sessions it holds) with its sessions open (the published sessions_dir,
 * heartbeatd's sessions.c), else the home node, as Dovecot's routing script
 * decides. */
static void served_by(const struct config *cfg, const struct hn_table *t, const char *key,
		      size_t home)
{
	char with[256] = "";
	unsigned mask = homenode_sessions(t, cfg->sessions_dir, key);
	size_t at = homenode_serving(mask, home);
	for (size_t i = 0; i < t->n; i++)
		if (mask & (1u << i)) {
			size_t l = strlen(with);
			snprintf(with + l, sizeof(with) - l, "%s%s", l ? " " : "", t->nodes[i].name);
		}
	if (mask && !(mask & (mask - 1))) {
		printf("serves=%s\n", t->nodes[at].name);
		printf("sessions=open on %s: served there until they end%s%s\n", t->nodes[at].name,
		       at == home ? "" : ", not by the home node ", at == home ? "" : t->nodes[home].name);
	} else {
		printf("serves=%s\n", t->nodes[home].name);
		printf("sessions=%s%s\n", !cfg->sessions_dir || !cfg->sessions_dir[0] ? "not published (no sessions_dir)"
		       : mask ? "open on " : "none open on a live node", with);
	}
}

int cmd_user(const struct config *cfg, int argc, char **argv)
{
	if (argc != 2 || !argv[1][0]) {
		fprintf(stderr, "mhactl: usage: user ADDRESS\n");
		return 2;
	}
	const char *login = argv[1];
	struct hn_table t;
	char err[512];
	if (homenode_read(cfg->nodes_file, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "mhactl: user: cannot read the nodes file: %s (heartbeatd writes it when "
			"agent_port is set)\n", err);
		return EXIT_ERR;
	}
	size_t home = 0, nat = 0;
	int rc = homenode_pick(t.nodes, t.n, t.self_id, login, &home);
	homenode_pick_all(t.nodes, t.n, login, &nat);
	const struct hn_node *h = &t.nodes[home];
	char key[256]; /* the login as the routing script keys it: ASCII lowercased */
	snprintf(key, sizeof(key), "%s", login);
	for (char *p = key; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	printf("user=%s\n", login);
	printf("key=%s\n", key);
	printf("home=%s (id %u, %s)\n", h->name, h->id, h->address);
	char up[256], others[512];
	list_up(&t, up, sizeof(up));
	if (rc == 1) {
		printf("reason=no node is up: %s (this node) serves\n", h->name);
	} else if (home == nat) {
		list_not_up(&t, t.n, others, sizeof(others));
		printf("reason=highest weighted score among up nodes %s%s%s%s\n", up, others[0] ? " (" : "", others,
		       others[0] ? ")" : "");
	} else {
		printf("reason=%s (natural home) is %s: %s has the highest weighted score among up nodes %s\n",
		       t.nodes[nat].name, hn_state_name(t.nodes[nat].state), h->name, up);
	}
	printf("natural_home=%s (id %u)\n", t.nodes[nat].name, t.nodes[nat].id);
	served_by(cfg, &t, key, home);
	for (size_t i = 0; i < t.n; i++) {
		const struct hn_node *nd = &t.nodes[i];
		printf("score_%s=%.6g (id %u, weight %u, %s%s)\n", nd->name,
		       homenode_score(homenode_hash(login, nd->id), nd->weight), nd->id, nd->weight,
		       hn_state_name(nd->state), nd->id == t.self_id ? ", this node" : "");
	}
	printf("nodes_file=%s\n", cfg->nodes_file);
	return 0;
}

/* ---- mhactl drain / undrain ---- */

int cmd_drain(const struct config *cfg, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "mhactl: %s takes no arguments\n", argv[0]);
		return 2;
	}
	char why[256], cmd[16];
	snprintf(cmd, sizeof(cmd), "%s\n", argv[0]);
	char *ans = ask_all(cfg->heartbeat_socket, cmd, why, sizeof(why));
	if (!ans) {
		fprintf(stderr, "mhactl: %s: heartbeatd at %s: %s (is it running?)\n", argv[0],
			cfg->heartbeat_socket, why);
		return 1;
	}
	int rc = 0;
	ans[strcspn(ans, "\n")] = '\0';
	if (!strncmp(ans, "drained: ", 9)) {
		printf("drained=%s\n", ans + 9);
	} else {
		fprintf(stderr, "mhactl: %s: heartbeatd answered: %s\n", argv[0], ans);
		rc = 1;
	}
	free(ans);
	return rc;
}

/* ---- mhactl status: the balancer ---- */

/* Index of the column named name in HAProxy's CSV header, or -1. */
static int csv_col(const char *header, const char *name)
{
	int col = 0;
	size_t nl = strlen(name);
	for (const char *p = header;; col++) {
		size_t l = strcspn(p, ",\n");
		if (l == nl && !strncmp(p, name, nl))
			return col;
		if (p[l] != ',')
			return -1;
		p += l + 1;
	}
}

/* Field col of a CSV line (no quoting in show stat) into buf. */
static int csv_field(const char *line, int col, char *buf, size_t len)
{
	const char *p = line;
	for (int i = 0; i < col; i++) {
		p = strchr(p, ',');
		if (!p)
			return -1;
		p++;
	}
	size_t l = strcspn(p, ",\n");
	if (l >= len)
		return -1;
	memcpy(buf, p, l);
	buf[l] = '\0';
	return 0;
}

/* Sum of scur per node name (server name) over all backends into cur. */
static int haproxy_shares(const char *text, const struct hn_table *t, unsigned long long *cur,
			  char *why, size_t len)
{
	if (strncmp(text, "# ", 2)) {
		snprintf(why, len, "not a 'show stat' answer");
		return -1;
	}
	int csv = csv_col(text + 2, "svname"), cs = csv_col(text + 2, "scur");
	if (csv < 0 || cs < 0) {
		snprintf(why, len, "no svname/scur columns in 'show stat'");
		return -1;
	}
	/* the header's "# pxname" is column 0, as a row's pxname */
	for (const char *l = strchr(text, '\n'); l && l[1]; l = strchr(l, '\n')) {
		l++;
		char sv[128], sc[32];
		if (csv_field(l, csv, sv, sizeof(sv)) < 0 || csv_field(l, cs, sc, sizeof(sc)) < 0)
			continue;
		for (size_t i = 0; i < t->n; i++)
			if (!strcmp(sv, t->nodes[i].name))
				cur[i] += strtoull(sc, NULL, 10);
	}
	return 0;
}

void balance_status(const struct config *cfg, FILE *out)
{
	struct hn_table t;
	char err[512];
	if (homenode_read(cfg->nodes_file, &t, err, sizeof(err)) < 0) {
		fprintf(out, "balancer=no nodes file (%s)\n", err);
		return;
	}
	fprintf(out, "balancer_nodes_file=%s\n", cfg->nodes_file);
	for (size_t i = 0; i < t.n; i++)
		fprintf(out, "balancer_node_%s=%s weight %u id %u %s%s\n", t.nodes[i].name,
			hn_state_name(t.nodes[i].state), t.nodes[i].weight, t.nodes[i].id, t.nodes[i].address,
			t.nodes[i].id == t.self_id ? " (this node)" : "");
	if (!cfg->haproxy_socket) {
		fprintf(out, "balancer_haproxy=not configured (haproxy_socket)\n");
		return;
	}
	char why[256];
	char *text = ask_all(cfg->haproxy_socket, "show stat\n", why, sizeof(why));
	unsigned long long cur[HN_MAX_NODES] = { 0 }, all = 0;
	if (!text || haproxy_shares(text, &t, cur, why, sizeof(why)) < 0) {
		fprintf(out, "balancer_haproxy=no answer from %s: %s\n", cfg->haproxy_socket, why);
		free(text);
		return;
	}
	free(text);
	for (size_t i = 0; i < t.n; i++)
		all += cur[i];
	fprintf(out, "balancer_haproxy=%s: %llu connection%s to the nodes\n", cfg->haproxy_socket, all,
		all == 1 ? "" : "s");
	for (size_t i = 0; i < t.n; i++)
		fprintf(out, "balancer_connections_%s=%llu (%.1f%%)\n", t.nodes[i].name, cur[i],
			all ? 100.0 * (double)cur[i] / (double)all : 0.0);
}
