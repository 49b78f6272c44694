/* repl_lock.c: cluster-wide dotlocks.  Dovecot serialises every change of
 * a Maildir's dovecot-uidlist (UID assignment, the move of new mail into
 * cur/) with the dotlock dovecot-uidlist.lock, created with O_EXCL.  Lock
 * files are node-local, so without help two Dovecots, one per node, would
 * both hold "the" lock and hand out the same UIDs to different messages.
 *
 * With a peer connected, taking the lock here first takes it there:
 *
 *   requester (FUSE create)          peer (receiver thread)
 *   TAKE path ---------------------> create path O_EXCL with a marker
 *                                    (content "pid:host" of its mhafs, so
 *                                    its Dovecot waits, and treats it as
 *                                    stale if that mhafs died); answer once
 *                                    the peer's own journal is
 *                                    acknowledged, so the requester already
 *                                    holds the peer's last uidlist
 *            <-------------------- GRANTED (or BUSY: someone holds it)
 *   create path O_EXCL here
 *   ... Dovecot writes, renames the lock over dovecot-uidlist (a commit,
 *   replicated before the rename returns in sync mode) or unlinks it ...
 *   GIVE path ---------------------> remove the marker
 *
 * TAKE and GIVE go out only after every journal entry recorded before
 * them: the peer has the mailbox's directory to lock, and the new
 * uidlist before its Dovecot can take the lock.  When
 * both nodes ask at once, the lower node id wins.  A peer that is down or
 * does not answer within sync_timeout_ms is not waited for: the lock is
 * then this node's alone, as in a split brain, and the uidlist merge
 * (apply_uidlist.c) reconciles afterwards.  Markers held for a peer whose
 * connection ends are removed.
 *
 * The grant waits for acknowledgements that the peer's receiver sends, and
 * it is answered by this node's receiver: were the receiver to block until
 * then, two nodes granting each other a lock at once would each stop
 * applying (and acknowledging) the other's stream, and both would wait
 * out sync_timeout_ms, their commits too.  So a grant is kept pending
 * (repl_lock_due answers it) while the receiver goes on with the stream. */
#define _GNU_SOURCE
#include "repl_lock.h"
#include "repl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "pathpat.h"

#define RL_MAX 64 /* requests in flight, locks held, markers held */

enum rq_state { RQ_FREE, RQ_QUEUED, RQ_SENT, RQ_DONE };

struct rl_req {
	enum rq_state state;
	uint8_t op;          /* WIRE_LOCK_TAKE or WIRE_LOCK_GIVE */
	uint64_t id;
	uint64_t after_seq;  /* send once entries up to here are out */
	int result;          /* WIRE_LOCK_* or -1: no answer (peer gone) */
	char *path;
};

struct rl_mark {
	char *path;
	dev_t dev;
	ino_t ino;
};

/* A grant whose answer waits for the peer to acknowledge our journal. */
struct rl_grant {
	int used;
	uint64_t id;
	uint64_t want;            /* our seq the peer must have acknowledged */
	struct timespec deadline;
};

struct rlocks {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t next_id;
	struct rl_req req[RL_MAX];
	char *held[RL_MAX];        /* granted by the peer and created here */
	struct rl_mark mark[RL_MAX]; /* held here on the peer's behalf */
	struct rl_grant grant[RL_MAX]; /* granted, answer pending (receiver's) */
	_Atomic int n_grants;      /* used slots of grant[]: the receiver's fast check */
	uint64_t n_granted, n_busy, n_alone, n_served;
	_Atomic uint64_t journaled; /* highest seq of ours journaled this run */
};

int repl_lock_name(const char *name)
{
	return strcmp(name, REPL_DOTLOCK_NAME) == 0;
}

int repl_lock_init(struct repl *r)
{
	struct rlocks *l = calloc(1, sizeof(*l));
	pthread_condattr_t ca;
	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	l->next_id = 1;
	r->locks = l;
	return 0;
}

void repl_lock_fini(struct repl *r)
{
	struct rlocks *l = r->locks;
	if (!l)
		return;
	repl_lock_in_down(r);
	for (int i = 0; i < RL_MAX; i++) {
		free(l->req[i].path);
		free(l->held[i]);
	}
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
	r->locks = NULL;
}

