/* repl_send.c: the sender.  It connects to the peer's listener, learns
 * from HELLO_ACK the last of our entries the peer holds durably, and
 * streams the journal from there in order (each entry followed by the
 * content of a committed or written file), reading acknowledgements as
 * they come, with at most REPL_WINDOW entries unacknowledged.  Entries
 * are read through a cursor on its own database connection, one at a
 * time, so a large backlog never sits in memory.  On any error it closes
 * the connection and reconnects with a back-off; the stream then resumes
 * where the peer says it is. */
#define _GNU_SOURCE
#include "repl_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal_repl.h"
#include "log.h"
#include "maildir_key.h"
#include "pathpat.h"
#include "reconcile.h"

/* TCP connect to host:port with a timeout; returns fd or -errno. */
static int tcp_connect(const char *host, unsigned port, int timeout_ms)
{
	struct addrinfo hints, *res = NULL;
	char ps[16];
	int fd = -1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%u", port);
	if ((rc = getaddrinfo(host, ps, &hints, &res)) != 0)
		return -EHOSTUNREACH;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) {
		rc = -errno;
		goto out;
	}
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	rc = poll(&p, 1, timeout_ms);
	if (rc <= 0) {
		rc = rc == 0 ? -ETIMEDOUT : -errno;
		goto out;
	}
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
	if (soerr) {
		rc = -soerr;
		goto out;
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	freeaddrinfo(res);
	return fd;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return rc;
}

static int open_content(struct repl *r, const char *path)
{
	return pathpat_open_beneath(r->fs->root_fd, path, O_RDONLY | O_NOFOLLOW | O_NOATIME);
}

/* Send one entry and, for a commit or write, the file's current content
 * (found at its later name if it was renamed since).  Returns 0 or a
 * WIRE_E* / -errno code. */
static int send_entry(struct repl *r, struct tls_conn *c, struct jcursor *cur, struct jentry *e,
		      uint8_t *buf)
{
	static __thread uint8_t enc[JENTRY_MAX_ENCODED];
	int fd = -1, rc;
	uint64_t content = 0;

	if ((e->op == JOP_WRITE || e->op == JOP_COMMIT) && e->has_st && S_ISREG(e->st.st_mode)) {
		fd = open_content(r, e->path);
		if (fd == -ENOENT) {
			char later[JENTRY_MAX_PATH + 1];
			if (jcursor_moved(cur, e->origin, e->seq, e->path, later, sizeof(later)) == 1)
				fd = open_content(r, later);
		}
		if (fd >= 0) {
			struct stat st;
			uint64_t size = 0;
			if (fstat(fd, &st) < 0 || hash_fd(fd, &e->hash, &size) < 0) {
				close(fd);
				return -EIO;
			}
			e->has_hash = 1;
			e->st.st_size = (off_t)size;
			content = size;
			/* a hard link (Dovecot's COPY): name an older sibling the
			 * peer has, so it can link instead of storing a copy */
			static __thread char sibling[JENTRY_MAX_PATH + 1];
			if (e->op == JOP_COMMIT && st.st_nlink > 1 &&
			    jcursor_same_inode(cur, (uint64_t)st.st_ino, e->path, &e->hash, e->hlc, sibling,
					       sizeof(sibling)) == 1)
				e->path2 = sibling;
		}
		/* gone for good: send the entry without content; the peer
		 * skips it and applies the removal that follows */
	}
	long n = jentry_encode(e, enc, sizeof(enc));
	if (n < 0 || (size_t)n > sizeof(enc)) {
		if (fd >= 0)
			close(fd);
		log_err("replication: cannot encode %s %s (seq %" PRIu64 ")", jop_name(e->op), e->path, e->seq);
		return -EINVAL;
	}
	struct wire_op op = { .entry = enc, .entry_len = (uint32_t)n, .content_len = content };
	rc = wire_send(c, WIRE_OP, &op);
	uint64_t off = 0;
	while (rc == 0 && off < content) {
		size_t want = content - off > REPL_CHUNK ? REPL_CHUNK : (size_t)(content - off);
		ssize_t got = pread(fd, buf, want, (off_t)off);
		if (got <= 0) {
			rc = -EIO; /* shrank under us: the peer's hash check refuses it */
			break;
		}
		struct wire_data d = { .data = buf, .len = (uint32_t)got };
		rc = wire_send(c, WIRE_DATA, &d);
		off += (uint64_t)got;
	}
	if (fd >= 0)
		close(fd);
	if (rc == 0) {
		pthread_mutex_lock(&r->lock);
		r->sent_ring[e->seq % (2 * REPL_WINDOW)].seq = e->seq;
		r->sent_ring[e->seq % (2 * REPL_WINDOW)].hlc = e->hlc;
		r->sent_ops++;
		r->sent_bytes += content;
		pthread_mutex_unlock(&r->lock);
	}
	return rc;
}

