/* mhactl_json.c: "mhactl status --json": the key=value lines of mhactl
 * status as one JSON object, key for key (the schema is in mhactl(8)):
 *   - a count, size, time or id (status_number below) is a JSON number,
 *     or null where the plain line says "-" (not known);
 *   - heartbeat_vip and heartbeat_transition, which heartbeatd repeats,
 *     are arrays of strings (empty when it has none), as is any other key
 *     that comes more than once;
 *   - heartbeat_counters ("tx=1 rx_ok=2 ...") is an object of numbers;
 *   - everything else is the line's value as a string (hlc too: it does
 *     not fit a double).
 * Keys come in the order of the plain output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mhactl.h"

#define MAX_LINES 4096

static const char *const always_array[] = { "heartbeat_vip", "heartbeat_transition" };

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

/* Whether key's value is a number (see the top of the file). */
static int status_number(const char *key)
{
	static const char *const exact[] = { "node_id", "ops_journaled", "ops_node_local", "journal_failed",
		"sql_statements", "peer_protocol", "last_seq", "acked_seq", "backlog_ops", "backlog_bytes",
		"sent_ops", "sent_bytes", "applied_ops", "applied_skipped", "peer_applied_seq", "apply_syncs",
		"uidlist_merges", "tombstones_collected", "commit_waits", "commit_timeouts",
		"last_commit_ack_us", "space_hook_runs", "space_hook_failures", "heartbeat_transitions",
		"queue_messages", "takeover_messages", "takeover_left" };
	static const char *const prefix[] = { "conflicts_", "reconcile_", "dotlocks_" };
	static const char *const suffix[] = { "_pct", "_bytes", "_ms" };
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!strcmp(key, exact[i]))
			return 1;
	for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
		if (!strncmp(key, prefix[i], strlen(prefix[i])))
			return 1;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++)
		if (!strncmp(key, "space_", 6) && has_suffix(key, suffix[i]))
			return 1;
	return !strcmp(key, "heartbeat_role_since_ms");
}

/* A whole decimal number, optionally negative. */
static int is_integer(const char *v)
{
	const char *p = v + (*v == '-');
	if (!*p || strlen(p) > 19)
		return 0;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

static void put_value(FILE *out, const char *key, const char *v)
{
	if (status_number(key) && !strcmp(v, "-"))
		fputs("null", out);
	else if (status_number(key) && is_integer(v))
		fputs(v, out);
	else
		json_str(out, v);
}

/* "a=1 b=2" as {"a":1,"b":2}; words without '=' are left out. */
static void put_pairs(FILE *out, char *v)
{
	int first = 1;
	fputc('{', out);
	for (char *save = NULL, *w = strtok_r(v, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(w, '=');
		if (!eq)
			continue;
		*eq = '\0';
		json_key(out, w, first);
		first = 0;
		if (is_integer(eq + 1))
			fputs(eq + 1, out);
		else
			json_str(out, eq + 1);
	}
	fputc('}', out);
}

static int is_array(char **key, size_t n, const char *k)
{
	for (size_t i = 0; i < sizeof(always_array) / sizeof(always_array[0]); i++)
		if (!strcmp(k, always_array[i]))
			return 1;
	int seen = 0;
	for (size_t i = 0; i < n; i++)
		seen += !strcmp(key[i], k);
	return seen > 1;
}

int status_json(char *text, FILE *out)
{
	char **key = calloc(MAX_LINES, sizeof(*key)), **val = calloc(MAX_LINES, sizeof(*val));
	size_t n = 0;
	if (!key || !val) {
		free(key);
		free(val);
		return -1;
	}
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < MAX_LINES;
	     l = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(l, '=');
		if (!eq)
			continue;
		*eq = '\0';
		key[n] = l;
		val[n++] = eq + 1;
	}
	int first = 1, hb = 0;
	fputs("{", out);
	for (size_t i = 0; i < n; i++) {
		int done = 0;
		for (size_t j = 0; j < i && !done; j++)
			done = !strcmp(key[j], key[i]);
		if (done)
			continue; /* an array, written at its first line */
		hb |= !strcmp(key[i], "heartbeat") && !strcmp(val[i], "running");
		fputs(first ? "\n  " : ",\n  ", out);
		json_key(out, key[i], 1);
		first = 0;
		if (!strcmp(key[i], "heartbeat_counters")) {
			put_pairs(out, val[i]);
		} else if (is_array(key, n, key[i])) {
			fputc('[', out);
			for (size_t j = i, k = 0; j < n; j++)
				if (!strcmp(key[j], key[i])) {
					fputs(k++ ? ", " : "", out);
					json_str(out, val[j]);
				}
			fputc(']', out);
		} else {
			put_value(out, key[i], val[i]);
		}
	}
	/* heartbeatd's lists, empty when it gave none */
	for (size_t i = 0; hb && i < sizeof(always_array) / sizeof(always_array[0]); i++) {
		int present = 0;
		for (size_t j = 0; j < n; j++)
			present |= !strcmp(key[j], always_array[i]);
		if (!present)
			fprintf(out, ",\n  \"%s\": []", always_array[i]);
	}
	fputs("\n}\n", out);
	free(key);
	free(val);
	return ferror(out) ? -1 : 0;
}
