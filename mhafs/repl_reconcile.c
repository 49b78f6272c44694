/* repl_reconcile.c: the reconciliation walk toward the peer, run by the
 * sender (repl_send.c) on its connection: the transport that asks the
 * peer's listener for digest-tree nodes (TREE_REQ), the rules that decide
 * what to send for each differing path, the tombstone collection, and the
 * walk asked for on the control socket (mhafsck --peer). */
#define _GNU_SOURCE
#include "repl_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "journal_repl.h"
#include "log.h"
#include "maildir_key.h"
#include "reconcile.h"

/* Once the stream has caught up on a new connection, the peer's catalog
 * (through TREE_REQ) is compared with ours; for each path where the peer
 * lacks our live state or holds an older one, our state is journaled again
 * (as a full sync does per row) and streamed, and the peer's apply rules
 * decide; a tombstone of ours newer than the peer's live row goes out as
 * its unlink (or rmdir).  Where the peer is newer nothing is sent: the
 * peer's own walk toward us sends it. */

struct tree_client {
	struct repl *r;
	struct tls_conn *c;
	uint8_t *buf;
};

static int tree_fetch(void *arg, const char *dir, uint16_t node, int want_entries, const char *after,
		      struct rc_listing *out)
{
	struct tree_client *tc = arg;
	struct wire_tree_req q = { .node = node, .flags = want_entries ? WIRE_TREE_F_ENTRIES : 0,
				   .dir = dir, .dir_len = (uint16_t)strlen(dir), .after = after,
				   .after_len = after ? (uint16_t)strlen(after) : 0 };
	struct wire_msg m;
	int rc = wire_send(tc->c, WIRE_TREE_REQ, &q);
	if (rc < 0)
		return -ECONNRESET;
	for (;;) {
		rc = wire_recv(tc->c, &m, tc->buf, WIRE_MAX_PAYLOAD);
		if (rc == WIRE_ETIMEDOUT)
			return -ETIMEDOUT;
		if (rc < 0)
			return -ECONNRESET;
		if (m.type == WIRE_TREE_RESP)
			break;
		if (m.type == WIRE_ERROR && m.u.error.code == WIRE_ERR_PROTOCOL &&
		    strstr(m.u.error.text, "TREE_REQ")) {
			log_warn("replication: peer %s does not answer reconciliation requests (older "
				 "version?): no reconciliation walk toward it", tc->r->cfg->peer_name);
			pthread_mutex_lock(&tc->r->lock);
			tc->r->tree_unsupported = 1;
			pthread_mutex_unlock(&tc->r->lock);
		}
		if (repl_handle_frame(tc->r, &m) < 0)
			return -EIO;
	}
	const struct wire_tree_resp *a = &m.u.tree_resp;
	if (a->node != node || !(a->flags & WIRE_TREE_F_ENTRIES) != !want_entries)
		return -EPROTO;
	size_t pos = 0;
	if (!want_entries) {
		struct wire_tree_bucket b;
		hash_from_bytes(a->digest, &out->self.h);
		out->self.count = a->count;
		out->self.nchild = a->nchild;
		while ((rc = wire_tree_next_bucket(a, &pos, &b)) == 1) {
			hash_from_bytes(b.digest, &out->child[b.idx].h);
			out->child[b.idx].count = b.count;
		}
		return rc < 0 ? -EPROTO : 0;
	}
	static __thread struct wire_tree_entry e;
	size_t dl = strlen(dir);
	while ((rc = wire_tree_next_entry(a, &pos, &e)) == 1) {
		if (out->ents.n == out->ents.cap) {
			size_t cap = out->ents.cap ? out->ents.cap * 2 : 32;
			struct mt_entry *v = realloc(out->ents.v, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			out->ents.v = v;
			out->ents.cap = cap;
		}
		struct mt_entry *me = &out->ents.v[out->ents.n];
		memset(me, 0, sizeof(*me));
		size_t nl = strlen(e.name);
		if (!(me->row.path = malloc(dl + nl + 2)))
			return -ENOMEM;
		if (dl)
			sprintf(me->row.path, "%s/%s", dir, e.name);
		else
			memcpy(me->row.path, e.name, nl + 1);
		me->row.kind = e.kind;
		me->row.mode = e.mode;
		me->row.size = e.size;
		me->row.mtime_ns = e.mtime_ns;
		me->row.hlc = e.hlc;
		me->row.origin = e.origin;
		me->row.deleted = (e.flags & WIRE_TE_DELETED) != 0;
		me->row.has_hash = (e.flags & WIRE_TE_HASH) != 0;
		if (me->row.has_hash)
			hash_from_bytes(e.hash, &me->row.hash);
		me->has_sub = (e.flags & WIRE_TE_SUB) != 0;
		if (me->has_sub) {
			hash_from_bytes(e.sub_digest, &me->sub.h);
			me->sub.count = e.sub_count;
			me->sub.nchild = e.sub_nchild;
		}
		out->ents.n++;
	}
	out->more = (a->flags & WIRE_TREE_F_MORE) != 0;
	return rc < 0 ? -EPROTO : 0;
}

struct rec_ctx {
	struct repl *r;
	uint64_t sent, kept;
	int dry;         /* report only */
	FILE *report;    /* DIFF lines, or NULL */
	sqlite3 *db;     /* our catalog (read-only) */
	struct tree_client *tc;
};

/* The directory part of a Maildir message's path ("F/cur" or "F/new"),
 * its length, or 0 when path is not a message file. */
static size_t msg_dir_len(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash - path < 3 || !slash[1])
		return 0;
	if (strncmp(slash - 3, "cur", 3) != 0 && strncmp(slash - 3, "new", 3) != 0)
		return 0;
	if (slash - path > 3 && slash[-4] != '/')
		return 0;
	return (size_t)(slash - path);
}