static int readable(struct tls_conn *c, int timeout_ms)
{
	if (tls_pending(c) > 0)
		return 1;
	struct pollfd p = { .fd = tls_conn_fd(c), .events = POLLIN };
	return poll(&p, 1, timeout_ms) > 0;
}

/* Handle one frame from the peer: 0, or an error that ends the stream. */
static int handle_frame(struct repl *r, const struct wire_msg *mp)
{
	const struct wire_msg m = *mp;
	switch (m.type) {
	case WIRE_ACK:
		if (m.u.ack.origin != r->cfg->node_id)
			return WIRE_EFIELD;
		pthread_mutex_lock(&r->lock);
		if (r->sent_ring[m.u.ack.seq % (2 * REPL_WINDOW)].seq == m.u.ack.seq &&
		    r->sent_ring[m.u.ack.seq % (2 * REPL_WINDOW)].hlc > r->acked_hlc)
			r->acked_hlc = r->sent_ring[m.u.ack.seq % (2 * REPL_WINDOW)].hlc;
		if (m.u.ack.seq > r->acked) {
			r->acked = m.u.ack.seq;
			pthread_cond_broadcast(&r->cond);
		}
		pthread_mutex_unlock(&r->lock);
		return 0;
	case WIRE_PONG:
		return 0;
	case WIRE_LOCK_RESP:
		repl_lock_answer(r, &m.u.lock_resp);
		return 0;
	case WIRE_ERROR:
		log_err("replication: peer %s refused our stream: %s (code %u)", r->cfg->peer_name,
			m.u.error.text, m.u.error.code);
		repl_set_error(r, "peer refused: %s", m.u.error.text);
		return WIRE_ECLOSED;
	case WIRE_BYE:
		return WIRE_ECLOSED;
	default:
		return WIRE_ETYPE;
	}
}

static int handle_reply(struct repl *r, struct tls_conn *c, uint8_t *buf)
{
	struct wire_msg m;
	int rc = wire_recv(c, &m, buf, WIRE_MAX_PAYLOAD);
	if (rc == WIRE_ETIMEDOUT)
		return 0;
	if (rc < 0)
		return rc;
	return handle_frame(r, &m);
}

/* ---- the reconciliation walk toward the peer ----
 * Once the stream has caught up on a new connection, the peer's catalog
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
		return -EIO;
	for (;;) {
		rc = wire_recv(tc->c, &m, tc->buf, WIRE_MAX_PAYLOAD);
		if (rc == WIRE_ETIMEDOUT)
			return -ETIMEDOUT;
		if (rc < 0)
			return -EIO;
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
		if (handle_frame(tc->r, &m) < 0)
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
		int here = msg && maildir_find_key(r->fs->root_fd, path, other, sizeof(other)) == 1 &&
			   strcmp(other, path) != 0;
		memset(&e, 0, sizeof(e));
		e.path = path;
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
static void collect_tombstones(struct repl *r)
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

static int reconcile_with_peer(struct repl *r, struct tls_conn *c, uint8_t *buf, int dry, FILE *report)
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
	journal_flush(r->fs->journal);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 5000) != SQLITE_OK || rc_source_db(&local, db) < 0) {
		log_err("reconcile: cannot read the catalog: %s", db ? sqlite3_errmsg(db) : "?");
		rc_source_db_free(&local);
		sqlite3_close(db);
		return report ? -EIO : 0; /* the stream goes on without a walk */
	}
	x.db = db;
	uint64_t t0 = repl_now_us();
	rc = reconcile_walk(&local, &remote, rec_diff, &x, &st);
	journal_flush(r->fs->journal);
	uint64_t ms = (repl_now_us() - t0) / 1000;
	rc_source_db_free(&local);
	sqlite3_close(db);
	if (rc < 0) {
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

static void drain(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) > 0) {
	}
}

/* Whether the peer needs a full copy: our journal no longer holds the
 * entries right after its resume point, or it has nothing of ours while
 * our catalog holds a store (which may predate the journal). */
static int need_full_sync(struct repl *r, uint64_t resume)
{
	uint64_t first = 0, live = 0;
	if (journal_first_seq(r->fs->journal, &first) < 0 || journal_catalog_live(r->fs->journal, &live) < 0)
		return 0;
	if (first > 0 && resume + 1 < first)
		return 1;
	if (live > 0 && repl_full_sync_marked(r->cfg->state_dir, 0))
		return 1; /* a catalog rebuilt from the store: no entry describes it */
	return resume == 0 && live > 0;
}

