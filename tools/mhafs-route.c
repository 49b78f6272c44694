/* mhafs-route.c: Postfix's transport table for the serving pair.  Postfix
 * asks it (socketmap_table(5), run by spawn(8) with the connection on
 * standard input and output) where a recipient's mail goes; for a user
 * that the other node serves it answers that node's routed LMTP port, so
 * the message takes one hop instead of two (Postfix here, Dovecot here
 * proxying, Dovecot there).  The answer is the one Dovecot's routing
 * script (conf/mhafs-home.lua) gives for the same user: the one live node
 * with the user's mail sessions open, else the home node, from heartbeatd's
 * node table.  On the routed port the serving node's script decides again
 * (no one-hop shortcut there), so an answer gone stale in Postfix's queue
 * or cache is proxied on rather than served by a second node.  A user
 * served here, or anything it cannot decide, is NOTFOUND, and Postfix's
 * own transport (Dovecot here, which routes again) delivers it.  The
 * fallback (-f, this node's own Dovecot LMTP as an inet nexthop) is where
 * Postfix turns when the serving node does not answer.
 *
 * Postfix looks every recipient up in transport_maps, so a lookup that
 * fails defers all mail, not only the routed: it never answers TEMP, and
 * with a bad command line or configuration it logs why and answers
 * NOTFOUND to everything (mail then takes the proxy hop, nothing waits).
 *
 *   mhafs-route [-c CONFIG] [-t TRANSPORT] [-p PORT] [-f NEXTHOP]
 *               [-x DELIMITERS] DOMAIN...
 *
 * Logs to syslog; to standard error only when that is not Postfix's
 * socket (run by hand). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "homenode.h"
#include "log.h"
#include "socketmap.h"

#define MAP_NAME "route"
#define REPLY_MAX 512

struct route {
	const struct config *cfg; /* NULL: routing off, every answer NOTFOUND */
	const char *transport;  /* Postfix's LMTP transport (master.cf), "lmtp" */
	const char *port;       /* the nodes' routed Dovecot LMTP port */
	const char *fallback;   /* a nexthop tried after the peer ("" = none) */
	const char *delimiters; /* Dovecot's recipient_delimiter */
	char **domains;         /* the domains Dovecot's LMTP delivers */
	int ndomains;
	struct log_limit table_limit;
};

static int routed_domain(const struct route *rt, const char *domain)
{
	for (int i = 0; i < rt->ndomains; i++)
		if (!strcasecmp(rt->domains[i], domain))
			return 1;
	return 0;
}

/* The reply data for one key: status "OK" with data the nexthop, or
 * "NOTFOUND" (served here, or not ours to route). */
static const char *decide(struct route *rt, char *key, char *data, size_t len)
{
	char *at = strrchr(key, '@');
	data[0] = '\0';
	if (!rt->cfg || !at || at == key || !routed_domain(rt, at + 1))
		return "NOTFOUND";
	/* Dovecot routes the user without the address extension */
	size_t user = strcspn(key, rt->delimiters);
	if (user < (size_t)(at - key))
		memmove(key + user, at, strlen(at) + 1);
	if (key[0] == '@')
		return "NOTFOUND";
	struct hn_table t;
	char err[512];
	if (homenode_read(rt->cfg->nodes_file, &t, err, sizeof(err)) < 0) {
		log_limited(&rt->table_limit, 60, LOG_WARNING,
			    "no node table (%s): mail is handed to this node's Dovecot", err);
		return "NOTFOUND";
	}
	size_t home; /* no node up (1): home is this node, sessions still count */
	if (homenode_pick(t.nodes, t.n, t.self_id, key, &home) < 0)
		return "NOTFOUND";
	size_t at_node = homenode_serving(homenode_sessions(&t, rt->cfg->sessions_dir, key), home);
	const struct hn_node *nd = &t.nodes[at_node];
	if (nd->id == t.self_id)
		return "NOTFOUND";
	int n = snprintf(data, len, "%s:inet:[%s]:%s%s%s", rt->transport, nd->address, rt->port,
			 rt->fallback[0] ? ", " : "", rt->fallback);
	if (n < 0 || (size_t)n >= len) {
		data[0] = '\0';
		return "NOTFOUND";
	}
	log_debug("%s: served by %s: %s", key, nd->name, data);
	return "OK";
}