/* A tombstone of ours for another name of the message at path, in its
 * maildir's cur/ or new/ (its name before a flag change or the move out of
 * new/): the most recent, into out.  1 found, 0 none, -errno. */
static int previous_name(struct rec_ctx *x, const char *path, char *out, size_t outlen)
{
	size_t dl = msg_dir_len(path);
	const char *name = path + dl + 1;
	size_t klen = maildir_base_len(name);
	sqlite3_stmt *s = NULL;
	int found = 0;
	hlc_t best = 0;
	if (sqlite3_prepare_v2(x->db, "SELECT path, hlc FROM catalog WHERE path >= ?1 AND path < ?2"
			       " AND deleted = 1", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	for (int sub = 0; sub < 2; sub++) {
		char lo[JENTRY_MAX_PATH + 8], hi[JENTRY_MAX_PATH + 8];
		int n = snprintf(lo, sizeof(lo), "%.*s%s/%.*s", (int)(dl - 3), path, sub ? "new" : "cur",
				 (int)klen, name);
		if (n < 0 || (size_t)n >= sizeof(lo) - 1)
			continue;
		memcpy(hi, lo, (size_t)n);
		hi[n] = '\x7f';
		hi[n + 1] = '\0';
		sqlite3_reset(s);
		sqlite3_bind_text(s, 1, lo, n, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, hi, n + 1, SQLITE_TRANSIENT);
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *p = (const char *)sqlite3_column_text(s, 0);
			hlc_t h = (hlc_t)sqlite3_column_int64(s, 1);
			/* the same base name exactly, not a longer one */
			if (!p || strcmp(p, path) == 0 || (p[n] != '\0' && p[n] != ':'))
				continue;
			if ((!found || h > best) && strlen(p) < outlen) {
				strcpy(out, p);
				best = h;
				found = 1;
			}
		}
	}
	sqlite3_finalize(s);
	return found;
}

/* The peer's row at path: 1 live, 2 tombstone, 0 none, -errno. */
static int peer_row(struct rec_ctx *x, const char *path)
{
	char dir[JENTRY_MAX_PATH + 1];
	const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
	size_t dl = slash ? (size_t)(slash - path) : 0;
	struct rc_listing l;
	const char *after = NULL;
	int rc = 0;
	memcpy(dir, path, dl);
	dir[dl] = '\0';
	uint16_t node = MT_NODE(MT_LEVELS, mtree_bucket(name, strlen(name)));
	memset(&l, 0, sizeof(l));
	do {
		size_t from = l.ents.n;
		l.more = 0;
		if ((rc = tree_fetch(x->tc, dir, node, 1, after, &l)) < 0)
			break;
		rc = 0;
		for (size_t i = from; i < l.ents.n; i++)
			if (strcmp(l.ents.v[i].row.path, path) == 0)
				rc = l.ents.v[i].row.deleted ? 2 : 1;
		if (rc || !l.more || l.ents.n == from)
			break;
		const char *last = strrchr(l.ents.v[l.ents.n - 1].row.path, '/');
		after = last ? last + 1 : l.ents.v[l.ents.n - 1].row.path;
	} while (1);
	mt_entries_free(&l.ents);
	return rc;
}

/* A live message of ours the peer lacks or has deleted: what to send.
 * 0 nothing (kept), 1 sent.  Expunge wins: a message the peer deleted
 * under this name, or under its name before our flag change, is not sent
 * back; one it has under that earlier name is renamed there; one it never
 * had is new mail, sent whole. */
static int send_message(struct rec_ctx *x, const char *path, const struct crow *l, const struct crow *rr)
{
	struct repl *r = x->r;
	char prev[JENTRY_MAX_PATH + 1];
	if (rr && rr->deleted)
		return 0;
	int p = previous_name(x, path, prev, sizeof(prev));
	if (p < 0)
		return p;
	if (p == 1) {
		int there = peer_row(x, prev);
		if (there < 0)
			return there;
		if (there == 2)
			return 0;
		if (there == 1) {
			struct jentry e;
			memset(&e, 0, sizeof(e));
			e.op = JOP_RENAME;
			e.path = prev;
			e.path2 = path;
			int rc = journal_record(r->fs->journal, &e);
			return rc < 0 ? rc : 1;
		}
	}
	return journal_baseline_row(r->fs->journal, r->fs->root_fd, path, l->mode, l->uid, l->gid, l->size,
				    l->mtime_ns, l->ino, l->has_hash ? &l->hash : NULL);
}

/* Whether row a is a later change than row b (HLC, then node id). */
static int later_than(const struct crow *a, const struct crow *b, uint16_t self)
{
	if (a->hlc != b->hlc)
		return a->hlc > b->hlc;
	if (a->origin != b->origin)
		return a->origin > b->origin;
	return a->origin == self; /* the same version recorded differently: ours is the source */
}

/* The class of a difference, for mhafsck --peer. */
static const char *diff_class(const struct crow *l, const struct crow *rr)
{
	int llive = l && !l->deleted, rlive = rr && !rr->deleted;
	if (llive && !rlive)
		return rr ? "deleted_on_peer" : "missing_on_peer";
	if (!llive)
		return l ? "deleted_here" : "missing_here";
	if (l->kind != rr->kind)
		return "kind";
	if (l->has_hash != rr->has_hash || (l->has_hash && (l->hash.hi != rr->hash.hi || l->hash.lo != rr->hash.lo)))
		return "content";
	return "metadata";
}

static int rec_diff(void *arg, const char *path, const struct crow *l, const struct crow *rr)
{
	struct rec_ctx *x = arg;
	struct repl *r = x->r;
	uint16_t self = (uint16_t)r->cfg->node_id;
	int llive = l && !l->deleted, rlive = rr && !rr->deleted, rc = 0;
	if (x->report)
		fprintf(x->report, "DIFF %s %s %s\n", diff_class(l, rr),
			!l ? "peer" : !rr ? "here" : later_than(l, rr, self) ? "here" : "peer", path);
	if (x->dry)
		return 0;
	if (llive) {
		if (rr && !later_than(l, rr, self)) {
			x->kept++;
			return 0; /* the peer's is newer: it sends it to us */
		}
		if (rlive && (l->kind == 'd') != (rr->kind == 'd')) {
			log_warn("reconcile: %s is a %s here and a %s on peer %s: left to mhafsck", path,
				 l->kind == 'd' ? "directory" : "file", rr->kind == 'd' ? "directory" : "file",
				 r->cfg->peer_name);
			x->kept++;
			return 0;
		}
		int msg = l->kind == 'f' && msg_dir_len(path) > 0;
		if (msg && rlive && l->has_hash && rr->has_hash &&
		    (l->hash.hi != rr->hash.hi || l->hash.lo != rr->hash.lo)) {
			log_warn("reconcile: message %s has other content on peer %s: left to mhafsck", path,
				 r->cfg->peer_name);
			x->kept++;
			return 0;
		}
		if (msg && !rlive)
			rc = send_message(x, path, l, rr);
		else
			rc = journal_baseline_row(r->fs->journal, r->fs->root_fd, path, l->mode, l->uid, l->gid,
						  l->size, l->mtime_ns, l->ino, l->has_hash ? &l->hash : NULL);
		if (rc == 0) {
			x->kept++;
			return 0;
		}
	} else if (rlive) {
		struct jentry e;
		char other[JENTRY_MAX_PATH + 1];
		int msg = rr->kind == 'f' && msg_dir_len(path) > 0;
		int here = msg && maildir_find_key(r->fs->root_fd, path, other, sizeof(other)) == 1;
		memset(&e, 0, sizeof(e));
		e.path = path;
		if (here && strcmp(other, path) == 0) {
			/* our catalog read said absent or deleted, but the file is
			 * here now under this very name: the peer's stream applied
			 * its change while the walk ran.  The states agree; an
			 * unlink would expunge the message on both nodes. */
			log_info("reconcile: %s arrived here during the walk: nothing to send", path);
			x->kept++;
			return 0;
		}
		if (here) {
			/* the message lives here under another name (flags): if our
			 * change is the later one the peer renames its copy (never an
			 * unlink, which its apply would turn into an expunge) */
			if (!l || !later_than(l, rr, self)) {
				x->kept++;
				return 0;
			}
			e.op = JOP_RENAME;
			e.path2 = other;
		} else if (msg) {
			/* no version of it here: if we had it (a tombstone of this or
			 * an earlier name), it was expunged here, and expunge wins
			 * whatever the peer did to it since; never had it: new mail
			 * of the peer's, which it sends */
			if (!l && previous_name(x, path, other, sizeof(other)) != 1) {
				x->kept++;
				return 0;
			}
			e.op = JOP_UNLINK;
			e.flags = JOP_UNLINK_RESTATED; /* a catalog's tombstone, not a user's removal */
		} else {
			if (!l || !later_than(l, rr, self)) {
				x->kept++;
				return 0;
			}
			e.op = rr->kind == 'd' ? JOP_RMDIR : JOP_UNLINK;
		}
		rc = journal_record(r->fs->journal, &e);
		rc = rc < 0 ? rc : 1;
	} else {
		x->kept++; /* only the peer has it: its walk toward us sends it */
		return 0;
	}
	if (rc < 0) {
		log_err("reconcile: cannot journal %s: %s", path, strerror(-rc));
		return rc;
	}
	log_info("reconcile: %s: %s here, %s on peer %s: sent", path, !l ? "absent" : llive ? "live" : "deleted",
		 !rr ? "absent" : rlive ? "live" : "deleted", r->cfg->peer_name);
	x->sent += (uint64_t)rc;
	return 0;
}

/* Remove the tombstones the peer has and that are older than the hold. */
void repl_collect_tombstones(struct repl *r)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	uint64_t hold = (uint64_t)r->cfg->tombstone_hold * 1000;
	if (ms <= hold)
		return;
	pthread_mutex_lock(&r->lock);
	hlc_t acked = r->acked_hlc;
	pthread_mutex_unlock(&r->lock);
	long n = journal_gc_tombstones(r->fs->journal, HLC_MAKE(ms - hold, 0), acked, 10000);
	if (n < 0) {
		log_err("replication: tombstone collection: %s", strerror((int)-n));
		return;
	}
	if (n > 0) {
		log_info("replication: %ld tombstones the peer has and older than %u s removed", n,
			 r->cfg->tombstone_hold);
		pthread_mutex_lock(&r->lock);
		r->tombs_collected += (uint64_t)n;
		pthread_mutex_unlock(&r->lock);
	}
}

