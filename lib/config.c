/* config.c: the table of configuration keys, their types, ranges and
 * defaults, and the line parser for mhafs.conf.  One table is the single
 * place a key is declared. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

enum key_type { K_STR, K_UINT, K_INT64, K_BOOL, K_DOUBLE, K_SYNCMODE, K_LIST, K_WEIGHT };

struct key_def {
	const char *name;
	enum key_type type;
	size_t off;        /* offset of the field in struct config */
	size_t count_off;  /* K_LIST: offset of the element count */
	long long min, max;/* K_UINT/K_INT64 range; K_DOUBLE uses them too */
	const char *def;   /* default as text; NULL = unset */
};

#define F(f) offsetof(struct config, f)
static const struct key_def keys[] = {
	{ "node_name",             K_STR,  F(node_name), 0, 0, 0, NULL },
	{ "node_id",               K_UINT, F(node_id), 0, 1, 65535, NULL },
	{ "backing_dir",           K_STR,  F(backing_dir), 0, 0, 0, NULL },
	{ "mount_point",           K_STR,  F(mount_point), 0, 0, 0, NULL },
	{ "state_dir",             K_STR,  F(state_dir), 0, 0, 0, LOCALSTATEDIR "/lib/mhafs" },
	{ "node_local",            K_LIST, F(node_local), F(n_node_local), 0, 0,
	  "dovecot.index* dovecot.list.index* *.lock dovecot-uidlist.tmp tmp/" },
	{ "fsync_commit",          K_LIST, F(fsync_commit), F(n_fsync_commit), 0, 0, ".mhafs-queue/" },
	{ "queue_on_store",        K_BOOL, F(queue_on_store), 0, 0, 0, "no" },
	{ "entry_timeout",         K_DOUBLE, F(entry_timeout), 0, 0, 86400, "10" },
	{ "attr_timeout",          K_DOUBLE, F(attr_timeout), 0, 0, 86400, "10" },
	{ "writeback_cache",       K_BOOL, F(writeback_cache), 0, 0, 0, "no" },
	{ "xattrs",                K_BOOL, F(xattrs), 0, 0, 0, "no" },
	{ "control_socket",        K_STR,  F(control_socket), 0, 0, 0, "/run/mhafs/mhafs.sock" },
	{ "clock_offset_ms",       K_INT64, F(clock_offset_ms), 0, -86400000LL, 86400000LL, "0" },
	{ "peer_name",             K_STR,  F(peer_name), 0, 0, 0, NULL },
	{ "peer_address",          K_STR,  F(peer_address), 0, 0, 0, NULL },
	{ "peer_port",             K_UINT, F(peer_port), 0, 1, 65535, "7410" },
	{ "listen_address",        K_STR,  F(listen_address), 0, 0, 0, "0.0.0.0" },
	{ "listen_port",           K_UINT, F(listen_port), 0, 1, 65535, "7410" },
	{ "ca_file",               K_STR,  F(ca_file), 0, 0, 0, SYSCONFDIR "/mhafs/ca.pem" },
	{ "cert_file",             K_STR,  F(cert_file), 0, 0, 0, SYSCONFDIR "/mhafs/node.pem" },
	{ "key_file",              K_STR,  F(key_file), 0, 0, 0, SYSCONFDIR "/mhafs/node.key" },
	{ "sync_mode",             K_SYNCMODE, F(sync_mode), 0, 0, 0, "sync" },
	{ "sync_timeout_ms",       K_UINT, F(sync_timeout_ms), 0, 10, 600000, "3000" },
	{ "tombstone_hold",        K_UINT, F(tombstone_hold), 0, 0, 315360000, "86400" },
	{ "reconcile_on_connect",  K_BOOL, F(reconcile_on_connect), 0, 0, 0, "yes" },
	{ "vip",                   K_LIST, F(vip), F(n_vip), 0, 0, NULL },
	{ "vip_interface",         K_STR,  F(vip_interface), 0, 0, 0, NULL },
	{ "heartbeat_interface",   K_STR,  F(heartbeat_interface), 0, 0, 0, NULL },
	{ "heartbeat_port",        K_UINT, F(heartbeat_port), 0, 1, 65535, "7411" },
	{ "heartbeat_interval_ms", K_UINT, F(heartbeat_interval_ms), 0, 10, 10000, "150" },
	{ "peer_dead_ms",          K_UINT, F(peer_dead_ms), 0, 50, 60000, "900" },
	{ "cluster_key_file",      K_STR,  F(cluster_key_file), 0, 0, 0, SYSCONFDIR "/mhafs/cluster.key" },
	{ "witness",               K_STR,  F(witness), 0, 0, 0, NULL },
	{ "health_interval_ms",    K_UINT, F(health_interval_ms), 0, 100, 600000, "500" },
	{ "health_imap_port",      K_UINT, F(health_imap_port), 0, 0, 65535, "143" },
	{ "health_smtp_port",      K_UINT, F(health_smtp_port), 0, 0, 65535, "25" },
	{ "role_hook",             K_STR,  F(role_hook), 0, 0, 0, NULL },
	{ "heartbeat_socket",      K_STR,  F(heartbeat_socket), 0, 0, 0, "/run/mhafs/heartbeatd.sock" },
	{ "announce_count",        K_UINT, F(announce_count), 0, 1, 100, "3" },
	{ "node_weight",           K_WEIGHT, F(node_weight), 0, 1, 256, "auto" },
	{ "node_address",          K_STR,  F(node_address), 0, 0, 0, NULL },
	{ "agent_port",            K_UINT, F(agent_port), 0, 0, 65535, "0" },
	{ "nodes_file",            K_STR,  F(nodes_file), 0, 0, 0, "/run/mhafs/nodes" },
	{ "haproxy_socket",        K_STR,  F(haproxy_socket), 0, 0, 0, NULL },
	{ "sessions_dir",          K_STR,  F(sessions_dir), 0, 0, 0, NULL },
	{ "sessions_cmd",          K_STR,  F(sessions_cmd), 0, 0, 0, "doveadm -f tab who -1" },
	{ "metrics_file",          K_STR,  F(metrics_file), 0, 0, 0, NULL },
	{ "metrics_interval",      K_UINT, F(metrics_interval), 0, 1, 3600, "15" },
	{ "space_warn_pct",        K_UINT, F(space_warn_pct), 0, 1, 99, "85" },
	{ "space_crit_pct",        K_UINT, F(space_crit_pct), 0, 1, 99, "95" },
	{ "space_hook",            K_STR,  F(space_hook), 0, 0, 0, NULL },
	{ "space_hook_timeout",    K_UINT, F(space_hook_timeout), 0, 1, 3600, "30" },
	{ "log_target",            K_STR,  F(log_target), 0, 0, 0, "syslog" },
	{ "log_level",             K_STR,  F(log_level), 0, 0, 0, "info" },
};
#undef F
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct key_def *find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