static void deadline_in(struct timespec *dl, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, dl);
	uint64_t ns = (uint64_t)dl->tv_nsec + (uint64_t)ms * 1000000u;
	dl->tv_sec += (time_t)(ns / 1000000000u);
	dl->tv_nsec = (long)(ns % 1000000000u);
}

static void kick_sender(struct repl *r)
{
	uint64_t one = 1;
	if (write(r->notify_fd, &one, sizeof(one)) < 0) {
		/* the eventfd is saturated: the sender is awake anyway */
	}
}

/* A free request slot, or NULL (under l->mu). */
static struct rl_req *slot(struct rlocks *l)
{
	for (int i = 0; i < RL_MAX; i++)
		if (l->req[i].state == RQ_FREE)
			return &l->req[i];
	return NULL;
}

static void slot_free(struct rl_req *q)
{
	free(q->path);
	memset(q, 0, sizeof(*q));
}

static int peer_ready(struct repl *r)
{
	pthread_mutex_lock(&r->lock);
	int ok = r->synced && !r->full_sync && !r->stop;
	pthread_mutex_unlock(&r->lock);
	return ok;
}

static int asking_too(struct rlocks *l, const char *path, size_t len);

/* read without r->lock: the caller holds l->mu */
static int walking(struct repl *r)
{
	return __atomic_load_n(&r->walking, __ATOMIC_RELAXED);
}

/* Whether this node holds the lock through the peer (under l->mu). */
static int holding(struct rlocks *l, const char *path)
{
	for (int i = 0; i < RL_MAX; i++)
		if (l->held[i] && strcmp(l->held[i], path) == 0)
			return 1;
	return 0;
}

int repl_lock_take(struct repl *r, const char *path)
{
	struct rlocks *l = r ? r->locks : NULL;
	struct timespec dl;
	if (!l || !peer_ready(r))
		goto alone;
	/* the TAKE follows every entry journaled before it (the mailbox's
	 * mkdir among them), so the peer has the directory to lock */
	uint64_t after = atomic_load(&l->journaled);
	pthread_mutex_lock(&l->mu);
	/* another process here is taking it, or holds it and is about to
	 * give it back: it is taken (the peer's marker is that holder's) */
	if (asking_too(l, path, strlen(path)) || holding(l, path)) {
		l->n_busy++;
		pthread_mutex_unlock(&l->mu);
		return -EEXIST;
	}
	struct rl_req *q = slot(l);
	if (!q || !(q->path = strdup(path))) {
		pthread_mutex_unlock(&l->mu);
		goto alone;
	}
	q->state = RQ_QUEUED;
	q->op = WIRE_LOCK_TAKE;
	q->id = l->next_id++;
	q->after_seq = after;
	q->result = -1;
	pthread_mutex_unlock(&l->mu);
	kick_sender(r);

	/* the peer may itself wait up to sync_timeout_ms for its journal to
	 * be acknowledged before it answers; but a request our sender has
	 * not even sent within sync_timeout_ms because it is walking (a
	 * reconciliation walk sends nothing else) is not waited for longer */
	deadline_in(&dl, r->cfg->sync_timeout_ms);
	pthread_mutex_lock(&l->mu);
	int waits = 0; /* sync_timeout_ms each */
	while (q->state != RQ_DONE)
		if (pthread_cond_timedwait(&l->cv, &l->mu, &dl) == ETIMEDOUT) {
			if (++waits == 2 || (q->state != RQ_SENT && walking(r)))
				break;
			deadline_in(&dl, r->cfg->sync_timeout_ms);
		}
	int result = q->state == RQ_DONE ? q->result : -1, unsent = q->state == RQ_QUEUED;
	if (q->state == RQ_SENT) {
		/* an answer may still come: whatever the peer holds for this
		 * request, it gives back (the request becomes that GIVE) */
		q->op = WIRE_LOCK_GIVE;
		q->state = RQ_QUEUED;
		q->after_seq = 0;
		q->id = l->next_id++;
	} else {
		slot_free(q);
	}
	int rc = 0;
	if (result == (int)WIRE_LOCK_GRANTED) {
		int i;
		for (i = 0; i < RL_MAX && l->held[i]; i++)
			;
		char *copy = i < RL_MAX ? strdup(path) : NULL;
		if (copy) {
			l->held[i] = copy;
			l->n_granted++;
			rc = 1;
		} else {
			/* cannot remember it: give it straight back */
			struct rl_req *g = slot(l);
			if (g && (g->path = strdup(path))) {
				g->state = RQ_QUEUED;
				g->op = WIRE_LOCK_GIVE;
				g->id = l->next_id++;
			}
			l->n_busy++;
			rc = -EEXIST;
		}
	} else if (result == (int)WIRE_LOCK_BUSY) {
		l->n_busy++;
		rc = -EEXIST;
	} else {
		l->n_alone++;
	}
	pthread_mutex_unlock(&l->mu);
	log_debug("dotlock: take %s: %s", path,
		  rc == 1 ? "shared with the peer" : rc < 0 ? "busy" : "alone");
	if (result == -1 && unsent)
		log_warn("replication: the stream to peer %s did not send the request for lock %s within "
			 "%u ms (%s); taking it on this node alone", r->cfg->peer_name, path,
			 waits * r->cfg->sync_timeout_ms,
			 waits == 1 ? "a reconciliation walk holds it" : "it is behind");
	else if (result == -1)
		log_warn("replication: peer %s did not answer for lock %s within %u ms; "
			 "taking it on this node alone", r->cfg->peer_name, path, 2 * r->cfg->sync_timeout_ms);
	else if (result == (int)WIRE_LOCK_REFUSED)
		log_warn("replication: peer %s refused lock %s; taking it on this node alone",
			 r->cfg->peer_name, path);
	if (rc == -EEXIST && result == (int)WIRE_LOCK_GRANTED)
		kick_sender(r);
	return rc;
alone:
	if (l) {
		pthread_mutex_lock(&l->mu);
		l->n_alone++;
		pthread_mutex_unlock(&l->mu);
	}
	return 0;
}

