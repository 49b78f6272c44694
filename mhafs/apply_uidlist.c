/* apply_uidlist.c: a peer's new dovecot-uidlist meets this node's.  When
 * both nodes changed a mailbox's uidlist since they last agreed (a split
 * brain, or deliveries on both sides at once), the two versions are merged
 * semantically (uidlist.c): common messages keep their UIDs, UIDVALIDITY
 * is kept, colliding UIDs are reassigned above both next-UIDs.  The merge
 * is symmetric, so both nodes reach the same file; a result that differs
 * from what the peer sent is journaled here as a local write and goes
 * back to it.  The file is replaced under Dovecot's own dotlock
 * (dovecot-uidlist.lock), so a Dovecot on this node never loses a write
 * of its own to ours. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include "apply.h"
#include "apply_int.h"
#include "hash.h"
#include "log.h"
#include "maildir_key.h"
#include "smallfile.h"
#include "uidlist.h"

#define UIDLIST_NAME "dovecot-uidlist"
#define UIDLIST_MAX (64u << 20)

int apply_is_uidlist(const char *path)
{
	const char *slash = strrchr(path, '/');
	return strcmp(slash ? slash + 1 : path, UIDLIST_NAME) == 0;
}

int apply_dotlock_marker(char *buf, size_t len)
{
	char host[256];
	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	int n = snprintf(buf, len, "%ld:%s", (long)getpid(), host);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* Whether the dotlock in pfd is a marker this mhafs holds for the peer:
 * the peer's Dovecot holds the lock, and its uidlist is what we apply.
 * Told by its content, this process's "pid:host", which the applier's own
 * lock also carries: it is never left behind by this process (taken and
 * given back within one apply, on this thread). */
static int held_for_peer(int pfd)
{
	char want[320], got[320];
	int n = apply_dotlock_marker(want, sizeof(want));
	int fd = openat(pfd, UIDLIST_NAME ".lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (n <= 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	ssize_t k = pread(fd, got, sizeof(got), 0);
	close(fd);
	return k == n && memcmp(got, want, (size_t)n) == 0;
}

/* Whether the dotlock name in pfd names a process of this host that is
 * gone (a Dovecot killed while it held the lock): Dovecot writes
 * "pid:host". */
static int holder_dead(int pfd, const char *name)
{
	char buf[320], host[256];
	int fd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n <= 0 || gethostname(host, sizeof(host)) < 0)
		return 0;
	buf[n] = '\0';
	host[sizeof(host) - 1] = '\0';
	char *colon = strchr(buf, ':'), *end;
	if (!colon)
		return 0;
	*colon = '\0';
	long pid = strtol(buf, &end, 10);
	if (*end != '\0' || pid <= 1)
		return 0;
	colon[1 + strcspn(colon + 1, "\r\n")] = '\0';
	return strcmp(colon + 1, host) == 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

int apply_dotlock_stale(int pfd, const char *name)
{
	struct stat st;
	if (holder_dead(pfd, name))
		return DOTLOCK_HOLDER_GONE;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && time(NULL) - st.st_mtime > DOTLOCK_STALE_SECS)
		return DOTLOCK_UNCHANGED;
	return 0;
}

static int64_t stat_mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Whether lock (its stat) is one this applier already waited for and
 * went on without; remember it when add. */
static int waited_before(struct applier *a, const struct stat *st, int add)
{
	for (unsigned i = 0; i < APPLY_WAITED_MAX; i++) {
		const struct dotlock_seen *w = &a->waited[i];
		if (w->ino == st->st_ino && w->dev == st->st_dev && w->mtime_ns == stat_mtime_ns(st) &&
		    w->size == st->st_size)
			return 1;
	}
	if (add) {
		struct dotlock_seen *w = &a->waited[a->n_waited++ % APPLY_WAITED_MAX];
		w->dev = st->st_dev;
		w->ino = st->st_ino;
		w->mtime_ns = stat_mtime_ns(st);
		w->size = st->st_size;
	}
	return 0;
}

/* Dovecot's dotlock: create dovecot-uidlist.lock exclusively, waiting up
 * to two seconds for a holder; a lock older than two minutes, or whose
 * holder on this host is gone, is stale (as Dovecot treats it).  A lock
 * waited for once and still unchanged is not waited for again: a holder
 * that died without writing its pid (Dovecot killed, or its mhafs) would
 * otherwise cost two seconds on every uidlist the peer sends until the
 * lock turns stale, and replication would fall minutes behind.  Returns
 * 1 when we hold it, 2 when it is held here for the peer whose uidlist we
 * apply, 0 when we go on without.  path names the uidlist, for the log. */
