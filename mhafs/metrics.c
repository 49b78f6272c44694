/* metrics.c: the metrics file (see metrics.h). */
#define _GNU_SOURCE
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "repl.h"
#include "smallfile.h"
#include "uask.h"
#include "watch.h"

#define HB_ASK_MS 1000
#define HB_ANSWER_MAX (64 * 1024)

/* One metric family: its HELP and TYPE lines. */
static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one sample without labels. */
static void one(FILE *f, const char *name, const char *type, const char *help, double v)
{
	family(f, name, type, help);
	fprintf(f, "%s %.17g\n", name, v);
}

/* A label value: backslash, quote and newline escaped. */
static void label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* The plain figures of struct repl_status, by offset: an int or a
 * uint64_t, scaled (microseconds and milliseconds to seconds). */
#define RS(field) offsetof(struct repl_status, field), sizeof(((struct repl_status *)0)->field)
static const struct {
	const char *name, *type, *help;
	size_t off, size;
	double scale;
} repl_figures[] = {
	{ "mhafs_replication_configured", "gauge", "1 when a peer is configured", RS(configured), 1 },
	{ "mhafs_peer_connected", "gauge", "1 while this node's stream to the peer is connected",
	  RS(out_connected), 1 },
	{ "mhafs_peer_synced", "gauge", "1 while the peer is caught up (commits wait for it)", RS(synced), 1 },
	{ "mhafs_peer_stream_in", "gauge", "1 while the peer's stream to this node is connected",
	  RS(in_connected), 1 },
	{ "mhafs_full_sync_running", "gauge", "1 while a full copy of the store goes to the peer",
	  RS(full_sync), 1 },
	{ "mhafs_reconcile_walking", "gauge",
	  "1 while a reconciliation walk with the peer runs (the stream sends nothing else)", RS(walking), 1 },
	{ "mhafs_peer_protocol", "gauge", "protocol level agreed with the peer (0: none)", RS(peer_proto), 1 },
	{ "mhafs_peer_heartbeat", "gauge", "heartbeatd's word on the peer: 1 up, 0 down, -1 unknown",
	  RS(peer_hint), 1 },
	{ "mhafs_replication_acked_seq", "gauge", "highest journal seq of this node the peer acknowledged",
	  RS(acked_seq), 1 },
	{ "mhafs_replication_peer_applied_seq", "gauge", "last seq of the peer's journal applied here",
	  RS(peer_applied_seq), 1 },
	{ "mhafs_replication_backlog_ops", "gauge", "journal entries the peer has not acknowledged",
	  RS(backlog_ops), 1 },
	{ "mhafs_replication_backlog_bytes", "gauge", "bytes of content the peer has not acknowledged",
	  RS(backlog_bytes), 1 },
	{ "mhafs_replication_last_commit_ack_seconds", "gauge",
	  "replication lag: time from the last commit to the peer's acknowledgement", RS(last_ack_lag_us), 1e-6 },
	{ "mhafs_replication_sent_ops_total", "counter", "journal entries sent to the peer", RS(sent_ops), 1 },
	{ "mhafs_replication_sent_bytes_total", "counter", "content bytes sent to the peer", RS(sent_bytes), 1 },
	{ "mhafs_replication_applied_ops_total", "counter", "entries of the peer applied here",
	  RS(applied_ops), 1 },
	{ "mhafs_replication_apply_syncs_total", "counter",
	  "syncs of the store for the peer's entries (one per group of entries)", RS(apply_syncs), 1 },
	{ "mhafs_replication_applied_skipped_total", "counter",
	  "entries of the peer skipped here (already there or superseded)", RS(applied_skipped), 1 },
	{ "mhafs_commit_waits_total", "counter", "commits that waited for the peer's acknowledgement",
	  RS(commit_waits), 1 },
	{ "mhafs_commit_timeouts_total", "counter",
	  "commit waits that ended at sync_timeout_ms without the acknowledgement", RS(commit_timeouts), 1 },
	{ "mhafs_reconcile_runs_total", "counter", "reconciliation walks toward the peer", RS(reconcile_runs), 1 },
	{ "mhafs_reconcile_diffs_total", "counter", "differing paths the walks found", RS(reconcile_diffs), 1 },
	{ "mhafs_reconcile_sent_total", "counter", "entries the walks sent", RS(reconcile_sent), 1 },
	{ "mhafs_reconcile_last_duration_seconds", "gauge", "duration of the last walk",
	  RS(reconcile_last_ms), 1e-3 },
	{ "mhafs_tombstones_collected_total", "counter", "tombstones removed by the collection",
	  RS(tombstones_collected), 1 },
};