struct tick_arg {
	struct repl *r;
	struct tls_conn *c;
	uint8_t *buf;
};

/* Keep the connection alive while the baseline is journaled. */
static int full_sync_tick(void *arg, long count)
{
	struct tick_arg *ta = arg;
	struct wire_ping ping = { .nonce = (uint64_t)count, .hlc = 0 };
	pthread_mutex_lock(&ta->r->lock);
	int stop = ta->r->stop;
	pthread_mutex_unlock(&ta->r->lock);
	if (stop || wire_send(ta->c, WIRE_PING, &ping) < 0)
		return -1;
	while (readable(ta->c, 0))
		if (handle_reply(ta->r, ta->c, ta->buf) < 0)
			return -1;
	return 0;
}

static int synced_now(struct repl *r)
{
	pthread_mutex_lock(&r->lock);
	int s = r->synced && !r->full_sync;
	pthread_mutex_unlock(&r->lock);
	return s;
}

static int nothing_after(struct jcursor *cur, uint16_t self, uint64_t seq)
{
	static __thread char strbuf[JENTRY_MAX_STRBUF];
	struct jentry e;
	return jcursor_next(cur, self, seq, &e, strbuf, sizeof(strbuf)) == 0;
}

/* The walk compares final states: it waits until the peer's stream to us
 * is connected and has applied nothing for REC_QUIET_US (a split's merges,
 * journaled back and forth, have settled), as ours has caught up. */
#define REC_QUIET_US 2000000u
static int both_quiet(struct repl *r)
{
	pthread_mutex_lock(&r->lock);
	int q = r->in_connected && repl_now_us() - r->last_in_apply_us >= REC_QUIET_US;
	pthread_mutex_unlock(&r->lock);
	return q;
}