int apply_uidlist_lock(struct applier *a, int pfd, const char *path)
{
	struct stat st;
	for (int i = 0; i < 200; i++) {
		int fd = openat(pfd, UIDLIST_NAME ".lock", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			/* "pid:host", as Dovecot writes: if this mhafs dies
			 * holding it, Dovecot and the next applier see the
			 * holder gone at once instead of after two minutes */
			char text[320];
			int n = apply_dotlock_marker(text, sizeof(text));
			int ok = n > 0 && write(fd, text, (size_t)n) == n;
			close(fd);
			if (ok)
				return 1;
			unlinkat(pfd, UIDLIST_NAME ".lock", 0);
			return 0; /* a full disk: go on without, as when it is held */
		}
		if (errno != EEXIST)
			return 0;
		if (held_for_peer(pfd))
			return 2;
		int stale = apply_dotlock_stale(pfd, UIDLIST_NAME ".lock");
		if (stale) {
			log_notice("apply: removed a stale %s.lock (%s)", path, apply_dotlock_why(stale));
			unlinkat(pfd, UIDLIST_NAME ".lock", 0);
			continue;
		}
		if (fstatat(pfd, UIDLIST_NAME ".lock", &st, AT_SYMLINK_NOFOLLOW) == 0 && waited_before(a, &st, 0))
			return 0;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (fstatat(pfd, UIDLIST_NAME ".lock", &st, AT_SYMLINK_NOFOLLOW) == 0)
		waited_before(a, &st, 1);
	log_warn("apply: %s.lock held for 2 s; replacing the uidlist without it (and without waiting "
		 "again while that lock is unchanged)", path);
	return 0;
}

const char *apply_dotlock_why(int stale)
{
	return stale == DOTLOCK_HOLDER_GONE ? "its holder is gone" : "unchanged for two minutes";
}

void apply_uidlist_unlock(int pfd, int held)
{
	if (held == 1)
		unlinkat(pfd, UIDLIST_NAME ".lock", 0);
}

static char *read_all(int fd, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size > UIDLIST_MAX)
		return NULL;
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return NULL;
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* Whether the message base of the maildir holding the uidlist at path has
 * a file here: 1, 0, or -errno. */
static int message_here(int root_fd, const char *path, const char *base)
{
	char probe[4400], found[4400];
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) : 0;
	int n = snprintf(probe, sizeof(probe), "%.*s%scur/%s", dirlen, path, dirlen ? "/" : "", base);
	if (n < 0 || (size_t)n >= sizeof(probe))
		return -ENAMETOOLONG;
	return maildir_find_key(root_fd, probe, found, sizeof(found));
}

/* uidlist_uids_moved's test of a message of ours that lost its UID: is
 * its file in the maildir of the uidlist at path (or is that unknown)? */
struct here_arg {
	int root_fd;
	const char *path;
};

static int message_still_here(const char *base, void *arg)
{
	const struct here_arg *h = arg;
	return message_here(h->root_fd, h->path, base) != 0;
}

/* uidlist_drop_index's callback: the kernel's entry of each removed file
 * is invalidated (drop_dovecot_index). */
struct dropped_arg {
	struct applier *a;
	const char *path; /* the uidlist's */
	int n;
};

static void index_file_dropped(void *arg, const char *name)
{
	struct dropped_arg *d = arg;
	const char *slash = strrchr(d->path, '/');
	int dirlen = slash ? (int)(slash - d->path) : 0;
	char gone[4200];
	d->n++;
	if (!d->a->inval)
		return;
	int len = dirlen ? snprintf(gone, sizeof(gone), "%.*s/%s", dirlen, d->path, name)
			 : snprintf(gone, sizeof(gone), "%s", name);
	if (len > 0 && (size_t)len < sizeof(gone))
		d->a->inval(d->a->inval_arg, gone);
}

/* Dovecot's index of this mailbox knows messages by UIDs the merge has
 * changed: remove it (it is node-local) so Dovecot rebuilds it from the
 * uidlist and the files, and never serves one message's cached header
 * with another's body.  Clients see the old UIDs expunged and new ones.
 * The files go underneath the kernel, whose dentries for them would still
 * lead a Dovecot to the removed files (mhafs keeps a handle on every inode
 * the kernel knows): each removal is invalidated in the kernel too.
 * uidlist_drop_index raises the node's index drop mark around the removal;
 * a mark that cannot be raised does not keep the stale index (it is
 * logged, as a file that cannot be removed is). */