int repl_peer_empty(struct repl *r, struct tls_conn *c, uint8_t *buf)
{
	struct tree_client tc = { r, c, buf };
	struct rc_listing *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	int rc = tree_fetch(&tc, "", 0, 0, NULL, l);
	if (rc == 0)
		rc = l->self.count == 0;
	mt_entries_free(&l->ents);
	free(l);
	return rc;
}

int repl_walk(struct repl *r, struct tls_conn *c, uint8_t *buf, int dry, FILE *report)
{
	char path[4200];
	sqlite3 *db = NULL;
	struct rc_source local = { 0 };
	struct tree_client tc = { r, c, buf };
	struct rc_source remote = { &tc, tree_fetch };
	struct rec_ctx x = { r, 0, 0, dry, report, NULL, &tc };
	struct rc_stats st;
	int rc;

	memset(&st, 0, sizeof(st));
	snprintf(path, sizeof(path), "%s/journal.db", r->cfg->state_dir);
	if (journal_mtree_sync(r->fs->journal) < 0)
		log_warn("reconcile: the digest tree lags the catalog (not written); the walk may "
			 "find differences that are not there");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 5000) != SQLITE_OK || rc_source_db(&local, db) < 0) {
		log_err("reconcile: cannot read the catalog: %s", db ? sqlite3_errmsg(db) : "?");
		rc_source_db_free(&local);
		sqlite3_close(db);
		return report ? -EIO : 0; /* the stream goes on without a walk */
	}
	x.db = db;
	log_info("reconcile: %swalk with peer %s begins", dry ? "(report only) " : "", r->cfg->peer_name);
	uint64_t t0 = repl_now_us();
	rc = reconcile_walk(&local, &remote, rec_diff, &x, &st);
	journal_flush(r->fs->journal);
	uint64_t ms = (repl_now_us() - t0) / 1000;
	rc_source_db_free(&local);
	sqlite3_close(db);
	if (rc == -ETIMEDOUT || rc == -ECONNRESET) {
		/* the link failed, not this node: the next connection walks again */
		log_warn("reconcile: walk with peer %s cut off after %" PRIu64 " differences: %s "
			 "(it runs again when the peer reconnects)", r->cfg->peer_name, st.diffs, strerror(-rc));
		repl_set_error(r, "reconcile: %s", strerror(-rc));
	} else if (rc < 0) {
		log_err("reconcile: walk with peer %s stopped after %" PRIu64 " differences: %s",
			r->cfg->peer_name, st.diffs, strerror(-rc));
		repl_set_error(r, "reconcile: %s", strerror(-rc));
	} else {
		log_notice("reconcile: %swith peer %s: %" PRIu64 " digests and %" PRIu64 " catalog rows compared "
			   "(%" PRIu64 " requests), %" PRIu64 " differences, %" PRIu64 " entries sent, %"
			   PRIu64 " left to the peer, %" PRIu64 " ms", dry ? "(report only) " : "",
			   r->cfg->peer_name, st.nodes, st.entries, st.requests, st.diffs, x.sent, x.kept, ms);
	}
	if (report)
		fprintf(report, "SUMMARY nodes=%" PRIu64 " entries=%" PRIu64 " requests=%" PRIu64
			" diffs=%" PRIu64 " sent=%" PRIu64 " ms=%" PRIu64 "\n", st.nodes, st.entries,
			st.requests, st.diffs, x.sent, ms);
	if (dry)
		return rc;
	pthread_mutex_lock(&r->lock);
	r->rec_runs++;
	r->rec_nodes += st.nodes;
	r->rec_entries += st.entries;
	r->rec_diffs += st.diffs;
	r->rec_sent += x.sent;
	r->rec_last_ms = ms;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* The walk compares final states: it waits until the peer's stream to us
 * is connected and has been quiet for REC_QUIET_US -- no entry received
 * (applied or already held) and no new connection -- so a split's merges,
 * journaled back and forth, have settled and the peer's backlog has
 * arrived, as ours has caught up.  (The walk also re-checks the store
 * before acting, for an entry that arrives while it runs.) */