/* One connected session: returns when the connection ends. */
static void stream(struct repl *r, struct tls_conn *c, struct jcursor *cur, uint8_t *buf)
{
	struct wire_hello h;
	struct wire_msg m;
	uint16_t self = (uint16_t)r->cfg->node_id;
	int rc;

	memset(&h, 0, sizeof(h));
	h.node_id = self;
	snprintf(h.node_name, sizeof(h.node_name), "%s", r->cfg->node_name);
	h.ver_min = h.ver_max = WIRE_VERSION;
	h.flags = WIRE_HELLO_F_SENDER | (r->cfg->sync_mode == SYNC_MODE_ASYNC ? WIRE_HELLO_F_ASYNC : 0);
	if ((rc = wire_send(c, WIRE_HELLO, &h)) < 0 || (rc = wire_recv(c, &m, buf, WIRE_MAX_PAYLOAD)) < 0) {
		repl_set_error(r, "hello: %s", wire_strerror(rc));
		return;
	}
	if (m.type != WIRE_HELLO_ACK || strcmp(m.u.hello_ack.node_name, r->cfg->peer_name) != 0 ||
	    m.u.hello_ack.node_id == self) {
		log_err("replication: peer answered HELLO wrongly (type %s, name %s): closing",
			wire_type_name(m.type), m.type == WIRE_HELLO_ACK ? m.u.hello_ack.node_name : "-");
		repl_set_error(r, "bad HELLO_ACK from peer");
		return;
	}
	uint64_t resume = m.u.hello_ack.resume_seq, last = journal_last_seq(r->fs->journal);
	uint64_t next = resume; /* last entry sent */
	if (need_full_sync(r, resume)) {
		uint64_t snap = journal_last_seq(r->fs->journal);
		struct tick_arg ta = { r, c, buf };
		log_notice("replication: peer %s holds none of our entries or fewer than the journal "
			   "keeps: full sync, queueing the whole store", r->cfg->peer_name);
		pthread_mutex_lock(&r->lock);
		r->full_sync = 1;
		pthread_mutex_unlock(&r->lock);
		long n = journal_baseline(r->fs->journal, r->cfg->state_dir, r->fs->root_fd, full_sync_tick, &ta);
		journal_flush(r->fs->journal); /* the baseline is read back from the database */
		if (n < 0) {
			repl_set_error(r, "full sync: %s", strerror((int)-n));
			return;
		}
		log_notice("replication: full sync to peer %s: %ld entries queued after seq %" PRIu64,
			   r->cfg->peer_name, n, snap);
		/* the baseline stands for everything up to snap */
		next = snap;
		resume = snap > resume ? snap : resume;
		last = journal_last_seq(r->fs->journal);
	}
	uint64_t bops = 0, bbytes = 0;
	jcursor_backlog(cur, self, resume, &bops, &bbytes);
	log_notice("replication: connected to peer %s; it holds our entries up to seq %" PRIu64
		   ", backlog %" PRIu64 " entries, %" PRIu64 " bytes",
		   r->cfg->peer_name, resume, bops, bbytes);
	pthread_mutex_lock(&r->lock);
	r->acked = resume;
	r->out_connected = 1;
	r->drop_out = 0;
	r->last_error[0] = '\0';
	pthread_mutex_unlock(&r->lock);
	if (resume > last)
		log_warn("replication: peer %s claims seq %" PRIu64 " but our journal ends at %" PRIu64,
			 r->cfg->peer_name, resume, last);

	uint64_t last_ack_seen = repl_now_us(), last_sent_at = repl_now_us(), pruned = resume;
	uint64_t acked_before = resume;
	int walked = 0;
	/* the tombstone collection runs every tenth of the hold, 1 s to 1 min */
	uint64_t gc_every = (uint64_t)r->cfg->tombstone_hold * 100000u, last_gc = 0;
	if (gc_every < 1000000u)
		gc_every = 1000000u;
	if (gc_every > 60000000u)
		gc_every = 60000000u;
	for (;;) {
		pthread_mutex_lock(&r->lock);
		int stop = r->stop || r->drop_out;
		uint64_t acked = r->acked;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;
		if (acked != acked_before) {
			acked_before = acked;
			last_ack_seen = repl_now_us();
		}
		/* caught up (everything sent is acknowledged and the journal holds
		 * nothing newer): from now on commits wait for this peer */
		if (next <= acked && !synced_now(r) && nothing_after(cur, self, acked)) {
			pthread_mutex_lock(&r->lock);
			if (r->full_sync) {
				r->full_sync = 0;
				repl_full_sync_marked(r->cfg->state_dir, 1);
				log_notice("replication: full sync to peer %s complete (seq %" PRIu64 ")",
					   r->cfg->peer_name, acked);
			}
			if (!r->synced && r->peer_hint != 0) {
				r->synced = 1;
				log_notice("replication: peer %s is caught up (seq %" PRIu64 "); %s commit active",
					   r->cfg->peer_name, acked,
					   r->cfg->sync_mode == SYNC_MODE_SYNC ? "sync" : "async");
			}
			pthread_mutex_unlock(&r->lock);
		}
		/* caught up on this connection: once, the reconciliation walk */
		if (!walked && next <= acked && !r->full_sync && both_quiet(r) &&
		    nothing_after(cur, self, acked)) {
			walked = 1;
			pthread_mutex_lock(&r->lock);
			int unsupported = r->tree_unsupported;
			pthread_mutex_unlock(&r->lock);
			if (!unsupported && r->cfg->reconcile_on_connect &&
			    reconcile_with_peer(r, c, buf, 0, NULL) < 0) {
				rc = WIRE_EIO;
				goto end;
			}
			last_ack_seen = last_sent_at = repl_now_us();
			continue;
		}
		/* a walk asked for on the control socket (mhafsck --peer) */
		pthread_mutex_lock(&r->lock);
		uint64_t want = r->rec_req_gen;
		int asked = walked && want != r->rec_done_gen, repair = r->rec_req_repair;
		pthread_mutex_unlock(&r->lock);
		if (asked) {
			char *text = NULL;
			size_t tlen = 0;
			FILE *rep = open_memstream(&text, &tlen);
			int wrc = rep ? reconcile_with_peer(r, c, buf, !repair, rep) : -ENOMEM;
			if (rep)
				fclose(rep);
			pthread_mutex_lock(&r->lock);
			free(r->rec_report);
			r->rec_report = text;
			r->rec_req_rc = wrc;
			r->rec_done_gen = want;
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lock);
			last_ack_seen = last_sent_at = repl_now_us();
			if (wrc < 0 && wrc != -ENOMEM) {
				rc = WIRE_EIO;
				goto end;
			}
			continue;
		}
		/* after this connection's walk: its unlinks are out */
		if (walked && repl_now_us() - last_gc >= gc_every) {
			collect_tombstones(r);
			last_gc = repl_now_us();
		}
		if (acked >= pruned + 1024) {
			journal_prune(r->fs->journal, acked);
			pruned = acked;
		}
		while (readable(c, 0))
			if ((rc = handle_reply(r, c, buf)) < 0)
				goto end;
		if ((rc = repl_lock_pump(r, c, next)) < 0)
			goto end;
		if (next - acked < REPL_WINDOW) {
			struct jentry e;
			static __thread char strbuf[JENTRY_MAX_STRBUF];
			rc = jcursor_next(cur, self, next, &e, strbuf, sizeof(strbuf));
			if (rc < 0) {
				repl_set_error(r, "reading the journal: %s", strerror(-rc));
				goto end;
			}
			if (rc == 1) {
				/* nothing was outstanding: the peer's silence counts from now */
				if (next <= acked)
					last_ack_seen = repl_now_us();
				if ((rc = send_entry(r, c, cur, &e, buf)) < 0)
					goto end;
				next = e.seq;
				last_sent_at = repl_now_us();
				continue;
			}
		}
		/* nothing to send, or the window is full: wait */
		struct pollfd p[3] = {
			{ .fd = tls_conn_fd(c), .events = POLLIN },
			{ .fd = r->notify_fd, .events = POLLIN },
			{ .fd = r->wake_fd, .events = POLLIN },
		};
		if (tls_pending(c) > 0)
			continue;
		poll(p, 3, 500);
		if (p[1].revents)
			drain(r->notify_fd);
		if (p[2].revents)
			drain(r->wake_fd);
		uint64_t now = repl_now_us();
		if (next > acked && now - last_ack_seen > (uint64_t)r->cfg->sync_timeout_ms * 2000u) {
			log_warn("replication: peer %s has not acknowledged anything for %u ms; reconnecting",
				 r->cfg->peer_name, r->cfg->sync_timeout_ms * 2);
			repl_set_error(r, "peer stopped acknowledging");
			goto end;
		}
		if (now - last_sent_at > 1000000u) {
			struct wire_ping ping = { .nonce = now, .hlc = 0 };
			if ((rc = wire_send(c, WIRE_PING, &ping)) < 0)
				goto end;
			last_sent_at = now;
		}
	}
	wire_send(c, WIRE_BYE, NULL);
	return;