void repl_lock_give(struct repl *r, const char *path)
{
	struct rlocks *l = r ? r->locks : NULL;
	if (!l)
		return;
	uint64_t after = atomic_load(&l->journaled); /* the content flushed before it */
	pthread_mutex_lock(&l->mu);
	int i;
	for (i = 0; i < RL_MAX; i++)
		if (l->held[i] && strcmp(l->held[i], path) == 0)
			break;
	if (i == RL_MAX) {
		pthread_mutex_unlock(&l->mu);
		return; /* not one the peer holds for us */
	}
	struct rl_req *g = slot(l);
	if (g) {
		g->path = l->held[i];
		g->state = RQ_QUEUED;
		g->op = WIRE_LOCK_GIVE;
		g->id = l->next_id++;
		g->after_seq = after;
	} else {
		free(l->held[i]);
		log_warn("replication: too many lock requests queued; peer %s keeps %s until the "
			 "connection ends", r->cfg->peer_name, path);
	}
	l->held[i] = NULL;
	pthread_mutex_unlock(&l->mu);
	log_debug("dotlock: give %s after seq %" PRIu64, path, after);
	kick_sender(r);
}

int repl_lock_pump(struct repl *r, struct tls_conn *c, uint64_t sent_upto)
{
	struct rlocks *l = r->locks;
	if (!l)
		return 0;
	for (;;) {
		struct wire_lock m;
		char *path = NULL;
		pthread_mutex_lock(&l->mu);
		/* in the order they were asked for, so a GIVE and the next TAKE
		 * of the same lock arrive in that order */
		struct rl_req *q = NULL;
		for (int i = 0; i < RL_MAX; i++)
			if (l->req[i].state == RQ_QUEUED && (!q || l->req[i].id < q->id))
				q = &l->req[i];
		if (q && q->after_seq > sent_upto)
			q = NULL; /* the entries before it are not out yet */
		if (q) {
			m.id = q->id;
			m.op = q->op;
			path = strdup(q->path);
			if (q->op == WIRE_LOCK_GIVE)
				slot_free(q); /* no answer comes */
			else
				q->state = RQ_SENT;
		}
		pthread_mutex_unlock(&l->mu);
		if (!q)
			return 0;
		if (!path)
			return -ENOMEM;
		m.path = path;
		m.path_len = (uint16_t)strlen(path);
		int rc = wire_send(c, WIRE_LOCK, &m);
		free(path);
		if (rc < 0)
			return rc;
	}
}

void repl_lock_answer(struct repl *r, const struct wire_lock_resp *m)
{
	struct rlocks *l = r->locks;
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < RL_MAX; i++) {
		struct rl_req *q = &l->req[i];
		if (q->state == RQ_SENT && q->id == m->id) {
			q->result = m->result;
			q->state = RQ_DONE;
			pthread_cond_broadcast(&l->cv);
			break;
		}
	}
	pthread_mutex_unlock(&l->mu);
}

