/* agent_line.c: the words of HAProxy's agent-check as heartbeatd speaks
 * them ("up ready W%", "up drain", "down"), the strict parser of the
 * peer's answer, and readiness read from the local mhafs's STATUS. */
#include "agent.h"

#include <stdio.h>
#include <string.h>

size_t agent_line_format(const struct agent_say *s, char *buf, size_t len)
{
	int n;
	if (s->state == HN_UP)
		n = snprintf(buf, len, "up ready %u%%\n", s->weight);
	else if (s->state == HN_DRAIN)
		n = snprintf(buf, len, "up drain\n");
	else
		n = snprintf(buf, len, "down\n");
	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

void agent_decide(int healthy, int drained, int ready, unsigned weight, struct agent_say *s)
{
	s->weight = weight;
	s->state = healthy != 1 ? HN_DOWN : (drained || !ready) ? HN_DRAIN : HN_UP;
}

static void say_why(char *why, size_t len, const char *what, const char *buf, size_t n)
{
	char shown[AGENT_LINE_MAX];
	size_t k = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n && k + 1 < sizeof(shown); i++)
		shown[k++] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '?';
	shown[k] = '\0';
	snprintf(why, len, "%s: '%s'", what, shown);
}

int agent_line_parse(const char *buf, size_t n, struct agent_say *s, char *why, size_t whylen)
{
	char line[AGENT_LINE_MAX];
	if (n == 0) {
		snprintf(why, whylen, "closed without an answer");
		return -1;
	}
	if (n >= sizeof(line) || memchr(buf, '\0', n)) {
		say_why(why, whylen, "garbled answer", buf, n);
		return -1;
	}
	memcpy(line, buf, n);
	line[n] = '\0';
	char *nl = strchr(line, '\n');
	if (nl && nl[1] != '\0') {
		say_why(why, whylen, "garbled answer (more than one line)", buf, n);
		return -1;
	}
	if (nl)
		*nl = '\0';
	if (!strcmp(line, "down")) {
		s->state = HN_DOWN;
		s->weight = 0;
		return 0;
	}
	if (!strcmp(line, "up drain")) {
		s->state = HN_DRAIN;
		s->weight = 0;
		return 0;
	}
	unsigned w = 0;
	int used = 0;
	if (!strncmp(line, "up ready ", 9) && line[9] >= '1' && line[9] <= '9' &&
	    sscanf(line + 9, "%3u%%%n", &w, &used) == 1 && used > 0 && line[9 + used] == '\0' &&
	    w >= 1 && w <= HN_WEIGHT_MAX) {
		s->state = HN_UP;
		s->weight = w;
		return 0;
	}
	say_why(why, whylen, "garbled answer", buf, n);
	return -1;
}

static int yes(const char *v)
{
	return !strcmp(v, "yes") ? 1 : !strcmp(v, "no") ? 0 : -1;
}

void mhafs_view_line(struct mhafs_view *v, const char *line)
{
	static const struct { const char *key; size_t off; } keys[] = {
		{ "peer_connected=", offsetof(struct mhafs_view, peer_connected) },
		{ "peer_synced=", offsetof(struct mhafs_view, peer_synced) },
		{ "peer_stream_in=", offsetof(struct mhafs_view, peer_stream_in) },
	};
	if (!strncmp(line, "replication=", 12)) {
		v->replication = !strcmp(line + 12, "on") ? 1 : !strcmp(line + 12, "off") ? 0 : -1;
		return;
	}
	if (!strncmp(line, "full_sync=", 10)) {
		v->full_sync = !strcmp(line + 10, "no") ? 0 : 1;
		return;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t kl = strlen(keys[i].key);
		if (!strncmp(line, keys[i].key, kl))
			*(int *)((char *)v + keys[i].off) = yes(line + kl);
	}
}

int mhafs_view_ready(const struct mhafs_view *v, char *why, size_t whylen)
{
	if (!v->answered) {
		snprintf(why, whylen, "mhafs has not answered STATUS");
		return 0;
	}
	if (v->replication == 0) {
		snprintf(why, whylen, "mhafs replicates to no peer");
		return 1;
	}
	if (v->replication != 1) {
		snprintf(why, whylen, "mhafs's STATUS has no replication=");
		return 0;
	}
	if (v->peer_connected != 1 || v->peer_stream_in != 1) {
		snprintf(why, whylen, "mhafs is not connected to the peer both ways");
		return 0;
	}
	if (v->full_sync != 0) {
		snprintf(why, whylen, "mhafs is sending the peer a full sync");
		return 0;
	}
	if (v->peer_synced != 1) {
		snprintf(why, whylen, "mhafs's stream to the peer has not caught up");
		return 0;
	}
	snprintf(why, whylen, "mhafs is connected to the peer both ways and caught up");
	return 1;
}