#define REC_QUIET_US 2000000u
int repl_both_quiet(struct repl *r)
{
	pthread_mutex_lock(&r->lock);
	int q = r->in_connected && repl_now_us() - r->last_in_entry_us >= REC_QUIET_US;
	pthread_mutex_unlock(&r->lock);
	return q;
}

int repl_reconcile(struct repl *r, int repair, int timeout_ms, const int *cancel, FILE *out)
{
	if (!r)
		return -ENOTCONN;
	pthread_mutex_lock(&r->lock);
	if (!r->out_connected) {
		pthread_mutex_unlock(&r->lock);
		return -ENOTCONN;
	}
	uint64_t gen = ++r->rec_req_gen;
	r->rec_req_repair = repair;
	pthread_mutex_unlock(&r->lock);
	uint64_t one = 1;
	if (write(r->wake_fd, &one, sizeof(one)) < 0) {
		/* the sender polls every 500 ms anyway */
	}
	/* wait in slices, so a stopping node or control socket ends it */
	uint64_t deadline = repl_now_us() + (uint64_t)timeout_ms * 1000u;
	int rc = -ETIMEDOUT;
	pthread_mutex_lock(&r->lock);
	while (r->rec_done_gen < gen && repl_now_us() < deadline) {
		if (r->stop || (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED))) {
			rc = -ECANCELED;
			break;
		}
		struct timespec until; /* r->cond runs on the monotonic clock */
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += 200000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cond, &r->lock, &until);
	}
	if (r->rec_done_gen >= gen) {
		if (r->rec_report)
			fputs(r->rec_report, out);
		rc = r->rec_req_rc;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}