void repl_lock_out_down(struct repl *r)
{
	struct rlocks *l = r->locks;
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < RL_MAX; i++) {
		struct rl_req *q = &l->req[i];
		if (q->state == RQ_QUEUED || q->state == RQ_SENT) {
			if (q->op == WIRE_LOCK_TAKE) {
				q->result = -1;
				q->state = RQ_DONE;
			} else {
				slot_free(q); /* the peer drops its markers itself */
			}
		}
		/* the peer drops what it held for us when the connection ends */
		free(l->held[i]);
		l->held[i] = NULL;
	}
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* ---- the peer's side: markers held on the requester's behalf ---- */

/* Whether this node itself is waiting for the same lock (under l->mu). */
static int asking_too(struct rlocks *l, const char *path, size_t len)
{
	for (int i = 0; i < RL_MAX; i++) {
		struct rl_req *q = &l->req[i];
		if ((q->state == RQ_QUEUED || q->state == RQ_SENT) && q->op == WIRE_LOCK_TAKE &&
		    strlen(q->path) == len && memcmp(q->path, path, len) == 0)
			return 1;
	}
	return 0;
}

void repl_lock_journaled(struct repl *r, uint64_t seq)
{
	struct rlocks *l = r ? r->locks : NULL;
	if (!l)
		return;
	uint64_t cur = atomic_load(&l->journaled);
	while (seq > cur && !atomic_compare_exchange_weak(&l->journaled, &cur, seq)) {
	}
}

/* Wait until the peer acknowledged every entry journaled here so far, so
 * the lock's new holder reads this node's last version of the uidlist.
 * (Entries of earlier runs were acknowledged before the sender called
 * itself caught up; the journal's last_seq may be a floor no entry has.) */
static void barrier(struct repl *r)
{
	struct timespec dl;
	journal_flush(r->fs->journal);
	uint64_t want = atomic_load(&r->locks->journaled);
	deadline_in(&dl, r->cfg->sync_timeout_ms);
	pthread_mutex_lock(&r->lock);
	if (r->synced && r->acked < want)
		repl_want_ack_locked(r, want);
	while (!r->stop && r->synced && r->acked < want)
		if (pthread_cond_timedwait(&r->cond, &r->lock, &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&r->lock);
}

/* The directory of path (beneath the store, no symlinks), and the last
 * component in *name: an fd or -errno. */
static int open_dir_of(struct repl *r, const char *path, const char **name)
{
	char dir[WIRE_PATH_MAX + 1];
	const char *slash = strrchr(path, '/');
	*name = slash ? slash + 1 : path;
	if (!slash) {
		int fd = dup(r->fs->root_fd);
		return fd < 0 ? -errno : fd;
	}
	if ((size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return pathpat_open_beneath(r->fs->root_fd, dir, O_PATH | O_DIRECTORY);
}

/* Create the marker: 0, -EEXIST (held here), or another -errno. */
static int mark(struct repl *r, const char *path, struct rl_mark *out)
{
	char text[320];
	const char *name;
	int dfd = open_dir_of(r, path, &name);
	if (dfd < 0)
		return dfd;
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		int err = -errno;
		close(dfd);
		return err;
	}
	struct stat st, dst;
	int n = apply_dotlock_marker(text, sizeof(text));
	ssize_t w = n > 0 ? write(fd, text, (size_t)n) : -1;
	if (w != n) {
		/* A marker without its "pid:host" (a full disk) would lock the
		 * mailbox with nobody known to hold it: Dovecot and our applier
		 * would each wait for it to turn stale (two minutes), and every
		 * uidlist the peer sends would stall.  Not holding the lock here
		 * is better: the peer goes on alone, as in a split. */
		int err = w < 0 && n > 0 ? -errno : -ENOSPC;
		unlinkat(dfd, name, 0);
		close(fd);
		close(dfd);
		return err;
	}
	/* Dovecot (as the mailbox owner) may have to remove a stale one */
	if (fstat(dfd, &dst) == 0 && fchown(fd, dst.st_uid, dst.st_gid) < 0) {
		/* root-owned: Dovecot can still unlink it in its own directory */
	}
	int rc = fstat(fd, &st) < 0 ? -errno : 0;
	close(fd);
	close(dfd);
	if (rc == 0) {
		out->dev = st.st_dev;
		out->ino = st.st_ino;
	}
	return rc;
}

/* A lock here that no marker of ours is: a Dovecot of this node holds it,
 * or held it and died (killed, or aborted on a full disk).  Dovecot here
 * would override a stale one when it next wanted the lock; the peer's
 * Dovecot cannot (it sees no file), so a stale lock is removed here by
 * Dovecot's own rules, and the peer takes it.  Returns 1 when removed. */
static int remove_stale(struct repl *r, const char *path)
{
	const char *name;
	int dfd = open_dir_of(r, path, &name);
	if (dfd < 0)
		return 0;
	int stale = apply_dotlock_stale(dfd, name);
	int gone = stale && unlinkat(dfd, name, 0) == 0;
	close(dfd);
	if (gone) {
		log_notice("replication: removed a stale %s (%s) for peer %s to take", path,
			   apply_dotlock_why(stale), r->cfg->peer_name);
		repl_queue_inval(r, path);
	}
	return gone;
}

/* Remove a marker if it is still the file we created. */
static void unmark(struct repl *r, struct rl_mark *m)
{
	int fd = pathpat_open_beneath(r->fs->root_fd, m->path, O_PATH | O_NOFOLLOW);
	struct stat st;
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && st.st_dev == m->dev && st.st_ino == m->ino) {
			const char *name;
			int dfd = open_dir_of(r, m->path, &name);
			if (dfd >= 0) {
				unlinkat(dfd, name, 0);
				close(dfd);
			}
			log_debug("dotlock: peer gave %s back", m->path);
			repl_queue_inval(r, m->path);
		}
		close(fd);
	}
	free(m->path);
	memset(m, 0, sizeof(*m));
}