end:
	if (rc < 0)
		repl_set_error(r, "stream to peer ended: %s", rc > -100 ? wire_strerror(rc) : strerror(-rc));
}

void *repl_sender_main(void *arg)
{
	struct repl *r = arg;
	uint8_t *buf = malloc(WIRE_MAX_PAYLOAD);
	char err[512];
	int backoff_ms = 200, logged = 0;
	struct jcursor *cur = NULL;

	while (buf) {
		pthread_mutex_lock(&r->lock);
		int stop = r->stop;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;
		if (!cur && !(cur = jcursor_open(r->cfg->state_dir, err, sizeof(err)))) {
			repl_set_error(r, "journal cursor: %s", err);
			goto wait;
		}
		int fd = tcp_connect(r->cfg->peer_address, r->cfg->peer_port, 2000);
		if (fd < 0) {
			repl_set_error(r, "connect to %s:%u: %s", r->cfg->peer_address, r->cfg->peer_port,
				       strerror(-fd));
			if (!logged++)
				log_warn("replication: cannot reach peer %s at %s:%u: %s (retrying)",
					 r->cfg->peer_name, r->cfg->peer_address, r->cfg->peer_port,
					 strerror(-fd));
			goto wait;
		}
		struct tls_conn *c = tls_connect(r->client_ctx, fd, r->cfg->peer_name, 2000, err, sizeof(err));
		if (!c) {
			close(fd);
			repl_set_error(r, "TLS with peer: %s", err);
			log_err("replication: TLS with peer %s failed: %s", r->cfg->peer_name, err);
			goto wait;
		}
		logged = 0;
		tls_set_timeout(c, (int)r->cfg->sync_timeout_ms * 2);
		uint64_t began = repl_now_us();
		pthread_mutex_lock(&r->lock);
		r->out_conn = r->stop ? NULL : c;
		pthread_mutex_unlock(&r->lock);
		stream(r, c, cur, buf);
		pthread_mutex_lock(&r->lock);
		r->out_conn = NULL;
		pthread_mutex_unlock(&r->lock);
		repl_lock_out_down(r);
		/* a stream that ends at once (the peer refuses an entry) must
		 * not turn into a reconnect storm */
		if (repl_now_us() - began > 5000000u)
			backoff_ms = 200;
		tls_close(c);
		pthread_mutex_lock(&r->lock);
		int was = r->out_connected;
		r->out_connected = 0;
		r->synced = 0;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
		if (was)
			log_notice("replication: disconnected from peer %s", r->cfg->peer_name);
	wait:;
		struct pollfd p = { .fd = r->wake_fd, .events = POLLIN };
		if (poll(&p, 1, backoff_ms) > 0)
			drain(r->wake_fd);
		backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
	}
	jcursor_close(cur);
	free(buf);
	return NULL;
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
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
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