int config_is_key(const char *key)
{
	return find_key(key) != NULL;
}

static int parse_ll(const char *v, long long *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || *end != '\0')
		return -1;
	*out = n;
	return 0;
}

static void list_clear(char **list, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free(list[i]);
	*n = 0;
}

/* Split v on white space into the list (replacing what was there). */
static int set_list(char **list, size_t *n, const char *v, char *err, size_t errlen)
{
	char *copy = strdup(v), *save = NULL;
	if (!copy) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	list_clear(list, n);
	for (char *tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		if (*n >= CONFIG_MAX_LIST) {
			seterr(err, errlen, "too many values (at most %d)", CONFIG_MAX_LIST);
			free(copy);
			return -1;
		}
		list[(*n)++] = strdup(tok);
	}
	free(copy);
	return 0;
}

/* The replicator's staging directory is node-local whatever the
 * configuration says. */
static int add_builtin_local(char **list, size_t *n, char *err, size_t errlen)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(list[i], CONFIG_STAGING_DIR) == 0)
			return 0;
	if (*n >= CONFIG_MAX_LIST) {
		seterr(err, errlen, "node_local: too many values (at most %d)", CONFIG_MAX_LIST - 1);
		return -1;
	}
	list[(*n)++] = strdup(CONFIG_STAGING_DIR);
	return 0;
}

