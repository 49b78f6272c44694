/* mhactl_status.c: "mhactl status": asks the running mhafs over its control
 * socket (config control_socket) for its state and prints it as
 * "key=value" lines: node, journal counters, replication (peer connected,
 * caught up, acknowledged seq, backlog in operations and bytes, last
 * commit-to-acknowledgement time, last error), storage space of both
 * nodes, then heartbeatd's view (role, peer, VIP owner, agent, drain)
 * from its control socket (heartbeat_socket), then the balancer
 * (mhactl_balance.c) and the Postfix queue (mhactl_queue.c); with --json, all of it as one JSON object
 * (mhactl_json.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "mhactl.h"
#include "uask.h"

/* Send one command line to a control socket and copy the answer to out
 * until a line "END" or "OK" or EOF.  0, or -1 with a message printed. */
int mhactl_ask(const char *sock, const char *cmd, FILE *out)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "mhactl: control socket path too long: %s\n", sock);
		return -1;
	}
	strcpy(sa.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "mhactl: cannot reach %s: %s (is the daemon running?)\n", sock,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	FILE *f = fdopen(fd, "r+");
	if (!f) {
		close(fd);
		return -1;
	}
	fprintf(f, "%s\n", cmd);
	fflush(f);
	char line[1024];
	int ok = -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strcmp(line, "END\n") || !strcmp(line, "OK\n")) {
			ok = 0;
			break;
		}
		if (!strncmp(line, "ERR", 3)) {
			fprintf(stderr, "mhactl: %s", line);
			break;
		}
		fputs(line, out);
	}
	fclose(f);
	if (ok < 0)
		fprintf(stderr, "mhactl: incomplete answer from %s\n", sock);
	return ok;
}

/* heartbeatd's answer ("key: value" lines until it closes) as
 * "heartbeat_key=value" lines; "heartbeat=not running" if it is not. */
static void heartbeat_status(const char *sock, FILE *out)
{
	char why[256];
	char *ans = uask(sock, "status\n", 5000, 1 << 20, why, sizeof(why));
	if (!ans) {
		fprintf(out, "heartbeat=not running (%s: %s)\n", sock, why);
		return;
	}
	fprintf(out, "heartbeat=running\n");
	for (char *line = ans, *next; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		char *colon = strstr(line, ": ");
		if (!colon)
			continue;
		*colon = '\0';
		for (char *p = line; *p; p++)
			if (*p == ' ')
				*p = '_';
		fprintf(out, "heartbeat_%s=%s\n", line, colon + 2);
	}
	free(ans);
}

int cmd_status(const struct config *cfg, int argc, char **argv)
{
	int json = argc == 2 && !strcmp(argv[1], "--json");
	if (argc > 1 && !json) {
		fprintf(stderr, "mhactl: usage: status [--json]\n");
		return 2;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *out = json ? open_memstream(&text, &len) : stdout;
	if (!out) {
		fprintf(stderr, "mhactl: status: out of memory\n");
		return 3;
	}
	int rc = mhactl_ask(cfg->control_socket, "STATUS", out) == 0 ? 0 : 1;
	heartbeat_status(cfg->heartbeat_socket, out);
	balance_status(cfg, out);
	queue_status(cfg, out);
	if (json) {
		fclose(out);
		if (status_json(text, stdout) < 0)
			rc = 3;
		free(text);
	}
	return rc;
}

int cmd_peer(const struct config *cfg, int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "up") && strcmp(argv[1], "down"))) {
		fprintf(stderr, "mhactl: usage: peer up|down\n");
		return 2;
	}
	char cmd[16];
	snprintf(cmd, sizeof(cmd), "PEER %s", argv[1]);
	return mhactl_ask(cfg->control_socket, cmd, stdout) == 0 ? 0 : 1;
}