static void repl_metrics(FILE *f, struct mhafs *fs)
{
	struct repl_status st;
	repl_get_status(fs->repl, &st);
	for (size_t i = 0; i < sizeof(repl_figures) / sizeof(repl_figures[0]); i++) {
		const char *p = (const char *)&st + repl_figures[i].off;
		double v = repl_figures[i].size == sizeof(int) ? *(const int *)p : (double)*(const uint64_t *)p;
		one(f, repl_figures[i].name, repl_figures[i].type, repl_figures[i].help, v * repl_figures[i].scale);
	}
	family(f, "mhafs_conflicts_total", "counter", "split-brain conflicts resolved, by rule");
	const struct { const char *rule; uint64_t n; } c[] = {
		{ "last_writer_theirs", st.conflicts_theirs_newer }, { "last_writer_ours", st.conflicts_ours_newer },
		{ "expunge_wins", st.conflicts_expunge_wins }, { "applied_to_local_version", st.conflicts_redirected },
		{ "removals_met", st.conflicts_removals_met }, { "flags_merged", st.conflicts_flags_merged },
		{ "uidlist_merge", st.uidlist_merges } };
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		fprintf(f, "mhafs_conflicts_total{rule=\"%s\"} %" PRIu64 "\n", c[i].rule, c[i].n);
	family(f, "mhafs_dotlocks_total", "counter", "cluster-wide dotlocks, by outcome");
	const struct { const char *what; uint64_t n; } d[] = {
		{ "shared", st.locks_granted }, { "busy_on_peer", st.locks_busy },
		{ "alone", st.locks_alone }, { "held_for_peer", st.locks_served } };
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		fprintf(f, "mhafs_dotlocks_total{outcome=\"%s\"} %" PRIu64 "\n", d[i].what, d[i].n);
}

static void space_metrics(FILE *f, struct mhafs *fs, const struct watch_snap *s)
{
	static const char *const gauges[][3] = {
		{ "mhafs_space_size_bytes", "gauge", "size of the file system" },
		{ "mhafs_space_avail_bytes", "gauge", "room left on the file system for unprivileged writers" },
		{ "mhafs_space_used_ratio", "gauge", "(size - avail) / size, the share space_warn_pct is held against" },
		{ "mhafs_space_level", "gauge", "0 ok, 1 warning, 2 critical, -1 unknown (the peer's figures stale)" },
		{ "mhafs_space_crossings_total", "counter", "threshold crossings either way" },
	};
	for (size_t k = 0; k < sizeof(gauges) / sizeof(gauges[0]); k++) {
		family(f, gauges[k][0], gauges[k][1], gauges[k][2]);
		for (int i = 0; i < SPACE_NFS; i++) {
			const struct watch_fig *g = &s->fig[i];
			int peer = space_fs_is_peer(i);
			const char *node = peer ? fs->cfg->peer_name : fs->cfg->node_name;
			if (peer && !fs->repl)
				continue;
			if (!g->at_ms && k < 3)
				continue; /* no figures yet */
			double v = k == 0 ? (double)g->total : k == 1 ? (double)g->avail :
				   k == 2 ? (g->total ? (double)(g->total - g->avail) / (double)g->total : 0) :
				   k == 3 ? watch_fig_level(g, i, s->now_ms) : (double)g->crossings;
			fprintf(f, "%s{fs=\"%s\",side=\"%s\",node=\"", gauges[k][0], space_fs_name(i),
				peer ? "peer" : "self");
			label_value(f, node ? node : "-");
			fprintf(f, "\"} %.17g\n", v);
		}
	}
	one(f, "mhafs_space_warn_ratio", "gauge", "space_warn_pct / 100", fs->cfg->space_warn_pct / 100.0);
	one(f, "mhafs_space_crit_ratio", "gauge", "space_crit_pct / 100", fs->cfg->space_crit_pct / 100.0);
	one(f, "mhafs_space_hook_runs_total", "counter", "space_hook runs started or tried", (double)s->hook_runs);
	one(f, "mhafs_space_hook_failures_total", "counter",
	    "space_hook runs that failed, could not start or were killed", (double)s->hook_failures);
	one(f, "mhafs_space_hook_kills_total", "counter", "space_hook runs killed at space_hook_timeout",
	    (double)s->hook_kills);
}