static int set_value(struct config *cfg, const struct key_def *k, const char *v,
		     char *err, size_t errlen)
{
	char *base = (char *)cfg;
	long long n;

	switch (k->type) {
	case K_STR: {
		char **p = (char **)(base + k->off);
		if (*v == '\0') {
			seterr(err, errlen, "%s: empty value", k->name);
			return -1;
		}
		char *s = strdup(v);
		if (!s) {
			seterr(err, errlen, "out of memory");
			return -1;
		}
		free(*p);
		*p = s;
		return 0;
	}
	case K_UINT:
	case K_INT64:
		if (parse_ll(v, &n) < 0) {
			seterr(err, errlen, "%s: '%s' is not a whole number", k->name, v);
			return -1;
		}
		if (n < k->min || n > k->max) {
			seterr(err, errlen, "%s: %lld is out of range %lld..%lld", k->name, n, k->min, k->max);
			return -1;
		}
		if (k->type == K_UINT)
			*(unsigned *)(base + k->off) = (unsigned)n;
		else
			*(int64_t *)(base + k->off) = (int64_t)n;
		return 0;
	case K_DOUBLE: {
		char *end;
		errno = 0;
		double d = strtod(v, &end);
		if (errno || end == v || *end != '\0' || d < (double)k->min || d > (double)k->max) {
			seterr(err, errlen, "%s: '%s' is not a number in %lld..%lld", k->name, v, k->min, k->max);
			return -1;
		}
		*(double *)(base + k->off) = d;
		return 0;
	}
	case K_BOOL:
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
			*(int *)(base + k->off) = 1;
		else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
			*(int *)(base + k->off) = 0;
		else {
			seterr(err, errlen, "%s: '%s' is not yes or no", k->name, v);
			return -1;
		}
		return 0;
	case K_SYNCMODE:
		if (!strcmp(v, "sync"))
			cfg->sync_mode = SYNC_MODE_SYNC;
		else if (!strcmp(v, "async"))
			cfg->sync_mode = SYNC_MODE_ASYNC;
		else {
			seterr(err, errlen, "%s: '%s' is not sync or async", k->name, v);
			return -1;
		}
		return 0;
	case K_WEIGHT:
		if (!strcmp(v, "auto")) {
			*(unsigned *)(base + k->off) = 0;
			return 0;
		}
		if (parse_ll(v, &n) < 0 || n < k->min || n > k->max) {
			seterr(err, errlen, "%s: '%s' is not auto or a whole number %lld..%lld", k->name, v,
			       k->min, k->max);
			return -1;
		}
		*(unsigned *)(base + k->off) = (unsigned)n;
		return 0;
	case K_LIST: {
		char **list = (char **)(base + k->off);
		size_t *count = (size_t *)(base + k->count_off);
		if (set_list(list, count, v, err, errlen) < 0)
			return -1;
		return k->off == offsetof(struct config, node_local) ? add_builtin_local(list, count, err, errlen) : 0;
	}
	}
	return -1;
}

void config_defaults(struct config *cfg)
{
	char err[CONFIG_ERRLEN];
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].def && set_value(cfg, &keys[i], keys[i].def, err, sizeof(err)) < 0)
			abort(); /* a bad default is a programming error */
}

