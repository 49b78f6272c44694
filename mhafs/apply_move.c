/* apply_move.c: a Maildir message removed from the same folder on both
 * nodes while they were apart.  Each removal is a move (the unlink that
 * follows the copy into another folder; its entry names where the message
 * went) or an expunge (no destination).  A message is one value keyed by
 * its base name (DESIGN decision 3), so when the peer's removal of a
 * message meets this node's own removal of it from the same folder, one of
 * the two decides where it lives, or that it is gone: an expunge wins over
 * a move, as it does over a flag change (apply.h), and of two moves the
 * later (HLC, node id breaking ties) wins.  The two were concurrent (a node
 * that had seen one could not make the other), so this depends on no
 * clock but for two moves.  The loser's destination copy is removed here,
 * unless both moved it into one folder under one name (apply.c keeps one
 * file per base name there).  The node on the other side meets the same
 * pair the other way round and removes the same copy, so both converge.
 * A copy is never removed on the strength of a winning move unless the
 * winner's copy is here.  A move's destination may have another base name than the source
 * (Dovecot copies rather than links when it must, or finds the name taken
 * in the target): copies are found by the destination's own name. */
#define _GNU_SOURCE
#include "apply_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flagmerge.h"
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

/* Whether two message paths name one message in one folder (flags
 * aside). */
static int same_message(const char *p, const char *q)
{
	size_t pl, ql, pbl, qbl;
	const char *pb, *qb;
	return maildir_split(p, &pl, &pb, &pbl) && maildir_split(q, &ql, &qb, &qbl) && pl == ql &&
	       memcmp(p, q, pl) == 0 && pbl == qbl && memcmp(pb, qb, pbl) == 0;
}

int apply_removals_meet(struct applier *a, struct jentry *e)
{
	hlc_t rh = 0;
	uint16_t ro = 0;
	int odeleted = 0;
	char rdest[PATH_MAX];

	if (!a->removal || !maildir_is_message(e->path))
		return 0;
	/* the walk re-stating a tombstone (which may be an echo of this node's
	 * own change, found through a stale catalog row) is no concurrent
	 * removal by a user: taking it for an expunge lost moved messages */
	if (e->flags & JOP_UNLINK_RESTATED)
		return 0;
	int rc = a->removal(a->hlc_arg, e->path, &rh, &ro, rdest, sizeof(rdest), &odeleted);
	if (rc <= 0 || ro == e->origin)
		return rc; /* no removal of ours from this folder to meet */
	const char *tdest = e->path2 && *e->path2 ? e->path2 : NULL, *odest = *rdest ? rdest : NULL;
	if (!tdest && !odest)
		return 0; /* removed on both nodes, neither a known move */
	int theirs_win;
	if (tdest && odest) {
		/* of two moves the later wins */
		theirs_win = e->hlc > rh || (e->hlc == rh && e->origin > ro);
	} else if (!tdest ? mflags_deleted(e->path) : odeleted) {
		theirs_win = !tdest; /* an expunge wins over a move */
	} else {
		/* a removal of unknown kind (a move whose copy its node did not
		 * see arrive, or an expunge without \Deleted): the move's copy
		 * is kept, so nothing is lost whichever it was */
		log_notice("conflict: %s of %s from node %u meets this node's %s; the copy in %s is kept: "
			   "the removal is not known to be an expunge",
			   tdest ? "move" : "removal", e->path, e->origin, tdest ? "removal" : "move",
			   tdest ? tdest : odest);
		return 0;
	}
	const char *wdest = theirs_win ? tdest : odest, *ldest = theirs_win ? odest : tdest;
	unsigned winner = theirs_win ? e->origin : ro;
	char why[PATH_MAX + 80];
	if (wdest) {
		if (same_message(wdest, ldest))
			return 0; /* both moved it to one folder under its name: one file there */
		char probe[PATH_MAX];
		if (maildir_find_key(a->root_fd, wdest, probe, sizeof(probe)) != 1) {
			log_notice("conflict: move of %s from node %u meets this node's move; the copy in %s "
				   "is kept: the later move's copy (%s) is not here", e->path, e->origin, ldest,
				   wdest);
			return 0;
		}
		snprintf(why, sizeof(why), "node %u's later move put it in %s", winner, wdest);
	} else {
		snprintf(why, sizeof(why), "node %u expunged it: an expunge wins over a move", winner);
	}
	rc = apply_remove_version(a, e, ldest, why);
	if (rc > 0) {
		/* recorded as this removal of the loser's copy, not as a move */
		e->path2 = NULL;
		a->n_removals_met++;
	}
	return rc;
}