static void drop_dovecot_index(struct applier *a, int pfd, const char *path)
{
	struct dropped_arg d = { a, path, 0 };
	int rc = uidlist_drop_index(pfd, a->mark_fd, 0, index_file_dropped, &d);
	if (rc < 0)
		log_err("apply: %s: removing Dovecot's index: %s; a file of it may be left, or the "
			"index drop mark (%s) not raised, so the MODSEQ floor not raised again for it",
			path, strerror(-rc), SMALLFILE_DROP_MARK);
	if (d.n)
		log_notice("apply: %s: UIDs of this node's messages changed in the merge; "
			   "removed Dovecot's index so it is rebuilt", path);
}

int apply_uidlist_merge(struct applier *a, struct jentry *e, struct staged *s, int pfd,
			const char *name)
{
	hlc_t lh = 0;
	uint16_t lo = 0;
	size_t llen = 0, ilen = 0;
	char err[256];
	int rc = UIDLIST_INSTALL;

	int lfd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (lfd < 0)
		return UIDLIST_INSTALL; /* nothing here yet */
	/* unchanged here since the peer's last version: theirs simply follows */
	if (a->local_hlc && a->local_hlc(a->hlc_arg, e->path, &lh, &lo) == 0 && lo == e->origin) {
		close(lfd);
		return UIDLIST_INSTALL;
	}
	char *local = read_all(lfd, &llen), *theirs = read_all(s->fd, &ilen);
	close(lfd);
	struct uidlist ul, ut, um;
	memset(&ul, 0, sizeof(ul));
	memset(&ut, 0, sizeof(ut));
	memset(&um, 0, sizeof(um));
	int theirs_newer = e->hlc > lh || (e->hlc == lh && e->origin > lo);
	if (!local || !theirs || uidlist_parse(local, llen, &ul, err, sizeof(err)) < 0 ||
	    uidlist_parse(theirs, ilen, &ut, err, sizeof(err)) < 0) {
		/* not a uidlist we understand: whole-file last writer wins */
		log_warn("apply: %s: cannot merge (%s); the newer version wins", e->path,
			 local && theirs ? err : "unreadable");
		rc = theirs_newer ? UIDLIST_INSTALL : UIDLIST_KEEP_OURS;
		goto out;
	}
	if (llen == ilen && memcmp(local, theirs, llen) == 0)
		goto out; /* the same file: install is a no-op */
	struct uidlist_stats st;
	char *merged = NULL;
	size_t mlen = 0;
	if (uidlist_merge(&ul, &ut, theirs_newer, NULL, NULL, &um, &st) < 0 ||
	    uidlist_format(&um, &merged, &mlen) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	struct here_arg here = { a->root_fd, e->path };
	if (uidlist_uids_moved(&ul, &um, message_still_here, &here))
		drop_dovecot_index(a, pfd, e->path);
	/* the merge rewrites the header's next UID: a result that means what
	 * one side's file means is that file, not a new version (which, sent
	 * back, would land after any rename of the folder the peer made since
	 * and bring the old folder back there) */
	int same_ours = uidlist_same(&um, &ul), same_theirs = uidlist_same(&um, &ut);
	if (mlen == llen && memcmp(merged, local, mlen) == 0) {
		rc = UIDLIST_KEEP_OURS; /* ours already holds theirs */
	} else if (mlen == ilen && memcmp(merged, theirs, mlen) == 0) {
		rc = UIDLIST_INSTALL; /* theirs already holds ours */
	} else if (same_theirs && (theirs_newer || !same_ours)) {
		rc = UIDLIST_INSTALL;
	} else if (same_ours) {
		rc = UIDLIST_KEEP_OURS;
	} else {
		/* a new version: it replaces the staged content */
		if (ftruncate(s->fd, 0) < 0 || pwrite(s->fd, merged, mlen, 0) != (ssize_t)mlen) {
			rc = -errno;
		} else {
			uint64_t size;
			hash_fd(s->fd, &e->hash, &size);
			e->st.st_size = (off_t)size;
			rc = UIDLIST_MERGED;
		}
	}
	if (rc != UIDLIST_INSTALL || st.collisions || st.uidvalidity_conflict)
		log_notice("apply: %s: merged this node's uidlist with node %u's: %zu common, %zu only "
			   "here, %zu only there, %zu UID collisions (%zu reassigned)%s",
			   e->path, e->origin, st.common, st.only_a, st.only_b, st.collisions,
			   st.reassigned, st.uidvalidity_conflict ? ", UIDVALIDITY differed (newer kept)" : "");
	a->n_uidlist_merges++;
	free(merged);
out:
	uidlist_free(&ul);
	uidlist_free(&ut);
	uidlist_free(&um);
	free(local);
	free(theirs);
	return rc;
}
