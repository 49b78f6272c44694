/* apply_move.c: a Maildir message removed from the same folder on both
 * nodes while they were apart.  Each removal is a move (the unlink that
 * follows the copy into another folder; its entry names where the message
 * went) or an expunge (no destination).  A message is one value keyed by
 * its base name (DESIGN decision 3): the later removal (HLC, node id
 * breaking ties) says where it lives, or that it is gone.  So when the
 * peer's removal of a message meets this node's own removal of it from the
 * same folder, the loser's destination copy is removed here, unless the
 * loser was an expunge (nothing went anywhere) or both moved it into the
 * same folder (apply.c keeps one file per base name there).  The node on
 * the other side meets the same pair the other way round and removes the
 * same copy, so both converge: the message lives only in the winner's
 * folder, or nowhere after a later expunge.  A copy is never removed on
 * the strength of a winning move unless the winner's copy is here. */
#define _GNU_SOURCE
#include "apply_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "maildir_key.h"

int apply_remove_version(struct applier *a, struct jentry *e, const char *probe, const char *why)
{
	char local[PATH_MAX];
	const char *lname;
	int rc = maildir_find_key(a->root_fd, probe, local, sizeof(local));
	if (rc <= 0)
		return rc;
	int lpfd = apply_open_parent(a, local, &lname, 0);
	if (lpfd < 0)
		return lpfd == -ENOENT ? 0 : lpfd;
	if (unlinkat(lpfd, lname, 0) < 0) {
		rc = errno == ENOENT ? 0 : -errno;
	} else {
		log_notice("conflict: %s of %s from node %u removes this node's copy %s (%s)",
			   e->path2 ? "move" : "expunge", e->path, e->origin, local, why);
		snprintf(a->redirect, sizeof(a->redirect), "%s", local);
		e->path = a->redirect;
		rc = apply_fsync_dir(a, lpfd);
		rc = rc < 0 ? rc : 1;
	}
	close(lpfd);
	return rc;
}

/* Whether two message paths are in the same folder. */
static int same_folder(const char *p, const char *q)
{
	size_t pl, ql, bl;
	const char *b;
	return maildir_split(p, &pl, &b, &bl) && maildir_split(q, &ql, &b, &bl) && pl == ql &&
	       memcmp(p, q, pl) == 0;
}

int apply_removals_meet(struct applier *a, struct jentry *e)
{
	hlc_t rh = 0;
	uint16_t ro = 0;
	char rdest[PATH_MAX];

	if (!a->removal || !maildir_is_message(e->path))
		return 0;
	int rc = a->removal(a->hlc_arg, e->path, &rh, &ro, rdest, sizeof(rdest));
	if (rc <= 0 || ro == e->origin)
		return rc; /* no removal of ours from this folder to meet */
	int theirs_later = e->hlc > rh || (e->hlc == rh && e->origin > ro);
	const char *wdest = theirs_later ? e->path2 : rdest;
	const char *ldest = theirs_later ? rdest : e->path2;
	if (!ldest || !*ldest)
		return 0; /* the earlier removal was an expunge: nothing went anywhere */
	if (wdest && *wdest) {
		if (same_folder(wdest, ldest))
			return 0; /* both moved it to one folder: one file there already */
		char probe[PATH_MAX];
		if (maildir_find_key(a->root_fd, wdest, probe, sizeof(probe)) != 1) {
			log_notice("conflict: %s of %s from node %u meets this node's own; the copy in %s "
				   "is kept: the later move's copy (%s) is not here", e->path2 ? "move" : "expunge",
				   e->path, e->origin, ldest, wdest);
			return 0;
		}
	}
	char why[PATH_MAX + 80];
	unsigned winner = theirs_later ? e->origin : ro;
	if (wdest && *wdest)
		snprintf(why, sizeof(why), "node %u's later move put it in %s", winner, wdest);
	else
		snprintf(why, sizeof(why), "node %u's later removal left no copy under this base name (an expunge)", winner);
	rc = apply_remove_version(a, e, ldest, why);
	if (rc > 0)
		a->n_removals_met++;
	return rc;
}