/* The value of "key: value" in heartbeatd's answer (up to the line's
 * end), or NULL. */
static const char *hb_field(const char *ans, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	for (const char *l = ans; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, kl) && l[kl] == ':' && l[kl + 1] == ' ') {
			snprintf(buf, len, "%.*s", (int)strcspn(l + kl + 2, "\n"), l + kl + 2);
			return buf;
		}
	return NULL;
}

static void heartbeat_metrics(FILE *f, struct mhafs *fs)
{
	static const char *const roles[] = { "STARTING", "SECONDARY", "PRIMARY", "SOLO", "ISOLATED",
					     "FAULT", "STOPPED" };
	char why[128], role[64], v[256];
	char *ans = uask(fs->cfg->heartbeat_socket, "status\n", HB_ASK_MS, HB_ANSWER_MAX, why, sizeof(why));
	one(f, "mhafs_heartbeat_up", "gauge", "1 when heartbeatd answered on heartbeat_socket", ans != NULL);
	if (!ans)
		return;
	if (hb_field(ans, "role", role, sizeof(role))) {
		family(f, "mhafs_heartbeat_role", "gauge", "heartbeatd's role: 1 for the current one");
		for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
			fprintf(f, "mhafs_heartbeat_role{role=\"%s\"} %d\n", roles[i], !strcmp(role, roles[i]));
	}
	if (hb_field(ans, "role_since_ms", v, sizeof(v)))
		one(f, "mhafs_heartbeat_role_seconds", "gauge", "time in the current role", strtod(v, NULL) / 1e3);
	if (hb_field(ans, "transitions", v, sizeof(v)))
		one(f, "mhafs_heartbeat_transitions_total", "counter", "role transitions since heartbeatd started",
		    strtod(v, NULL));
	if (hb_field(ans, "peer", v, sizeof(v)))
		one(f, "mhafs_heartbeat_peer_alive", "gauge", "1 while heartbeatd hears the peer",
		    strstr(v, " alive") != NULL);
	if (hb_field(ans, "health", v, sizeof(v)))
		one(f, "mhafs_heartbeat_healthy", "gauge", "1 while this node's health checks pass",
		    !strcmp(v, "ok"));
	free(ans);
}

static void all_metrics(FILE *f, struct mhafs *fs, const struct watch_snap *s)
{
	family(f, "mhafs_info", "gauge", "this node: name, id and commit mode");
	fprintf(f, "mhafs_info{node=\"");
	label_value(f, fs->cfg->node_name ? fs->cfg->node_name : "-");
	fprintf(f, "\",node_id=\"%u\",sync_mode=\"%s\"} 1\n", fs->cfg->node_id,
		fs->cfg->sync_mode == SYNC_MODE_SYNC ? "sync" : "async");
	one(f, "mhafs_ops_journaled_total", "counter", "operations journaled (replicated ones)",
	    (double)atomic_load(&fs->ops_journaled));
	one(f, "mhafs_ops_node_local_total", "counter", "operations on node-local paths (not journaled)",
	    (double)atomic_load(&fs->ops_local));
	one(f, "mhafs_journal_failed", "gauge", "1 after a journal write failed (the next start checks)",
	    atomic_load(&fs->journal_failed));
	one(f, "mhafs_journal_last_seq", "gauge", "last seq of this node's journal",
	    (double)journal_last_seq(fs->journal));
	one(f, "mhafs_sql_statements_total", "counter", "SQL statements the journal ran",
	    (double)journal_statements());
	repl_metrics(f, fs);
	space_metrics(f, fs, s);
	heartbeat_metrics(f, fs);
}

int metrics_write(struct mhafs *fs, const struct watch_snap *s, char *err, size_t errlen)
{
	const char *path = fs->cfg->metrics_file;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f) {
		snprintf(err, errlen, "metrics for %s: %s", path, strerror(errno));
		return -1;
	}
	all_metrics(f, fs, s);
	int rc = ferror(f) ? -ENOMEM : 0;
	if (fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc == 0)
		rc = smallfile_replace(AT_FDCWD, path, text, len, 0644, 0);
	free(text);
	if (rc < 0) {
		snprintf(err, errlen, "writing %s: %s", path, strerror(-rc));
		return -1;
	}
	return 0;
}