int config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	const struct key_def *k = find_key(key);
	if (!k) {
		seterr(err, errlen, "unknown key '%s'", key);
		return -1;
	}
	return set_value(cfg, k, value, err, errlen);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int config_load(struct config *cfg, const char *path, int missing_ok, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[4096], msg[CONFIG_ERRLEN];
	unsigned char seen[NKEYS];
	unsigned lineno = 0;

	if (!f) {
		if (errno == ENOENT && missing_ok)
			return 0;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	memset(seen, 0, sizeof(seen));
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			seterr(err, errlen, "%s:%u: line too long", path, lineno);
			goto fail;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (*s == '\0')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			seterr(err, errlen, "%s:%u: expected 'key = value'", path, lineno);
			goto fail;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		const struct key_def *k = find_key(key);
		if (!k) {
			seterr(err, errlen, "%s:%u: unknown key '%s'", path, lineno, key);
			goto fail;
		}
		size_t idx = (size_t)(k - keys);
		if (seen[idx] && k->type != K_LIST) {
			seterr(err, errlen, "%s:%u: '%s' given twice", path, lineno, key);
			goto fail;
		}
		if (k->type == K_LIST && seen[idx]) {
			/* a repeated list key appends */
			char **list = (char **)((char *)cfg + k->off);
			size_t *n = (size_t *)((char *)cfg + k->count_off);
			char *copy = strdup(val), *save = NULL;
			for (char *tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
				if (*n >= CONFIG_MAX_LIST) {
					free(copy);
					seterr(err, errlen, "%s:%u: %s: too many values", path, lineno, key);
					goto fail;
				}
				list[(*n)++] = strdup(tok);
			}
			free(copy);
		} else if (set_value(cfg, k, val, msg, sizeof(msg)) < 0) {
			seterr(err, errlen, "%s:%u: %s", path, lineno, msg);
			goto fail;
		}
		seen[idx] = 1;
	}
	if (ferror(f)) {
		seterr(err, errlen, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	return -1;
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->node_id == 0) {
		seterr(err, errlen, "node_id is not set (1..65535, unique per node)");
		return -1;
	}
	const char *names[2] = { cfg->node_name, cfg->peer_name };
	for (int i = 0; i < 2; i++) {
		const char *n = names[i];
		size_t len = n ? strlen(n) : 0;
		if (!n)
			continue;
		int ok = len >= 1 && len <= 63;
		for (size_t k = 0; ok && k < len; k++)
			ok = isalnum((unsigned char)n[k]) || n[k] == '.' || n[k] == '_' || n[k] == '-';
		if (!ok) {
			seterr(err, errlen, "%s '%s' must be 1 to 63 of A-Z a-z 0-9 . _ -",
			       i ? "peer_name" : "node_name", n);
			return -1;
		}
	}
	if (cfg->state_dir && cfg->state_dir[0] != '/') {
		seterr(err, errlen, "state_dir must be an absolute path");
		return -1;
	}
	if (cfg->peer_name && cfg->node_name && !strcmp(cfg->peer_name, cfg->node_name)) {
		seterr(err, errlen, "peer_name equals node_name");
		return -1;
	}
	if (cfg->node_address) {
		unsigned char b[16];
		if (inet_pton(AF_INET, cfg->node_address, b) != 1 &&
		    inet_pton(AF_INET6, cfg->node_address, b) != 1) {
			seterr(err, errlen, "node_address '%s' is not a numeric IPv4 or IPv6 address",
			       cfg->node_address);
			return -1;
		}
	}
	if (cfg->agent_port && !cfg->node_address) {
		seterr(err, errlen, "agent_port is set but node_address is not (the address HAProxy "
		       "and the peer connect to)");
		return -1;
	}
	if (cfg->nodes_file && cfg->nodes_file[0] != '/') {
		seterr(err, errlen, "nodes_file must be an absolute path");
		return -1;
	}
	if (cfg->sessions_dir && cfg->sessions_dir[0] && cfg->sessions_dir[0] != '/') {
		seterr(err, errlen, "sessions_dir must be an absolute path (a directory on the mount)");
		return -1;
	}
	if (cfg->space_warn_pct >= cfg->space_crit_pct) {
		seterr(err, errlen, "space_warn_pct (%u) must be below space_crit_pct (%u)",
		       cfg->space_warn_pct, cfg->space_crit_pct);
		return -1;
	}
	const char *paths[2][2] = { { "metrics_file", cfg->metrics_file }, { "space_hook", cfg->space_hook } };
	for (int i = 0; i < 2; i++)
		if (paths[i][1] && paths[i][1][0] != '/') {
			seterr(err, errlen, "%s must be an absolute path", paths[i][0]);
			return -1;
		}
	if (strcmp(cfg->log_target, "syslog") && strcmp(cfg->log_target, "stderr")) {
		seterr(err, errlen, "log_target must be syslog or stderr");
		return -1;
	}
	const char *levels[] = { "debug", "info", "notice", "warning", "error" };
	int ok = 0;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		ok |= !strcmp(cfg->log_level, levels[i]);
	if (!ok) {
		seterr(err, errlen, "log_level must be debug, info, notice, warning or error");
		return -1;
	}
	return 0;
}

unsigned config_node_weight(const struct config *cfg)
{
	if (cfg->node_weight)
		return cfg->node_weight;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

void config_free(struct config *cfg)
{
	char *base = (char *)cfg;
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].type == K_STR) {
			free(*(char **)(base + keys[i].off));
		} else if (keys[i].type == K_LIST) {
			list_clear((char **)(base + keys[i].off), (size_t *)(base + keys[i].count_off));
		}
	}
	memset(cfg, 0, sizeof(*cfg));
}

void config_dump(const struct config *cfg, FILE *out)
{
	const char *base = (const char *)cfg;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_def *k = &keys[i];
		fprintf(out, "%s = ", k->name);
		switch (k->type) {
		case K_STR: {
			const char *s = *(char *const *)(base + k->off);
			fprintf(out, "%s", s ? s : "");
			break;
		}
		case K_UINT:
			fprintf(out, "%u", *(const unsigned *)(base + k->off));
			break;
		case K_INT64:
			fprintf(out, "%lld", (long long)*(const int64_t *)(base + k->off));
			break;
		case K_DOUBLE:
			fprintf(out, "%g", *(const double *)(base + k->off));
			break;
		case K_BOOL:
			fprintf(out, "%s", *(const int *)(base + k->off) ? "yes" : "no");
			break;
		case K_SYNCMODE:
			fprintf(out, "%s", cfg->sync_mode == SYNC_MODE_SYNC ? "sync" : "async");
			break;
		case K_WEIGHT: {
			unsigned w = *(const unsigned *)(base + k->off);
			if (w)
				fprintf(out, "%u", w);
			else
				fprintf(out, "auto");
			break;
		}
		case K_LIST: {
			char *const *list = (char *const *)(base + k->off);
			size_t n = *(const size_t *)(base + k->count_off);
			for (size_t j = 0; j < n; j++)
				fprintf(out, "%s%s", j ? " " : "", list[j]);
			break;
		}
		}
		fputc('\n', out);
	}
}
