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
#include "watch.h"
#include "pathpat.h"

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
	/* a level-1 peer refuses an UNLINK naming where the message went, or
	 * with any flag */
	if (e->op == JOP_UNLINK && r->out_proto < 2) {
		e->path2 = NULL;
		e->flags = 0;
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
int repl_handle_frame(struct repl *r, const struct wire_msg *mp)
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
	return repl_handle_frame(r, &m);
}

/* A PING right after an entry someone waits on (a commit, a lock grant's
 * barrier) asks the peer to sync and acknowledge what it holds now: a
 * level-4 receiver otherwise gathers entries for a few ms, so that the
 * ones nobody waits on share a sync with the next.  *asked: the last seq
 * sent when this stream last asked. */
static int ask_ack(struct repl *r, struct tls_conn *c, uint64_t next, uint64_t *asked)
{
	pthread_mutex_lock(&r->lock);
	uint64_t want = r->ack_wanted, acked = r->acked;
	pthread_mutex_unlock(&r->lock);
	if (want <= acked || want <= *asked || next < want)
		return 0;
	*asked = next;
	struct wire_ping ping = { .nonce = repl_now_us(), .hlc = 0 };
	return wire_send(c, WIRE_PING, &ping);
}

static void drain(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) > 0) {
	}
}

/* Whether the peer needs a full copy of the store.  A full sync only
 * adds: it cannot carry a deletion or a rename the peer missed, so where
 * the peer has a store it gets the journal from its resume point and the
 * reconciliation walk after the catch-up finds the rest, by differences.
 * A full copy goes to an empty peer, after our catalog was rebuilt from a
 * store no journal entry describes, and where the journal has a gap (its
 * entries after the peer's resume point were pruned) but no walk will run
 * (reconcile_on_connect off, or a peer without the walk). */