static int defer_grant(struct repl *r, uint64_t id);

static int answer(struct tls_conn *c, uint64_t id, uint8_t result)
{
	struct wire_lock_resp a = { .id = id, .result = result };
	return wire_send(c, WIRE_LOCK_RESP, &a);
}

int repl_lock_serve(struct repl *r, struct tls_conn *c, const struct wire_lock *m, uint16_t origin)
{
	struct rlocks *l = r->locks;
	char path[WIRE_PATH_MAX + 1];
	memcpy(path, m->path, m->path_len);
	path[m->path_len] = '\0';
	const char *slash = strrchr(path, '/');
	if (!l || !repl_lock_name(slash ? slash + 1 : path) || !pathpat_is_safe(path)) {
		log_warn("replication: peer %s asked for lock %s: not a lock we share; refused",
			 r->cfg->peer_name, path);
		return m->op == WIRE_LOCK_TAKE ? answer(c, m->id, WIRE_LOCK_REFUSED) : 0;
	}
	pthread_mutex_lock(&l->mu);
	if (m->op == WIRE_LOCK_GIVE) {
		for (int i = 0; i < RL_MAX; i++)
			if (l->mark[i].path && strcmp(l->mark[i].path, path) == 0) {
				unmark(r, &l->mark[i]);
				break;
			}
		pthread_mutex_unlock(&l->mu);
		return 0;
	}
	/* both nodes want it at once: the lower node id goes first */
	if (asking_too(l, path, m->path_len) && r->cfg->node_id < origin) {
		l->n_served++;
		pthread_mutex_unlock(&l->mu);
		return answer(c, m->id, WIRE_LOCK_BUSY);
	}
	int i;
	for (i = 0; i < RL_MAX && l->mark[i].path; i++)
		if (strcmp(l->mark[i].path, path) == 0)
			break;
	if (i < RL_MAX && l->mark[i].path) {
		/* held for the peer already: one of its processes has it */
		l->n_served++;
		pthread_mutex_unlock(&l->mu);
		return answer(c, m->id, WIRE_LOCK_BUSY);
	}
	if (i == RL_MAX) {
		pthread_mutex_unlock(&l->mu);
		return answer(c, m->id, WIRE_LOCK_BUSY);
	}
	struct rl_mark mk = { 0 };
	int rc = mark(r, path, &mk);
	if (rc == -EEXIST && remove_stale(r, path))
		rc = mark(r, path, &mk);
	uint8_t result = WIRE_LOCK_GRANTED;
	if (rc == -EEXIST) {
		result = WIRE_LOCK_BUSY;
	} else if (rc == -ENOENT) {
		/* no such mailbox here yet: nobody here can hold its lock */
	} else if (rc < 0) {
		/* a symlink on the way (ELOOP, EXDEV) or another failure:
		 * the peer goes on alone with it */
		result = WIRE_LOCK_REFUSED;
		log_warn("replication: cannot hold lock %s for peer %s: %s; refused", path,
			 r->cfg->peer_name, strerror(-rc));
	} else if (!(mk.path = strdup(path))) {
		unmark(r, &mk);
	} else {
		l->mark[i] = mk;
	}
	l->n_served++;
	pthread_mutex_unlock(&l->mu);
	log_debug("dotlock: peer takes %s: %s (%s)", path,
		  result == WIRE_LOCK_GRANTED ? "granted" : result == WIRE_LOCK_BUSY ? "busy" : "refused",
		  rc == 0 ? "marker" : strerror(-rc));
	if (result == WIRE_LOCK_GRANTED) {
		repl_queue_inval(r, path); /* a cached "no such file" here */
		if (defer_grant(r, m->id) == 0)
			return 0;
		barrier(r); /* no slot for a pending grant: wait here */
	}
	return answer(c, m->id, result);
}

