/* journal_async.c: the journal's writer thread (group commit).  Callers
 * of journal_record get their seq and HLC at once and their entry queued;
 * the writer commits everything queued in one transaction, so concurrent
 * operations share the cost of a commit and a single-threaded stream of
 * operations is not slowed by it.  See journal.h for the durability
 * argument.  The queue is bounded: a writer that falls behind slows the
 * callers down instead of growing memory.  The last committed entries
 * stay in memory for the replication sender, which would otherwise read
 * each of them back from the database (journal_committed_next). */
#include <errno.h>
#include <time.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "journal_int.h"
#include "journal_repl.h"
#include "mtree.h"
#include "log.h"

#define QUEUE_MAX 8192      /* callers wait above this many queued entries */
#define BATCH_MAX 2048      /* entries per transaction */
#define MTREE_SYNC_MS 1000  /* digest-tree deltas wait at most this long */
#define RING_MAX 1024       /* committed entries kept for the sender */

struct jq_item {
	struct jq_item *next;
	struct jentry e;        /* strings point into text[] */
	char text[];
};

static char *copy_str(char **pos, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *out = *pos;
	memcpy(out, s, n);
	*pos += n;
	return out;
}

int journal_enqueue(struct journal *j, struct jentry *e)
{
	const char *bad = jentry_invalid(e, 0);
	if (bad) {
		log_err("journal: rejected %s entry for '%s': %s", jop_name(e->op),
			e->path ? e->path : "(null)", bad);
		return -EINVAL;
	}
	size_t n = strlen(e->path) + 1 + (e->path2 ? strlen(e->path2) + 1 : 0) +
		   (e->xname ? strlen(e->xname) + 1 : 0);
	struct jq_item *it = malloc(sizeof(*it) + n);
	if (!it)
		return -ENOMEM;
	pthread_mutex_lock(&j->qlock);
	while (j->qlen >= QUEUE_MAX && !j->qstop)
		pthread_cond_wait(&j->qdone, &j->qlock);
	if (j->qstop) {
		pthread_mutex_unlock(&j->qlock);
		free(it);
		return -ESHUTDOWN;
	}
	e->origin = j->node;
	e->seq = ++j->qseq;
	e->hlc = j->clock ? hlc_now(j->clock) : 0;
	it->e = *e;
	char *pos = it->text;
	it->e.path = copy_str(&pos, e->path);
	it->e.path2 = copy_str(&pos, e->path2);
	it->e.xname = copy_str(&pos, e->xname);
	it->next = NULL;
	if (j->qtail)
		j->qtail->next = it;
	else
		j->qhead = it;
	j->qtail = it;
	j->qlen++;
	pthread_cond_signal(&j->qcond);
	pthread_mutex_unlock(&j->qlock);
	return 0;
}

/* Write the items from..(n of them) in one transaction.  SQLite rc. */
static int write_batch(struct journal *j, struct jq_item *from, size_t n)
{
	int rc;
	pthread_mutex_lock(&j->lock);
	if ((rc = jexec(j, S_BEGIN)) == SQLITE_OK) {
		struct jq_item *it = from;
		/* the batch's digest-tree deltas are merged and written once */
		j->mt_defer = 1;
		for (size_t i = 0; i < n && rc == SQLITE_OK; i++, it = it->next)
			rc = journal_write_entry(j, &it->e);
		j->mt_defer = 0;
		rc = rc == SQLITE_OK ? mtree_txn_end(j) : rc;
		rc = rc == SQLITE_OK ? jexec(j, S_COMMIT) : rc;
		if (rc != SQLITE_OK)
			jexec(j, S_ROLLBACK);
		mtree_txn_done(j, rc == SQLITE_OK);
	}
	if (rc == SQLITE_OK) {
		struct jq_item *it = from;
		for (size_t i = 0; i < n; i++, it = it->next) {
			j->seq = it->e.seq;
			if (it->e.hlc > j->last_hlc)
				j->last_hlc = it->e.hlc;
		}
		if (j->failing) {
			log_notice("journal: recording works again (seq %" PRIu64 ")", j->seq);
			j->failing = 0;
		}
	}
	pthread_mutex_unlock(&j->lock);
	return rc;
}

/* Commit a batch; on a full disk ask for room once; if it still fails,
 * write the entries one by one so only those that cannot be written are
 * lost, and report the failure.  1 if the batch was written whole. */
static int commit_batch(struct journal *j, struct jq_item *list, size_t n)
{
	int rc = write_batch(j, list, n);
	if ((rc & 0xff) == SQLITE_FULL && j->hooks.full && j->hooks.full(j->hooks.arg))
		rc = write_batch(j, list, n);
	if (rc == SQLITE_OK)
		return 1;
	size_t lost = 0;
	struct jq_item *it = list;
	for (size_t i = 0; i < n; i++, it = it->next)
		if (write_batch(j, it, 1) != SQLITE_OK)
			lost++;
	if (lost) {
		pthread_mutex_lock(&j->lock);
		if (!j->failing)
			log_err("journal: %zu entries could not be written (%s); the next start runs the "
				"full check", lost, sqlite3_errstr(rc));
		j->failing = 1;
		pthread_mutex_unlock(&j->lock);
		if (j->hooks.failed)
			j->hooks.failed(j->hooks.arg);
	}
	return 0;
}

/* Under rlock: empty the ring. */
static void ring_clear(struct journal *j)
{
	for (size_t i = 0; i < j->rlen; i++)
		free(j->ring[(j->rstart + i) % j->rcap]);
	j->rstart = j->rlen = 0;
}

/* Keep the committed batch list (ending at seq top) for the
 * sender, or only its end (top) when it was not written whole: then the
 * sender reads those entries from the database.  Frees what it does not
 * keep. */
