/* mhafsck_peer.c: mhafsck --peer, the comparison of this node's catalog
 * with the running peer's.  The walk runs inside the local mhafs, over its
 * own TLS connection to the peer (node certificates from mhafs.conf): a
 * second connection to the peer's listener would displace the replication
 * stream it serves.  mhafsck asks for it on the control socket (RECONCILE
 * dry: report only; RECONCILE: also send what the peer lacks or holds
 * older), prints the differences by class, and after a repair checks again
 * until what this node can repair is gone. */
#define _GNU_SOURCE
#include "mhafsck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

/* Classes in report order, with their text. */
static const struct {
	const char *name, *text;
} classes[] = {
	{ "missing_on_peer", "missing on the peer" },
	{ "missing_here", "missing here" },
	{ "deleted_on_peer", "deleted on the peer, live here" },
	{ "deleted_here", "deleted here, live on the peer" },
	{ "kind", "file on one side, directory on the other" },
	{ "content", "same name, different content" },
	{ "metadata", "mode, size or mtime differ" },
};
#define NCLASS (sizeof(classes) / sizeof(classes[0]))

struct pdiff {
	int cls;
	int here_newer;
	char *path;
};

struct preport {
	struct pdiff *v;
	size_t n, cap;
	char summary[256];
};

static void preport_free(struct preport *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].path);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* One line "DIFF class newer path". */
static int add_line(struct preport *r, const char *line)
{
	char cls[32], newer[8];
	int off = 0;
	if (sscanf(line, "DIFF %31s %7s %n", cls, newer, &off) != 2 || off == 0)
		return -1;
	size_t k;
	for (k = 0; k < NCLASS && strcmp(classes[k].name, cls) != 0; k++) {
	}
	if (k == NCLASS)
		return -1;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;
		struct pdiff *v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	char *p = strdup(line + off);
	if (!p)
		return -1;
	p[strcspn(p, "\n")] = '\0';
	r->v[r->n++] = (struct pdiff){ (int)k, strcmp(newer, "here") == 0, p };
	return 0;
}

/* Ask the local mhafs; 0, or -1 with err set. */
static int ask(const char *sock, const char *cmd, struct preport *r, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", sock);
		return -1;
	}
	strcpy(sa.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "cannot reach the local mhafs at %s: %s (is it running?)", sock,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = { .tv_sec = 660 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	FILE *f = fdopen(fd, "r+");
	if (!f) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fprintf(f, "%s\n", cmd);
	fflush(f);
	char *line = NULL;
	size_t cap = 0;
	int rc = -1;
	snprintf(err, errlen, "the local mhafs closed the connection without an answer");
	while (getline(&line, &cap, f) > 0) {
		if (strcmp(line, "END\n") == 0) {
			rc = 0;
			break;
		}
		if (strncmp(line, "ERR", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(err, errlen, "mhafs: %s", line + (line[3] == ' ' ? 4 : 3));
			break;
		}
		if (strncmp(line, "SUMMARY ", 8) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(r->summary, sizeof(r->summary), "%s", line + 8);
		} else if (strncmp(line, "DIFF ", 5) == 0 && add_line(r, line) < 0) {
			snprintf(err, errlen, "unexpected line from mhafs: %.80s", line);
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

static size_t here_newer(const struct preport *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += (size_t)r->v[i].here_newer;
	return n;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_report(const struct config *cfg, const struct preport *r, int json, int repaired,
			 const struct preport *before)
{
	if (json) {
		printf("{\"node\":");
		json_str(cfg->node_name ? cfg->node_name : "");
		printf(",\"peer\":");
		json_str(cfg->peer_name ? cfg->peer_name : "");
		if (before)
			printf(",\"found\":%zu,\"repaired\":%s", before->n, repaired ? "true" : "false");
		printf(",\"differences\":[");
		for (size_t i = 0; i < r->n; i++) {
			printf("%s{\"class\":\"%s\",\"newer\":\"%s\",\"path\":", i ? "," : "",
			       classes[r->v[i].cls].name, r->v[i].here_newer ? "here" : "peer");
			json_str(r->v[i].path);
			putchar('}');
		}
		printf("],\"walk\":");
		json_str(r->summary);
		printf("}\n");
		return;
	}
	printf("mhafsck: node %s against peer %s (through the running mhafs's connection)\n",
	       cfg->node_name ? cfg->node_name : "?", cfg->peer_name ? cfg->peer_name : "?");
	if (before)
		printf("mhafsck: %zu difference%s found; this node's newer state sent for %zu\n",
		       before->n, before->n == 1 ? "" : "s", here_newer(before));
	for (size_t k = 0; k < NCLASS; k++) {
		size_t n = 0;
		for (size_t i = 0; i < r->n; i++)
			n += r->v[i].cls == (int)k;
		if (!n)
			continue;
		printf("%s: %zu\n", classes[k].text, n);
		for (size_t i = 0; i < r->n; i++)
			if (r->v[i].cls == (int)k)
				printf("  %s  (%s newer)\n", r->v[i].path, r->v[i].here_newer ? "here" : "peer");
	}
	printf("mhafsck: %zu difference%s left (%s)\n", r->n, r->n == 1 ? "" : "s", r->summary);
	if (r->n && here_newer(r) < r->n)
		printf("mhafsck: where the peer is newer, its own walk repairs: run mhafsck --peer "
		       "--repair on %s\n", cfg->peer_name ? cfg->peer_name : "the peer");
}

int mhafsck_peer(const struct config *cfg, int repair, int json)
{
	struct preport first = { 0 }, now = { 0 };
	char err[512];
	if (!cfg->peer_name || !cfg->control_socket) {
		fprintf(stderr, "mhafsck: --peer needs peer_name and control_socket in the configuration\n");
		return 8;
	}
	if (ask(cfg->control_socket, repair ? "RECONCILE" : "RECONCILE dry", &first, err, sizeof(err)) < 0) {
		fprintf(stderr, "mhafsck: %s\n", err);
		preport_free(&first);
		return 8;
	}
	if (!repair || first.n == 0) {
		print_report(cfg, &first, json, 0, NULL);
		int rc = first.n ? 4 : 0;
		preport_free(&first);
		return rc;
	}
	/* what was sent travels on the journal stream: check again until the
	 * differences this node can repair are gone (or 30 s) */
	int rc = 0;
	for (int tries = 0; tries < 60; tries++) {
		struct timespec ts = { 0, 500000000L };
		nanosleep(&ts, NULL);
		preport_free(&now);
		if ((rc = ask(cfg->control_socket, "RECONCILE dry", &now, err, sizeof(err))) < 0)
			break;
		if (here_newer(&now) == 0)
			break;
	}
	if (rc < 0) {
		fprintf(stderr, "mhafsck: checking again: %s\n", err);
		preport_free(&first);
		preport_free(&now);
		return 8;
	}
	print_report(cfg, &now, json, here_newer(&now) == 0, &first);
	rc = now.n == 0 ? 1 : 4;
	preport_free(&first);
	preport_free(&now);
	return rc;
}
