/* apply_flags.c: a peer's change of a Maildir message's flags (a rename
 * within one maildir that keeps the base name), merged flag by flag with
 * this node's version of the message (flagmerge.h).  The two nodes may
 * have changed other flags of it, or the same ones, while apart: each flag
 * takes its latest change, so both keep "+\Seen" from one and "+\Flagged"
 * from the other.  The peer makes the same merge when it meets this node's
 * changes, so both converge without this node journaling its result. */
#define _GNU_SOURCE
#include "apply_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flagmerge.h"
#include "log.h"
#include "maildir_key.h"

/* The flags of src and dst when e renames a message within its maildir
 * (base name kept): 1, else 0. */
static int flag_rename(const struct jentry *e, uint64_t *src, uint64_t *dst)
{
	size_t fl1, bl1, fl2, bl2;
	const char *b1, *b2;
	if (e->op != JOP_RENAME || !e->path2 || (e->flags & JOP_RENAME_EXCHANGE) ||
	    !maildir_split(e->path, &fl1, &b1, &bl1) || !maildir_split(e->path2, &fl2, &b2, &bl2))
		return 0;
	return fl1 == fl2 && bl1 == bl2 && memcmp(e->path, e->path2, fl1) == 0 &&
	       memcmp(b1, b2, bl1) == 0 && mflags_parse(b1, src) && mflags_parse(b2, dst);
}

/* "<maildir>/cur/<name with flags>": cur/ when either version is there
 * (Dovecot only moves messages from new/ to cur/). */
static int target_path(const char *local, const char *dst, uint64_t flags, char *out, size_t outlen)
{
	const char *ln = strrchr(local, '/') + 1, *dn = strrchr(dst, '/') + 1;
	int cur = strncmp(ln - 4, "cur", 3) == 0 || strncmp(dn - 4, "cur", 3) == 0;
	size_t dirlen = (size_t)(ln - 4 - local); /* the maildir and its '/' */
	char name[NAME_MAX + 1];
	if (mflags_name(ln, flags, name, sizeof(name)) < 0)
		return -ENAMETOOLONG;
	int n = snprintf(out, outlen, "%.*s%s/%s", (int)dirlen, local, cur ? "cur" : "new", name);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

void apply_record_rename(struct applier *a, struct jentry *e, const char *from, const char *to)
{
	snprintf(a->redirect2, sizeof(a->redirect2), "%s", to); /* to may be e->path */
	snprintf(a->redirect, sizeof(a->redirect), "%s", from);
	e->path = a->redirect;
	e->path2 = a->redirect2;
	e->op = JOP_RENAME;
	e->flags = 0;
	a->entry_changed = 1;
}

int apply_move_here(struct applier *a, const char *from, const char *to)
{
	const char *fname, *tname;
	int fpfd = apply_open_parent(a, from, &fname, 0), rc;
	if (fpfd < 0)
		return fpfd;
	int tpfd = apply_open_parent(a, to, &tname, 1);
	if (tpfd < 0) {
		close(fpfd);
		return tpfd;
	}
	rc = renameat(fpfd, fname, tpfd, tname) < 0 ? -errno : 0;
	if (rc == 0)
		rc = apply_fsync_dir(a, tpfd);
	if (rc == 0 && strcmp(from, to) != 0)
		rc = apply_fsync_dir(a, fpfd);
	close(fpfd);
	close(tpfd);
	return rc;
}

/* This node's version of a message (local): its flags' stamps and its own
 * last change, from the catalog. */
static int our_side(struct applier *a, const char *local, struct fregs *regs, struct fstamp *mine)
{
	hlc_t lh = 0;
	uint16_t lo = 0;
	int rc = a->flag_regs(a->hlc_arg, local, regs);
	*mine = (struct fstamp){ 0, 0 };
	if (a->local_hlc && a->local_hlc(a->hlc_arg, local, &lh, &lo) == 0)
		*mine = (struct fstamp){ lh, lo };
	return rc < 0 ? rc : 0;
}

int apply_flags_content(struct applier *a, const struct jentry *e, const char *local, char *target,
			size_t len)
{
	size_t fl1, bl1, fl2, bl2;
	const char *b1, *b2;
	uint64_t here, theirs;
	if (!a->flag_regs || !maildir_split(e->path, &fl1, &b1, &bl1) ||
	    !maildir_split(local, &fl2, &b2, &bl2) || fl1 != fl2 || memcmp(e->path, local, fl1) != 0 ||
	    !mflags_parse(b1, &theirs) || !mflags_parse(b2, &here))
		return 0;
	/* the peer's version says nothing of when each flag changed: each
	 * flag where the two differ counts as changed at the version's own
	 * stamp, and so does each such flag here that has no stamp of its
	 * own; one stamped here later still wins */
	struct fregs peer, regs;
	struct fstamp s = { e->hlc, e->origin }, mine;
	memset(&peer, 0, sizeof(peer));
	fregs_note(&peer, here, theirs, &s);
	int rc = our_side(a, local, &regs, &mine);
	if (rc < 0)
		return rc;
	fregs_note(&regs, 0, (here ^ theirs) & ~regs.known, &mine);
	struct fside ours = { here, &regs, mine }, peers = { theirs, &peer, s };
	rc = target_path(local, e->path, merge_flags(&ours, &peers), target, len);
	return rc < 0 ? rc : 1;
}

int apply_flag_change(struct applier *a, struct jentry *e, int pfd, const char *name, int *skipped)
{
	uint64_t src, dst, here;
	char local[PATH_MAX];
	struct stat st;

	if (!a->flag_regs || !flag_rename(e, &src, &dst))
		return 0;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		snprintf(local, sizeof(local), "%s", e->path);
	} else {
		int found = maildir_find_key(a->root_fd, e->path, local, sizeof(local));
		if (found < 0)
			return found;
		if (found == 0 || strcmp(local, e->path2) == 0)
			return 0; /* expunged here, or done here already: apply.c's rules */
	}
	if (!mflags_parse(strrchr(local, '/') + 1, &here))
		return 0; /* not a "2," name here: last writer wins as before */

	/* the peer's change stamps the flags it changed, and only those */
	struct fregs regs;
	struct fstamp theirs = { e->hlc, e->origin }, mine;
	char target[PATH_MAX];
	int rc = our_side(a, local, &regs, &mine);
	if (rc < 0)
		return rc;
	uint64_t merged = merge_flags_change(here, &regs, &mine, src, dst, &theirs);
	if ((rc = target_path(local, e->path2, merged, target, sizeof(target))) < 0)
		return rc;
	if (strcmp(target, local) == 0) {
		log_notice("conflict: flags %s -> %s from node %u: this node's %s holds the later "
			   "change of every flag they touch: kept", e->path, e->path2, e->origin, local);
		a->n_local_newer++;
		*skipped = 1;
		return 1;
	}
	if ((rc = apply_move_here(a, local, target)) < 0)
		return rc;
	if (strcmp(local, e->path) != 0 || strcmp(target, e->path2) != 0) {
		log_notice("conflict: flags %s -> %s from node %u merged flag by flag with this node's "
			   "%s: now %s", e->path, e->path2, e->origin, local, target);
		a->n_flags_merged++;
		apply_record_rename(a, e, local, target);
	}
	return 1;
}