/* Answer one parsed request into out; returns the reply's length or -1. */
static long answer(struct route *rt, const struct sm_request *r, char *out, size_t outlen)
{
	char key[SM_REQUEST_MAX + 1], data[REPLY_MAX];
	if (r->name_len != strlen(MAP_NAME) || memcmp(r->name, MAP_NAME, r->name_len) != 0)
		return sm_format(out, outlen, "PERM", "unknown map name (mhafs-route serves \"" MAP_NAME "\")");
	/* the key as the routing script hashes it: ASCII A-Z lowercased */
	for (size_t i = 0; i < r->key_len; i++) {
		char c = r->key[i];
		key[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
	}
	key[r->key_len] = '\0';
	const char *status = decide(rt, key, data, sizeof(data));
	return sm_format(out, outlen, status, data);
}

static int write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Serve requests from standard input until it ends.  0 at a clean end;
 * 1 on a malformed request (answered PERM, then the connection ends: its
 * framing is lost) or a failed write. */
static int serve(struct route *rt)
{
	char buf[SM_FRAME_MAX], out[REPLY_MAX + 64];
	size_t have = 0;
	for (;;) {
		struct sm_request r;
		const char *why = NULL;
		long used = sm_parse(buf, have, &r, &why);
		if (used < 0) {
			log_warn("malformed request from Postfix: %s; connection closed", why);
			long n = sm_format(out, sizeof(out), "PERM", why);
			if (n > 0)
				(void)write_all(out, (size_t)n);
			return 1;
		}
		if (used > 0) {
			long n = answer(rt, &r, out, sizeof(out));
			if (n < 0 || write_all(out, (size_t)n) < 0)
				return 1;
			memmove(buf, buf + used, have - (size_t)used);
			have -= (size_t)used;
			continue;
		}
		ssize_t got = read(0, buf + have, sizeof(buf) - have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			log_warn("read: %s", strerror(errno));
			return 1;
		}
		if (got == 0) {
			if (have > 0)
				log_warn("connection ended inside a request");
			return have > 0;
		}
		have += (size_t)got;
	}
}

/* -f: one inet nexthop after the first, "HOST:PORT" or "[ADDRESS]:PORT":
 * no prefix, no list, no blank. */
static int fallback_ok(const char *f)
{
	const char *colon = strrchr(f, ':');
	if (!strncmp(f, "unix:", 5) || !strncmp(f, "inet:", 5) || strpbrk(f, " ,\t\r\n") ||
	    !colon || colon == f || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return 0;
	if (f[0] == '[')
		return colon[-1] == ']' && colon - f > 2;
	return !strchr(f, '[') && !strchr(f, ']') && memchr(f, ':', (size_t)(colon - f)) == NULL;
}

/* A bad command line or configuration: run by hand, say so and exit 2;
 * run by spawn(8) (standard output is Postfix's socket, and so is standard
 * error), log it and serve with routing off. */
static int refuse(struct route *rt, const char *why)
{
	struct stat st;
	if (fstat(1, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "mhafs-route: %s\n", why);
		return 2;
	}
	log_err("%s; routing off: every lookup answered NOTFOUND, mail goes through this node's Dovecot", why);
	rt->cfg = NULL;
	return serve(rt);
}

#define USAGE "usage: mhafs-route [-c CONFIG] [-t TRANSPORT] [-p PORT] [-f NEXTHOP] [-x DELIMITERS] DOMAIN..."

int main(int argc, char **argv)
{
	const char *conf = NULL;
	struct route rt = { .transport = "lmtp", .port = "10024", .fallback = "", .delimiters = "+" };
	int c, bad = 0;
	log_init("mhafs-route", 0, LOG_INFO);
	while ((c = getopt(argc, argv, "c:t:p:f:x:")) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 't': rt.transport = optarg; break;
		case 'p': rt.port = optarg; break;
		case 'f': rt.fallback = optarg; break;
		case 'x': rt.delimiters = optarg; break;
		default: bad = 1;
		}
	}
	if (bad || optind >= argc)
		return refuse(&rt, USAGE);
	rt.domains = argv + optind;
	rt.ndomains = argc - optind;
	char why[512];
	/* a word each: they become one Postfix nexthop list, which Postfix
	 * parses as inet destinations after the first: a "unix:" there makes
	 * its lmtp client die (fatal), and master(8) then throttles every
	 * LMTP delivery, so -f is checked here */
	if (!rt.transport[0] || strlen(rt.transport) > 64 || strpbrk(rt.transport, " ,:\t") || !rt.port[0] ||
	    strspn(rt.port, "0123456789") != strlen(rt.port) || strlen(rt.port) > 5)
		return refuse(&rt, "-t is a transport name (up to 64 bytes), -p a port number");
	if (rt.fallback[0] && (!fallback_ok(rt.fallback) || strlen(rt.fallback) > 200)) {
		snprintf(why, sizeof(why), "-f %.200s: not an inet nexthop HOST:PORT or [ADDRESS]:PORT "
			 "(Postfix takes no unix: or inet: prefix after the first nexthop)", rt.fallback);
		return refuse(&rt, why);
	}
	if (strpbrk(rt.delimiters, "@/"))
		return refuse(&rt, "-x: a delimiter may not be '@' or '/'");
	struct config cfg;
	config_defaults(&cfg);
	if (config_load(&cfg, conf ? conf : MHAFS_DEFAULT_CONFIG, conf == NULL, why, sizeof(why)) < 0) {
		config_free(&cfg);
		return refuse(&rt, why);
	}
	log_init("mhafs-route", 0, log_level_from_name(cfg.log_level));
	rt.cfg = &cfg;
	int rc = serve(&rt);
	config_free(&cfg);
	return rc;
}