/* Keep the grant of request id pending until the peer has acknowledged
 * what this node journaled so far (repl_lock_due answers it).  0, or -1
 * when every slot is taken. */
static int defer_grant(struct repl *r, uint64_t id)
{
	struct rlocks *l = r->locks;
	journal_flush(r->fs->journal);
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < RL_MAX; i++) {
		struct rl_grant *g = &l->grant[i];
		if (g->used)
			continue;
		g->used = 1;
		atomic_fetch_add(&l->n_grants, 1);
		g->id = id;
		g->want = atomic_load(&l->journaled);
		deadline_in(&g->deadline, r->cfg->sync_timeout_ms);
		uint64_t want = g->want;
		pthread_mutex_unlock(&l->mu);
		pthread_mutex_lock(&r->lock);
		if (r->synced && r->acked < want)
			repl_want_ack_locked(r, want);
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	pthread_mutex_unlock(&l->mu);
	return -1;
}

static int passed(const struct timespec *dl)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > dl->tv_sec || (now.tv_sec == dl->tv_sec && now.tv_nsec >= dl->tv_nsec);
}

int repl_lock_due(struct repl *r, struct tls_conn *c)
{
	struct rlocks *l = r->locks;
	if (!l || atomic_load(&l->n_grants) == 0)
		return 0;
	pthread_mutex_lock(&r->lock);
	int stop = r->stop, synced = r->synced;
	uint64_t acked = r->acked;
	pthread_mutex_unlock(&r->lock);
	int pending = 0;
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < RL_MAX; i++) {
		struct rl_grant *g = &l->grant[i];
		if (!g->used)
			continue;
		/* as barrier(): answered once acknowledged, or when waiting
		 * makes no sense (stopping, peer not caught up) or took too long */
		if (!stop && synced && acked < g->want && !passed(&g->deadline)) {
			pending++;
			continue;
		}
		uint64_t id = g->id;
		g->used = 0;
		atomic_fetch_sub(&l->n_grants, 1);
		pthread_mutex_unlock(&l->mu);
		if (answer(c, id, WIRE_LOCK_GRANTED) < 0)
			return -1;
		pthread_mutex_lock(&l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	return pending;
}

void repl_lock_in_down(struct repl *r)
{
	struct rlocks *l = r->locks;
	if (!l)
		return;
	int n = 0;
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < RL_MAX; i++) {
		if (l->mark[i].path) {
			unmark(r, &l->mark[i]);
			n++;
		}
		if (l->grant[i].used) { /* its connection is gone: no answer */
			l->grant[i].used = 0;
			atomic_fetch_sub(&l->n_grants, 1);
		}
	}
	pthread_mutex_unlock(&l->mu);
	if (n)
		log_notice("replication: peer %s gone: released %d lock(s) held for it", r->cfg->peer_name, n);
}

void repl_lock_stats(struct repl *r, struct repl_status *st)
{
	struct rlocks *l = r->locks;
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	st->locks_granted = l->n_granted;
	st->locks_busy = l->n_busy;
	st->locks_alone = l->n_alone;
	st->locks_served = l->n_served;
	pthread_mutex_unlock(&l->mu);
}