static int need_full_sync(struct repl *r, struct tls_conn *c, uint8_t *buf, uint64_t resume)
{
	uint64_t pruned = 0, live = 0;
	if (journal_pruned_through(r->fs->journal, &pruned) < 0 ||
	    journal_catalog_live(r->fs->journal, &live) < 0 || live == 0)
		return 0;
	if (repl_full_sync_marked(r->cfg->state_dir, 0))
		return 1;
	pthread_mutex_lock(&r->lock);
	int walk = r->cfg->reconcile_on_connect && !r->tree_unsupported;
	pthread_mutex_unlock(&r->lock);
	int empty = walk ? repl_peer_empty(r, c, buf) : -1;
	if (empty == 1) {
		log_notice("replication: peer %s holds an empty store", r->cfg->peer_name);
		return 1;
	}
	if (resume >= pruned)
		return 0; /* the journal holds everything after the peer's resume point */
	if (empty == 0) {
		log_notice("replication: our journal no longer holds peer %s's entries after seq %" PRIu64
			   " (pruned through %" PRIu64 "): the reconciliation walk brings it up to date",
			   r->cfg->peer_name, resume, pruned);
		return 0;
	}
	return 1;
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

/* The first of our entries after seq `after`, from the writer's memory
 * when it has it (reading it back from the database was about a third of
 * the sender's CPU), else from the database.  As jcursor_next. */
static int own_next(struct repl *r, struct jcursor *cur, uint64_t after, struct jentry *e,
		    char *strbuf, size_t strcap)
{
	int rc = journal_committed_next(r->fs->journal, after, e, strbuf, strcap);
	return rc >= 0 ? rc : jcursor_next(cur, (uint16_t)r->cfg->node_id, after, e, strbuf, strcap);
}

static int nothing_after(struct repl *r, struct jcursor *cur, uint64_t seq)
{
	static __thread char strbuf[JENTRY_MAX_STRBUF];
	struct jentry e;
	return own_next(r, cur, seq, &e, strbuf, sizeof(strbuf)) == 0;
}

/* A reconciliation walk on this stream: while it runs, no entry and no
 * lock request goes out, so commits that time out meanwhile (their
 * entries unsent) stop waiting for the peer without cutting the stream
 * (repl_commit_wait), and lock takes give up (repl_lock_take). */
static int walk(struct repl *r, struct tls_conn *c, uint8_t *buf, int dry, FILE *report)
{
	__atomic_store_n(&r->walking, 1, __ATOMIC_RELAXED);
	int rc = repl_walk(r, c, buf, dry, report);
	__atomic_store_n(&r->walking, 0, __ATOMIC_RELAXED);
	return rc;
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
	h.ver_min = 1;
	h.ver_max = WIRE_PROTO;
	h.flags = WIRE_HELLO_F_SENDER | (r->cfg->sync_mode == SYNC_MODE_ASYNC ? WIRE_HELLO_F_ASYNC : 0);
	if ((rc = wire_send(c, WIRE_HELLO, &h)) < 0 || (rc = wire_recv(c, &m, buf, WIRE_MAX_PAYLOAD)) < 0) {
		repl_set_error(r, "hello: %s", wire_strerror(rc));
		return;
	}
	if (m.type == WIRE_ERROR) {
		static struct log_limit lim;
		log_limited(&lim, REFUSAL_LOG_S, LOG_ERR,
			"replication: peer %s refused our HELLO: %s (code %u)", r->cfg->peer_name,
			m.u.error.text, m.u.error.code);
		repl_set_error(r, "peer refused HELLO: %s", m.u.error.text);
		return;
	}
	if (m.type == WIRE_HELLO_ACK && m.u.hello_ack.node_id == self) {
		static struct log_limit lim;
		log_limited(&lim, REFUSAL_LOG_S, LOG_ERR,
			"replication: peer %s has node_id %u, the same as this node: closing; give each "
			"node its own node_id in mhafs.conf", r->cfg->peer_name, self);
		repl_set_error(r, "peer %s has our node_id %u", r->cfg->peer_name, self);
		return;
	}
	if (m.type != WIRE_HELLO_ACK || strcmp(m.u.hello_ack.node_name, r->cfg->peer_name) != 0 ||
	    m.u.hello_ack.node_id == self) {
		static struct log_limit lim;
		log_limited(&lim, REFUSAL_LOG_S, LOG_ERR,
			"replication: peer answered HELLO wrongly (type %s, name %s): closing",
			wire_type_name(m.type), m.type == WIRE_HELLO_ACK ? m.u.hello_ack.node_name : "-");
		repl_set_error(r, "bad HELLO_ACK from peer");
		return;
	}
	int proto = m.u.hello_ack.proto ? m.u.hello_ack.proto : 1;
	if (proto > WIRE_PROTO) {
		log_err("replication: peer %s picked protocol level %d, above the %d we offered: closing",
			r->cfg->peer_name, proto, WIRE_PROTO);
		repl_set_error(r, "peer picked protocol level %d", proto);
		return;
	}
	if (proto < WIRE_PROTO)
		log_warn("replication: peer %s speaks protocol level %d, this node %d: %sthe nodes do "
			 "not know each other's free space until it is upgraded", r->cfg->peer_name, proto,
			 WIRE_PROTO, proto < 2 ? "moved messages reach it as plain unlinks and " : "");
	pthread_mutex_lock(&r->lock);
	r->out_proto = proto;
	pthread_mutex_unlock(&r->lock);
	uint64_t resume = m.u.hello_ack.resume_seq, last = journal_last_seq(r->fs->journal);
	uint64_t next = resume; /* last entry sent */
	if (need_full_sync(r, c, buf, resume)) {
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
	uint64_t acked_before = resume, space_sent = 0, ack_asked = 0;
	/* the peer's receiver drops a stream silent for 5 s; ours waits as
	 * long as a commit may, at least that */
	uint64_t last_heard = repl_now_us(), silent_us = (uint64_t)r->cfg->sync_timeout_ms * 2000u;
	if (silent_us < 5000000u)
		silent_us = 5000000u;
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
		r->sent_seq = next;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;
		if (acked != acked_before) {
			acked_before = acked;
			last_ack_seen = repl_now_us();
		}
		/* caught up (everything sent is acknowledged and the journal holds
		 * nothing newer): from now on commits wait for this peer */
		if (next <= acked && !synced_now(r) && nothing_after(r, cur, acked)) {
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
		if (!walked && next <= acked && !r->full_sync && repl_both_quiet(r) &&
		    nothing_after(r, cur, acked)) {
			walked = 1;
			pthread_mutex_lock(&r->lock);
			int unsupported = r->tree_unsupported;
			pthread_mutex_unlock(&r->lock);
			if (!unsupported && r->cfg->reconcile_on_connect &&
			    walk(r, c, buf, 0, NULL) < 0) {
				rc = WIRE_EIO;
				goto end;
			}
			last_ack_seen = last_sent_at = last_heard = repl_now_us();
			continue;
		}
		/* a walk asked for on the control socket (mhafsck --peer): once
		 * our stream has caught up, without waiting for the peer's */
		pthread_mutex_lock(&r->lock);
		uint64_t want = r->rec_req_gen;
		int asked = want != r->rec_done_gen && !r->full_sync, repair = r->rec_req_repair;
		pthread_mutex_unlock(&r->lock);
		if (asked && next <= acked && nothing_after(r, cur, acked)) {
			char *text = NULL;
			size_t tlen = 0;
			FILE *rep = open_memstream(&text, &tlen);
			int wrc = rep ? walk(r, c, buf, !repair, rep) : -ENOMEM;
			if (rep)
				fclose(rep);
			pthread_mutex_lock(&r->lock);
			free(r->rec_report);
			r->rec_report = text;
			r->rec_req_rc = wrc;
			r->rec_done_gen = want;
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lock);
			last_ack_seen = last_sent_at = last_heard = repl_now_us();
			if (wrc < 0 && wrc != -ENOMEM) {
				rc = WIRE_EIO;
				goto end;
			}
			continue;
		}
		/* after this connection's walk: its unlinks are out */
		if (walked && repl_now_us() - last_gc >= gc_every) {
			repl_collect_tombstones(r);
			last_gc = repl_now_us();
		}
		if (acked >= pruned + 1024) {
			journal_prune(r->fs->journal, acked);
			pruned = acked;
		}
		while (readable(c, 0)) {
			if ((rc = handle_reply(r, c, buf)) < 0)
				goto end;
			last_heard = repl_now_us();
		}
		if ((rc = repl_lock_pump(r, c, next)) < 0)
			goto end;
		if (proto >= 3 && (rc = watch_send_space(r->fs, c, &space_sent)) < 0)
			goto end;
		if (next - acked < REPL_WINDOW) {
			struct jentry e;
			static __thread char strbuf[JENTRY_MAX_STRBUF];
			rc = own_next(r, cur, next, &e, strbuf, sizeof(strbuf));
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
				if ((rc = ask_ack(r, c, next, &ack_asked)) < 0)
					goto end;
				continue;
			}
		}
		/* a wait that began after its entry went out */
		if ((rc = ask_ack(r, c, next, &ack_asked)) < 0)
			goto end;
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
		/* an idle stream pings every second and its receiver answers:
		 * silence means the peer is gone (or frozen), even while TCP
		 * still holds the connection */
		if (now - last_heard > silent_us && !readable(c, 0)) {
			log_warn("replication: peer %s has not answered for %llu s; reconnecting",
				 r->cfg->peer_name, (unsigned long long)(silent_us / 1000000u));
			repl_set_error(r, "peer stopped answering");
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
