/* repl_recv.c: the listener and receiver.  It accepts the peer's TLS
 * connection (its certificate must name peer_name), answers HELLO with how
 * far it has applied the peer's journal, then applies each entry to the
 * backing tree (apply.c), records it in the catalog with the peer's
 * progress, and acknowledges it.  Entries it already holds are
 * acknowledged without being applied again, so a resumed stream is
 * idempotent.  Anything malformed or hostile ends the connection with a
 * WIRE_ERROR and changes nothing. */
#define _GNU_SOURCE
#include "repl_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "journal_repl.h"
#include "log.h"
#include "watch.h"
#include "reconcile.h"

static int listen_on(const char *addr, unsigned port, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char ps[16];
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%u", port);
	if (getaddrinfo(addr, ps, &hints, &res) != 0) {
		snprintf(err, errlen, "bad listen_address %s", addr);
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 8) < 0) {
			snprintf(err, errlen, "listen on %s:%u: %s", addr, port, strerror(errno));
			close(fd);
			fd = -1;
		}
	} else {
		snprintf(err, errlen, "socket: %s", strerror(errno));
	}
	freeaddrinfo(res);
	return fd;
}

static void send_error(struct tls_conn *c, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void send_error(struct tls_conn *c, uint32_t code, const char *fmt, ...)
{
	struct wire_error e;
	va_list ap;
	memset(&e, 0, sizeof(e));
	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.text, sizeof(e.text), fmt, ap);
	va_end(ap);
	for (char *p = e.text; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
	wire_send(c, WIRE_ERROR, &e);
}

/* Receive the content of one entry into a staging file (or discard it
 * when discard is set).  0 or a negative code. */
static int recv_content(struct repl *r, struct tls_conn *c, uint64_t len, struct staged *s,
			int discard, uint8_t *buf)
{
	struct wire_msg m;
	uint64_t got = 0;
	while (got < len) {
		int rc = wire_recv(c, &m, buf, WIRE_MAX_PAYLOAD);
		if (rc < 0)
			return rc == WIRE_ETIMEDOUT ? WIRE_EIO : rc;
		if (m.type != WIRE_DATA || m.u.data.len > len - got)
			return WIRE_EFIELD;
		if (!discard && (rc = staged_write(s, m.u.data.data, m.u.data.len)) < 0) {
			/* our disk, not the peer's frames: say so */
			send_error(c, WIRE_ERR_APPLY, "cannot store content here: %s", strerror(-rc));
			repl_set_error(r, "storing replicated content: %s", strerror(-rc));
			return WIRE_ECLOSED;
		}
		got += m.u.data.len;
	}
	return 0;
}

/* Entries applied but not yet durable nor acknowledged: the group commit.
 * The encoded entry is kept so the catalog update can follow the sync. */
#define BATCH_MAX 64
#define GRANT_POLL_MS 2   /* how often pending lock grants are looked at */
/* From a level-4 sender, which follows every entry someone waits on with a
 * PING, a pause in the stream does not end the batch: entries nobody waits
 * on (Dovecot's uidlist rename after a delivery's commit, say) wait up to
 * this long to share the next sync and transaction. */
#define GATHER_MS 25

struct batch {
	uint8_t *store;                  /* BATCH_MAX * JENTRY_MAX_ENCODED */
	uint32_t len[BATCH_MAX];
	int dup[BATCH_MAX];
	int local[BATCH_MAX];            /* journal the result as our own write */
	int skipped[BATCH_MAX];          /* not applied: the catalog keeps ours */
	int n, any_new;
	uint64_t since_us;               /* when the oldest entry arrived */
};

/* Milliseconds until a gathered batch is due to be synced (0: due). */
static int batch_due_ms(const struct batch *b)
{
	uint64_t age = repl_now_us() - b->since_us;
	return age >= GATHER_MS * 1000u ? 0 : (int)((GATHER_MS * 1000u - age + 999) / 1000);
}

/* A merge made a version that neither node had: journal it as ours, so
 * the peer gets it (and merges it to the same result). */
static void journal_merged(struct repl *r, const struct jentry *applied)
{
	struct jentry w;
	struct stat st;
	memset(&w, 0, sizeof(w));
	w.op = JOP_WRITE;
	w.path = applied->path;
	if (fstatat(r->fs->root_fd, applied->path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	w.has_st = 1;
	w.st = st;
	w.has_hash = 1;
	w.hash = applied->hash;
	if (journal_record(r->fs->journal, &w) == 0)
		repl_notify(r);
}

/* Make the batch durable, record it in the catalog, acknowledge it (the
 * highest seq stands for all; not when c is NULL: the stream is ending),
 * and queue the cache invalidations. */
/* How to record an applied entry in the catalog: an object it made that is
 * already gone from the store again keeps a newer tombstone (see
 * journal_repl.h). */
static int record_mode(struct repl *r, const struct jentry *e, int skipped)
{
	struct stat st;
	if (skipped)
		return JAR_SKIP;
	if ((e->op == JOP_COMMIT || e->op == JOP_CREATE || e->op == JOP_WRITE || e->op == JOP_MKNOD) &&
	    fstatat(r->fs->root_fd, e->path, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		return JAR_UNLESS_GONE;
	return JAR_RECORD;
}

#define SLOW_BATCH_US 1000000u /* a batch this slow to make durable is logged */
static struct log_limit slow_batch_lim; /* the receiver's thread only */

static int flush_batch(struct repl *r, struct tls_conn *c, struct batch *b)
{
	static __thread char strbuf[JENTRY_MAX_STRBUF];
	struct jentry e;
	uint64_t top = 0;
	uint16_t origin = 0;
	int rc;

	if (b->n == 0)
		return 0;
	uint64_t t0 = repl_now_us();
	if (b->any_new && (rc = apply_sync(&r->applier)) < 0) {
		b->n = b->any_new = 0; /* not durable: the peer sends it again */
		if (c)
			send_error(c, WIRE_ERR_APPLY, "syncfs: %s", strerror(-rc));
		return rc;
	}
	if (b->any_new) {
		pthread_mutex_lock(&r->lock);
		r->apply_syncs++;
		pthread_mutex_unlock(&r->lock);
	}
	/* the batch's catalog records in one transaction */
	uint64_t t1 = repl_now_us();
	rc = journal_apply_begin(r->fs->journal);
	for (int i = 0; rc == 0 && i < b->n; i++) {
		if (jentry_decode(b->store + (size_t)i * JENTRY_MAX_ENCODED, b->len[i], &e, strbuf,
				  sizeof(strbuf)) < 0)
			rc = WIRE_EFIELD; /* decoded once already: cannot happen */
		else if (!b->dup[i])
			rc = journal_apply_add(r->fs->journal, &e, record_mode(r, &e, b->skipped[i]));
	}
	int end = journal_apply_end(r->fs->journal);
	if (rc == 0)
		rc = end;
	uint64_t t2 = repl_now_us();
	if (t2 - t0 >= SLOW_BATCH_US)
		/* acknowledgements (and the listener) waited all that time */
		log_limited(&slow_batch_lim, 60, LOG_WARNING,
			    "replication: the peer's batch of %d entries took %llu ms to make durable "
			    "(syncfs of the backing file system %llu ms, catalog %llu ms)", b->n,
			    (unsigned long long)((t2 - t0) / 1000), (unsigned long long)((t1 - t0) / 1000),
			    (unsigned long long)((t2 - t1) / 1000));
	if (rc < 0) {
		b->n = b->any_new = 0; /* sent again and found in effect */
		if (c && rc != WIRE_EFIELD)
			send_error(c, WIRE_ERR_APPLY, "catalog: %s", strerror(-rc));
		return rc;
	}
	for (int i = 0; i < b->n; i++) {
		if (jentry_decode(b->store + (size_t)i * JENTRY_MAX_ENCODED, b->len[i], &e, strbuf,
				  sizeof(strbuf)) < 0) {
			b->n = b->any_new = 0;
			return WIRE_EFIELD;
		}
		if (!b->dup[i]) {
			pthread_mutex_lock(&r->lock);
			r->applied_ops++;
			r->peer_applied = e.seq;
			pthread_mutex_unlock(&r->lock);
			repl_queue_inval(r, e.path);
			if (e.path2 && e.op != JOP_SYMLINK && e.op != JOP_COMMIT)
				repl_queue_inval(r, e.path2);
			if (b->local[i])
				journal_merged(r, &e);
		}
		top = e.seq;
		origin = e.origin;
	}
	pthread_mutex_lock(&r->lock);
	r->last_in_entry_us = repl_now_us(); /* applied or already held: the stream is busy */
	pthread_mutex_unlock(&r->lock);
	b->n = 0;
	b->any_new = 0;
	if (!c)
		return 0;
	struct wire_ack ack = { .origin = origin, .seq = top };
	return wire_send(c, WIRE_ACK, &ack);
}

/* Apply one WIRE_OP (not yet durable) and add it to the batch; returns 0
 * or ends the connection. */
static int handle_op(struct repl *r, struct tls_conn *c, const struct wire_op *op, uint16_t origin,
		     uint64_t *applied, uint8_t *buf, struct batch *b)
{
	static __thread char strbuf[JENTRY_MAX_STRBUF];
	struct jentry e;
	struct staged s = { .fd = -1 };
	int rc, skipped = 0;

	/* the entry bytes live in buf, which the DATA frames reuse: keep a copy */
	if (op->entry_len > JENTRY_MAX_ENCODED) {
		send_error(c, WIRE_ERR_PROTOCOL, "entry too long");
		return WIRE_EFIELD;
	}
	uint8_t *entry = b->store + (size_t)b->n * JENTRY_MAX_ENCODED;
	memcpy(entry, op->entry, op->entry_len);
	uint64_t content = op->content_len;
	uint32_t op_len = op->entry_len;
	if (jentry_decode(entry, op->entry_len, &e, strbuf, sizeof(strbuf)) < 0 ||
	    jentry_invalid(&e, 1) != NULL) {
		send_error(c, WIRE_ERR_PROTOCOL, "malformed journal entry");
		log_err("replication: malformed journal entry from peer %s: connection closed",
			r->cfg->peer_name);
		return WIRE_EFIELD;
	}
	if (e.origin != origin) {
		send_error(c, WIRE_ERR_PEER, "entry of origin %u on the stream of %u", e.origin, origin);
		return WIRE_EFIELD;
	}
	if (apply_check(&r->applier, &e) < 0) {
		send_error(c, WIRE_ERR_PATH, "path refused: %s", e.path);
		log_err("replication: peer %s sent a path outside the replicated store (%s %s): refused, "
			"nothing written, connection closed", r->cfg->peer_name, jop_name(e.op), e.path);
		return WIRE_EFIELD;
	}
	if (content && !((e.op == JOP_WRITE || e.op == JOP_COMMIT) && e.has_hash && e.has_st &&
			 (uint64_t)e.st.st_size == content)) {
		send_error(c, WIRE_ERR_PROTOCOL, "content does not belong to a %s entry", jop_name(e.op));
		return WIRE_EFIELD;
	}
	int dup = e.seq <= *applied;
	if (content && !dup && (rc = fs_space_admit_path(r->fs, e.path))) {
		/* the store's last room is kept for Dovecot's control files */
		send_error(c, WIRE_ERR_APPLY, "%s: %s", e.path, strerror(rc));
		repl_set_error(r, "applying %s %s: %s", jop_name(e.op), e.path, strerror(rc));
		return -rc;
	}
	if (content && !dup && (rc = staged_open(&r->applier, &e, &s)) < 0) {
		send_error(c, WIRE_ERR_APPLY, "staging: %s", strerror(-rc));
		return rc;
	}
	if ((rc = recv_content(r, c, content, &s, dup, buf)) < 0) {
		staged_discard(&r->applier, &s);
		if (rc != WIRE_EIO && rc != WIRE_ECLOSED)
			send_error(c, WIRE_ERR_PROTOCOL, "bad content stream");
		return rc;
	}
	if (!dup) {
		const char *named = e.path;
		/* the peer's clock first: a local change the apply sets off (Dovecot
		 * renaming the message it sees arrive) must be later than e */
		hlc_update(&r->fs->clock, e.hlc);
		rc = apply_entry(&r->applier, &e, content ? &s : NULL, &skipped);
		staged_discard(&r->applier, &s);
		if (rc == 0 && (e.path != named || r->applier.entry_changed)) {
			/* applied to this node's version of the message: the catalog
			 * must record that object */
			long n = jentry_encode(&e, entry, JENTRY_MAX_ENCODED);
			if (n > 0 && n <= JENTRY_MAX_ENCODED)
				op_len = (uint32_t)n;
		}
		if (rc < 0) {
			send_error(c, WIRE_ERR_APPLY, "%s %s: %s", jop_name(e.op), e.path, strerror(-rc));
			repl_set_error(r, "applying %s %s: %s", jop_name(e.op), e.path, strerror(-rc));
			return rc;
		}
		*applied = e.seq;
		if (skipped) {
			pthread_mutex_lock(&r->lock);
			r->applied_skipped++;
			pthread_mutex_unlock(&r->lock);
		}
		b->any_new = 1;
	}
	b->len[b->n] = op_len;
	b->dup[b->n] = dup;
	b->local[b->n] = !dup && r->applier.journal_local;
	b->skipped[b->n] = !dup && skipped;
	b->n++;
	return 0;
}

/* The reconciliation walk of the peer's sender reads our digest tree:
 * answer each TREE_REQ from the catalog, on a read-only connection of the
 * session opened at the first request. */
struct tree_server {
	sqlite3 *db;
	struct mt_reader *m;
	uint8_t *body;
};

static void tree_server_close(struct tree_server *ts)
{
	mt_reader_free(ts->m);
	sqlite3_close(ts->db);
	free(ts->body);
	memset(ts, 0, sizeof(*ts));
}

static int tree_server_open(struct repl *r, struct tree_server *ts)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/journal.db", r->cfg->state_dir);
	if (sqlite3_open_v2(path, &ts->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(ts->db, 5000) != SQLITE_OK || !(ts->m = mt_reader_new(ts->db)) ||
	    !(ts->body = malloc(WIRE_MAX_PAYLOAD))) {
		log_err("replication: cannot read the catalog for the peer's reconciliation: %s",
			ts->db ? sqlite3_errmsg(ts->db) : "out of memory");
		tree_server_close(ts);
		return -EIO;
	}
	return 0;
}

/* A catalog row as a TREE_RESP entry; 0, or < 0 for a row the wire cannot
 * carry (it is left out: the walk then sees it absent here). */
static long put_row(uint8_t *buf, size_t cap, const struct mt_entry *me)
{
	static __thread struct wire_tree_entry w;
	const struct crow *row = &me->row;
	const char *slash = strrchr(row->path, '/');
	memset(&w, 0, sizeof(w));
	snprintf(w.name, sizeof(w.name), "%s", slash ? slash + 1 : row->path);
	w.kind = row->kind;
	w.flags = (uint8_t)((row->deleted ? WIRE_TE_DELETED : 0) | (row->has_hash ? WIRE_TE_HASH : 0) |
			    (me->has_sub && !row->deleted ? WIRE_TE_SUB : 0));
	w.mode = row->mode;
	w.size = row->size;
	w.mtime_ns = row->mtime_ns;
	w.hlc = row->hlc;
	w.origin = row->origin;
	if (row->has_hash)
		hash_to_bytes(&row->hash, w.hash);
	if (w.flags & WIRE_TE_SUB) {
		hash_to_bytes(&me->sub.h, w.sub_digest);
		w.sub_count = me->sub.count;
		w.sub_nchild = me->sub.nchild;
	}
	return wire_tree_put_entry(buf, cap, &w);
}

static int answer_tree_req(struct repl *r, struct tls_conn *c, const struct wire_tree_req *q,
			   struct tree_server *ts)
{
	char dir[WIRE_TREE_DIR_MAX + 1], after[WIRE_TREE_NAME_MAX + 1];
	struct rc_listing l;
	struct wire_tree_resp a;
	int entries = (q->flags & WIRE_TREE_F_ENTRIES) != 0, rc;

	if (!ts->m && tree_server_open(r, ts) < 0) {
		send_error(c, WIRE_ERR_APPLY, "catalog unreadable");
		return -EIO;
	}
	memcpy(dir, q->dir, q->dir_len);
	dir[q->dir_len] = '\0';
	memcpy(after, q->after, q->after_len);
	after[q->after_len] = '\0';
	memset(&l, 0, sizeof(l));
	/* the tree as the catalog stands: deltas waiting in memory first */
	journal_mtree_sync(r->fs->journal);
	if ((rc = rc_fetch_reader(ts->m, dir, q->node, entries, q->after_len ? after : NULL, &l)) < 0) {
		send_error(c, WIRE_ERR_APPLY, "catalog: %s", strerror(-rc));
		mt_entries_free(&l.ents);
		return rc;
	}
	memset(&a, 0, sizeof(a));
	a.node = q->node;
	a.flags = entries ? WIRE_TREE_F_ENTRIES : 0;
	a.body = ts->body;
	size_t cap = WIRE_MAX_PAYLOAD - 64, len = 0;
	if (entries) {
		for (size_t i = 0; i < l.ents.n && a.n < UINT16_MAX; i++) {
			long n = put_row(ts->body + len, cap - len, &l.ents.v[i]);
			if (n == WIRE_ESPACE) {
				l.more = 1;
				break;
			}
			if (n > 0) {
				len += (size_t)n;
				a.n++;
			}
		}
		if (l.more)
			a.flags |= WIRE_TREE_F_MORE;
	} else {
		hash_to_bytes(&l.self.h, a.digest);
		a.count = l.self.count;
		a.nchild = q->node == 0 ? l.self.nchild : 0;
		for (unsigned i = 0; i < MT_FANOUT; i++) {
			struct wire_tree_bucket b = { .idx = (uint8_t)i, .count = l.child[i].count };
			if (!b.count)
				continue;
			hash_to_bytes(&l.child[i].h, b.digest);
			len += (size_t)wire_tree_put_bucket(ts->body + len, cap - len, &b);
			a.n++;
		}
	}
	a.body_len = (uint32_t)len;
	mt_entries_free(&l.ents);
	rc = wire_send(c, WIRE_TREE_RESP, &a);
	if (rc < 0)
		log_warn("replication: answering the peer's reconciliation: %s (link lost; the peer walks "
			 "again when it reconnects)", wire_strerror(rc));
	return rc;
}

static void serve(struct repl *r, struct tls_conn *c, uint8_t *buf)
{
	struct tree_server ts = { 0 };
	struct wire_msg m;
	int rc = wire_recv(c, &m, buf, WIRE_MAX_PAYLOAD);
	if (rc < 0 || m.type != WIRE_HELLO) {
		log_err("replication: peer connection without HELLO (%s): closed",
			rc < 0 ? wire_strerror(rc) : wire_type_name(m.type));
		return;
	}
	if (strcmp(m.u.hello.node_name, r->cfg->peer_name) == 0 && m.u.hello.node_id == r->cfg->node_id) {
		send_error(c, WIRE_ERR_PEER, "node %s has node_id %u like you: give each node its own node_id",
			   r->cfg->node_name, r->cfg->node_id);
		static struct log_limit lim;
		log_limited(&lim, REFUSAL_LOG_S, LOG_ERR,
			"replication: peer %s has node_id %u, the same as this node: refused; give each "
			"node its own node_id in mhafs.conf (and restart the one changed)",
			m.u.hello.node_name, m.u.hello.node_id);
		repl_set_error(r, "peer %s has our node_id %u: refused", m.u.hello.node_name,
			       m.u.hello.node_id);
		return;
	}
	if (strcmp(m.u.hello.node_name, r->cfg->peer_name) != 0 || m.u.hello.node_id == r->cfg->node_id) {
		send_error(c, WIRE_ERR_PEER, "expected node %s", r->cfg->peer_name);
		static struct log_limit lim;
		log_limited(&lim, REFUSAL_LOG_S, LOG_ERR,
			"replication: HELLO from %s (id %u) refused: we replicate with %s",
			m.u.hello.node_name, m.u.hello.node_id, r->cfg->peer_name);
		return;
	}
	int proto = wire_version_pick(&m.u.hello);
	if (proto < 0) {
		send_error(c, WIRE_ERR_VERSION, "no common protocol level: we speak 1 to %d", WIRE_PROTO);
		static struct log_limit lim;
		log_limited(&lim, REFUSAL_LOG_S, LOG_ERR,
			"replication: peer %s speaks protocol levels %u to %u, we 1 to %d: refused",
			m.u.hello.node_name, m.u.hello.ver_min, m.u.hello.ver_max, WIRE_PROTO);
		return;
	}
	uint16_t origin = m.u.hello.node_id;
	uint64_t applied = journal_applied_seq(r->fs->journal, origin);
	struct wire_hello_ack ha;
	memset(&ha, 0, sizeof(ha));
	ha.node_id = (uint16_t)r->cfg->node_id;
	snprintf(ha.node_name, sizeof(ha.node_name), "%s", r->cfg->node_name);
	ha.resume_seq = applied;
	ha.proto = proto >= 2 ? (uint8_t)proto : 0; /* a level-1 sender reads no level byte */
	if (wire_send(c, WIRE_HELLO_ACK, &ha) < 0)
		return;
	log_notice("replication: peer %s connected to us; we hold its entries up to seq %" PRIu64,
		   r->cfg->peer_name, applied);
	pthread_mutex_lock(&r->lock);
	r->in_connected = 1;
	r->last_in_entry_us = repl_now_us(); /* its backlog is still to come */
	r->peer_applied = applied;
	pthread_mutex_unlock(&r->lock);
	uint64_t last_frame = repl_now_us();
	int gather = proto >= 4;
	struct batch b = { .n = 0 };
	b.store = malloc((size_t)BATCH_MAX * JENTRY_MAX_ENCODED);
	if (!b.store) {
		send_error(c, WIRE_ERR_APPLY, "out of memory");
		return;
	}
	for (;;) {
		pthread_mutex_lock(&r->lock);
		int stop = r->stop;
		pthread_mutex_unlock(&r->lock);
		if (stop) {
			send_error(c, WIRE_ERR_SHUTDOWN, "node stopping");
			break;
		}
		/* lock grants waiting for the peer's acknowledgements: answer
		 * the due ones, and while some wait, look again every few ms
		 * rather than block on the stream */
		int pending = repl_lock_due(r, c);
		if (pending < 0)
			break;
		/* a gathered batch is synced once it is GATHER_MS old */
		int wait_ms = b.n > 0 ? batch_due_ms(&b) : -1;
		if (pending > 0 && (wait_ms < 0 || wait_ms > GRANT_POLL_MS))
			wait_ms = GRANT_POLL_MS;
		if (wait_ms >= 0 && tls_pending(c) == 0) {
			struct pollfd gp = { .fd = tls_conn_fd(c), .events = POLLIN };
			if (poll(&gp, 1, wait_ms) == 0) {
				if (b.n > 0 && batch_due_ms(&b) == 0 &&
				    flush_batch(r, c, &b) < 0)
					break;
				continue;
			}
		}
		rc = wire_recv(c, &m, buf, WIRE_MAX_PAYLOAD);
		if (rc == WIRE_ETIMEDOUT) {
			/* the sender pings every second when idle: silence means
			 * it is gone; a waiting new connection means it is back */
			struct pollfd lp = { .fd = r->listen_fd, .events = POLLIN };
			if (repl_now_us() - last_frame > 5000000u || poll(&lp, 1, 0) > 0) {
				log_notice("replication: peer %s's stream went silent; dropping it",
					   r->cfg->peer_name);
				break;
			}
			continue;
		}
		last_frame = repl_now_us();
		if (rc < 0) {
			if (rc != WIRE_ECLOSED && rc != WIRE_EIO) {
				send_error(c, WIRE_ERR_PROTOCOL, "%s", wire_strerror(rc));
				log_err("replication: bad frame from peer %s: %s; connection closed",
					r->cfg->peer_name, wire_strerror(rc));
			}
			break;
		}
		if (m.type == WIRE_OP) {
			if (b.n == 0)
				b.since_us = repl_now_us();
			if (handle_op(r, c, &m.u.op, origin, &applied, buf, &b) < 0)
				break;
			/* group commit: sync and acknowledge when the stream pauses
			 * (a level-4 sender's PING says when someone waits) */
			struct pollfd pp = { .fd = tls_conn_fd(c), .events = POLLIN };
			if ((b.n == BATCH_MAX || (gather && batch_due_ms(&b) == 0) ||
			     (!gather && tls_pending(c) == 0 && poll(&pp, 1, 0) == 0)) &&
			    flush_batch(r, c, &b) < 0)
				break;
			continue;
		}
		/* a lock request or a space report needs the entries applied (they
		 * are), not synced: the batch goes on gathering */
		if (!(gather && (m.type == WIRE_LOCK || m.type == WIRE_SPACE)) && flush_batch(r, c, &b) < 0)
			break;
		if (m.type == WIRE_PING) {
			struct wire_ping pong = m.u.ping;
			if (wire_send(c, WIRE_PONG, &pong) < 0)
				break;
		} else if (m.type == WIRE_BYE) {
			break;
		} else if (m.type == WIRE_TREE_REQ) {
			if (answer_tree_req(r, c, &m.u.tree_req, &ts) < 0)
				break;
		} else if (m.type == WIRE_LOCK) {
			if (repl_lock_serve(r, c, &m.u.lock, origin) < 0)
				break;
		} else if (m.type == WIRE_SPACE) {
			watch_peer_space(r->fs->watch, &m.u.space);
		} else {
			send_error(c, WIRE_ERR_PROTOCOL, "unexpected %s", wire_type_name(m.type));
			break;
		}
	}
	/* However the stream ends (an entry refused, say for a full disk, the
	 * peer gone, or this node stopping), what was applied to the store is
	 * recorded: left out, the catalog would not know of changes the store
	 * holds, and a clean stop skips the start-up check that would find
	 * them.  The peer learns of them at the next connection's hello. */
	int open_batch = b.n;
	if (open_batch && flush_batch(r, NULL, &b) < 0)
		log_warn("replication: %d entries applied from peer %s could not be recorded at the "
			 "end of its stream; the start-up check or the walk will find them",
			 open_batch, r->cfg->peer_name);
	free(b.store);
	tree_server_close(&ts);
	repl_lock_in_down(r);
	pthread_mutex_lock(&r->lock);
	r->in_connected = 0;
	pthread_mutex_unlock(&r->lock);
	log_notice("replication: peer %s's stream to us ended", r->cfg->peer_name);
}

void *repl_listener_main(void *arg)
{
	struct repl *r = arg;
	char err[512];
	uint8_t *buf = malloc(WIRE_MAX_PAYLOAD);
	int logged = 0;

	while (buf) {
		pthread_mutex_lock(&r->lock);
		int stop = r->stop;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;
		if (r->listen_fd < 0) {
			r->listen_fd = listen_on(r->cfg->listen_address, r->cfg->listen_port, err, sizeof(err));
			if (r->listen_fd < 0) {
				if (!logged++)
					log_err("replication: %s (retrying)", err);
				repl_set_error(r, "%s", err);
				struct pollfd w = { .fd = r->wake_fd, .events = POLLIN };
				poll(&w, 1, 1000);
				continue;
			}
		}
		struct pollfd p = { .fd = r->listen_fd, .events = POLLIN };
		if (poll(&p, 1, 500) <= 0)
			continue;
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(r->listen_fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		char host[64] = "?";
		getnameinfo((struct sockaddr *)&sa, sl, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct tls_conn *c = tls_accept(r->server_ctx, fd, r->cfg->peer_name, 2000, err, sizeof(err));
		if (!c) {
			close(fd);
			log_err("replication: refused connection from %s: %s", host, err);
			repl_set_error(r, "refused connection from %s: %s", host, err);
			continue;
		}
		tls_set_timeout(c, 1000);
		pthread_mutex_lock(&r->lock);
		r->in_conn = r->stop ? NULL : c;
		pthread_mutex_unlock(&r->lock);
		serve(r, c, buf);
		pthread_mutex_lock(&r->lock);
		r->in_conn = NULL;
		pthread_mutex_unlock(&r->lock);
		tls_close(c);
	}
	if (r->listen_fd >= 0)
		close(r->listen_fd);
	free(buf);
	return NULL;
}