static void ring_keep(struct journal *j, struct jq_item *list, int whole, uint64_t top)
{
	pthread_mutex_lock(&j->rlock);
	if (!whole || !j->ring || (j->rlen && list->e.seq != j->rfirst + j->rlen))
		ring_clear(j);
	while (list && whole && j->ring) {
		struct jq_item *next = list->next;
		if (j->rlen == j->rcap) {
			free(j->ring[j->rstart]);
			j->rstart = (j->rstart + 1) % j->rcap;
			j->rlen--;
			j->rfirst++;
		}
		if (!j->rlen)
			j->rfirst = list->e.seq;
		j->ring[(j->rstart + j->rlen++) % j->rcap] = list;
		list = next;
	}
	j->rtop = top;
	pthread_mutex_unlock(&j->rlock);
	while (list) {
		struct jq_item *next = list->next;
		free(list);
		list = next;
	}
}

int journal_committed_next(struct journal *j, uint64_t after, struct jentry *e, char *strbuf, size_t strcap)
{
	int rc = -1;
	pthread_mutex_lock(&j->rlock);
	if (j->rlive && after >= j->rtop) {
		rc = 0;
	} else if (j->rlive && j->rlen && after >= j->rfirst - 1 && after - (j->rfirst - 1) < j->rlen) {
		const struct jentry *in = &j->ring[(j->rstart + (after + 1 - j->rfirst)) % j->rcap]->e;
		rc = jentry_as_stored(in, e, strbuf, strcap) ? 1 : -1;
	}
	pthread_mutex_unlock(&j->rlock);
	return rc;
}

/* Write the digest-tree deltas that have waited MTREE_SYNC_MS (mtree.h). */
static void sync_digests(struct journal *j)
{
	pthread_mutex_lock(&j->lock);
	if (mtree_sync_due(j, MTREE_SYNC_MS)) {
		int rc = mtree_sync(j);
		if (rc != SQLITE_OK)
			log_err("journal: cannot write the digest tree: %s (tried again)", sqlite3_errstr(rc));
	}
	pthread_mutex_unlock(&j->lock);
}

static void *writer_main(void *arg)
{
	struct journal *j = arg;
	pthread_mutex_lock(&j->qlock);
	for (;;) {
		while (!j->qhead && !j->qstop) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			if (pthread_cond_timedwait(&j->qcond, &j->qlock, &until) == ETIMEDOUT) {
				pthread_mutex_unlock(&j->qlock);
				sync_digests(j); /* also those of entries applied from the peer */
				pthread_mutex_lock(&j->qlock);
			}
		}
		if (!j->qhead)
			break; /* stopping and drained */
		struct jq_item *list = j->qhead, *last = list;
		size_t n = 1;
		while (last->next && n < BATCH_MAX) {
			last = last->next;
			n++;
		}
		j->qhead = last->next;
		if (!j->qhead)
			j->qtail = NULL;
		j->qlen -= n;
		last->next = NULL;
		pthread_mutex_unlock(&j->qlock);

		int whole = commit_batch(j, list, n);
		uint64_t top = last->e.seq;
		ring_keep(j, list, whole, top);
		pthread_mutex_lock(&j->qlock);
		j->committed = top;
		pthread_cond_broadcast(&j->qdone);
		pthread_mutex_unlock(&j->qlock);
		pthread_mutex_lock(&j->hlock);
		if (j->hooks.committed)
			j->hooks.committed(j->hooks.arg, top);
		pthread_mutex_unlock(&j->hlock);
		sync_digests(j); /* after the waiters are released */
		pthread_mutex_lock(&j->qlock);
	}
	pthread_mutex_unlock(&j->qlock);
	return NULL;
}

int journal_start_writer(struct journal *j, const struct journal_hooks *hooks)
{
	if (j->async)
		return 0;
	if (hooks)
		j->hooks = *hooks;
	pthread_mutex_lock(&j->lock);
	j->qseq = j->committed = j->seq;
	pthread_mutex_unlock(&j->lock);
	pthread_mutex_lock(&j->rlock);
	if (!j->ring && (j->ring = calloc(RING_MAX, sizeof(*j->ring))))
		j->rcap = RING_MAX;
	j->rtop = j->committed; /* from now on only the writer adds to the journal */
	j->rlive = 1;
	pthread_mutex_unlock(&j->rlock);
	if (pthread_create(&j->writer, NULL, writer_main, j) != 0) {
		pthread_mutex_lock(&j->rlock);
		j->rlive = 0;
		pthread_mutex_unlock(&j->rlock);
		return -EAGAIN;
	}
	j->async = 1;
	return 0;
}

void journal_flush(struct journal *j)
{
	if (!j->async)
		return;
	pthread_mutex_lock(&j->qlock);
	uint64_t target = j->qseq;
	while (j->committed < target && (j->qhead || !j->qstop))
		pthread_cond_wait(&j->qdone, &j->qlock);
	pthread_mutex_unlock(&j->qlock);
}

void journal_hooks_off(struct journal *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->hlock);
	j->hooks.committed = NULL;
	pthread_mutex_unlock(&j->hlock);
}

void journal_stop_writer(struct journal *j)
{
	if (!j->async)
		return;
	pthread_mutex_lock(&j->qlock);
	j->qstop = 1;
	pthread_cond_broadcast(&j->qcond);
	pthread_cond_broadcast(&j->qdone);
	pthread_mutex_unlock(&j->qlock);
	pthread_join(j->writer, NULL);
	j->async = 0;
	pthread_mutex_lock(&j->rlock);
	j->rlive = 0;
	ring_clear(j);
	free(j->ring);
	j->ring = NULL;
	j->rcap = 0;
	pthread_mutex_unlock(&j->rlock);
}
